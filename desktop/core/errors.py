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
    def __init__(self, n_tokens: int, limit: int) -> None:
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"The message is too long for this model's context "
            f"({n_tokens} tokens, limit {limit}). Shorten it, or load the model with a larger "
            f"context."
        )


class EngineCrashed(LlamasideError):
    pass


class StoreError(LlamasideError):
    pass


class NewerSchemaError(StoreError):
    pass
