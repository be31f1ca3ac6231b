"""QtCore services: the engine host and chat turns. No widgets here."""
