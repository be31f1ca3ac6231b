"""Adapters to the world outside the process (engine child, model files); no Qt here."""
