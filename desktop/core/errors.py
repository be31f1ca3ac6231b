"""Errors with messages written for the user: every layer raises these, the UI shows str(e)."""

from __future__ import annotations


class LlamasideError(Exception):
    """Base class; str(error) is a complete sentence fit for a dialog or a CLI line."""


class InvalidParameter(LlamasideError, ValueError):
    """A setting outside what the engine or the app accepts; the message names it."""

    pass


class ModelNotFound(LlamasideError):
    """No model by that id or path."""

    pass


class ModelLoadError(LlamasideError):
    """A model file llama.cpp cannot load; the message names the file and the reason."""

    pass


class ContextOverflow(LlamasideError):
    """The prompt does not fit. ``conversation`` is True when the new message alone would fit
    and it is the earlier turns that fill the context."""

    def __init__(self, n_tokens: int, limit: int, conversation: bool = False) -> None:
        self.n_tokens = n_tokens
        self.limit = limit
        self.conversation = conversation
        if conversation:
            text = (
                f"This conversation is too long for this model's context ({n_tokens} tokens, "
                f"limit {limit}). Start a new chat, or load the model with a larger context."
            )
        else:
            text = (
                f"The message is too long for this model's context ({n_tokens} tokens, "
                f"limit {limit}). Shorten it, or load the model with a larger context."
            )
        super().__init__(text)


class TemplateError(LlamasideError):
    """The model's chat template failed or refused the conversation."""

    pass


class ImageInputError(LlamasideError):
    """A picture could not be given to a model (unreadable, or the model cannot see)."""


class EngineCrashed(LlamasideError):
    """The engine child is not running, or stopped answering."""

    pass


class StoreError(LlamasideError):
    """The history database could not be read or written (a full disk, a missing row)."""

    pass


class NewerSchemaError(StoreError):
    """The history database comes from a newer Llamaside; it is left untouched."""

    pass


class Offline(LlamasideError):
    """Refused because the user switched the app offline; nothing was sent."""
