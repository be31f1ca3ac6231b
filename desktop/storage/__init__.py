"""Where Llamaside keeps its files, and the SQLite history."""
