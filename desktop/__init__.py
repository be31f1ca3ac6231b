"""Llamaside: private local chat with Llama models, cloud models side by side when asked for."""

__version__ = "0.1.0"
APP_NAME = "Llamaside"
