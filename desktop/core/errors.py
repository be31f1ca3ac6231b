"""Errors with messages written for the user: every layer raises these, the UI shows str(e)."""

from __future__ import annotations


class LlamasideError(Exception):
    """Base class; str(error) is a complete sentence fit for a dialog or a CLI line."""


class InvalidParameter(LlamasideError, ValueError):
    pass


class ModelNotFound(LlamasideError):
    pass


class ModelLoadError(LlamasideError):
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
    pass


class EngineCrashed(LlamasideError):
    pass


class StoreError(LlamasideError):
    pass


class NewerSchemaError(StoreError):
    pass
