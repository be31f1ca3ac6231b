"""Plain-Python domain layer: no Qt, no I/O. Everything above builds on these types."""
