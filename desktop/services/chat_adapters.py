"""A chat's LoRA adapters: which fine-tunes its local model answers with, at what scale.

The choice is part of the chat's model choice ("SmolLM2 + my-support-lora × 0.8"), kept in the
conversation's params. Each answer checks it against the model it goes to (backends.lora_check,
from the headers), so a chat moved to another model, or an adapter file gone, is refused with
a sentence naming the adapter before anything is saved; the engine then applies the adapters
to the loaded model without reloading it (engine/lora.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.backends.local_adapters import AdapterShelf, is_adapter_file
from desktop.backends.lora_check import AdapterRefused, check_adapter
from desktop.core.adapters import Adapter, AdapterFile, AdapterFit
from desktop.core.chat_records import Conversation
from desktop.core.models import CloudModel, LocalModel
from desktop.storage.store import ChatStore


class ChatAdapters:
    """ChatService's adapter choice (a mixin: ``store``, ``models_dir``, ``adapter_shelf``)."""

    store: ChatStore
    models_dir: Path
    adapter_shelf: AdapterShelf

    if TYPE_CHECKING:  # ChatSetup's, in ChatService

        def model_for(self, conversation: Conversation) -> LocalModel | CloudModel | None: ...

    def adapter_files(self) -> list[AdapterFile]:
        """Every LoRA adapter on this machine: the models folder's and the user's."""
        return self.adapter_shelf.listing(self.models_dir, self.store.user_models())

    def adapters_offered(self, model: LocalModel | CloudModel | None) -> list[AdapterFit]:
        """The adapters made for this model's architecture, those that fit first (a cloud
        model takes none)."""
        if not isinstance(model, LocalModel):
            return []
        return self.adapter_shelf.for_model(model, self.adapter_files())

    def chat_adapters(self, conversation_id: int) -> tuple[Adapter, ...]:
        """The adapters the chat chose (whatever its model now)."""
        return self.store.get_conversation(conversation_id).adapters

    def set_chat_adapters(self, conversation_id: int, adapters: Sequence[Adapter]) -> None:
        """The chat's adapters from its next answer on (the model stays loaded)."""
        self.store.set_adapters(conversation_id, adapters)

    def adapters_for_answer(
        self, conversation: Conversation, model: LocalModel | CloudModel
    ) -> tuple[Adapter, ...]:
        """The adapters this answer is written with: the chat's, each checked against the
        model; AdapterRefused names one that does not fit, before anything is saved. A cloud
        model's answer takes none (the chat keeps its choice for when it is local again)."""
        if not isinstance(model, LocalModel) or not conversation.adapters:
            return ()
        for adapter in conversation.adapters:
            try:
                check_adapter(adapter, model.path)
            except AdapterRefused as exc:
                raise AdapterRefused(
                    f"{exc} (The chat's adapters are chosen beside its model, under LoRA.)"
                ) from None
        return conversation.adapters

    def keep_fitting_adapters(self, conversation_id: int, model: LocalModel | CloudModel) -> None:
        """After the chat's model changed: its adapters that do not fit the new local model go
        (a cloud model keeps them for when the chat is local again)."""
        chosen = self.chat_adapters(conversation_id)
        if not chosen or not isinstance(model, LocalModel):
            return
        kept = []
        for adapter in chosen:
            try:
                check_adapter(adapter, model.path)
            except AdapterRefused:
                continue
            kept.append(adapter)
        if len(kept) != len(chosen):
            self.set_chat_adapters(conversation_id, kept)

    def add_adapter_file(self, path: str, conversation_id: int | None) -> AdapterFit:
        """Remember a LoRA adapter file the user picked; where it fits the chat's local model,
        the chat answers with it from now on. Raises AdapterRefused (nothing remembered) for a
        file that is not an adapter; the returned fit's reason says why it does not fit."""
        adapter = self.adapter_shelf.read(Path(path))
        if adapter is None:
            raise AdapterRefused(
                f"{Path(path).name} is not a LoRA adapter (its header does not say "
                "general.type = adapter). Adapters come from llama.cpp's convert_lora_to_gguf.py."
            )
        self.store.add_user_model(adapter.path)  # user files; the model listing skips adapters
        if conversation_id is None:
            return AdapterFit(adapter, "")
        model = self.model_for(self.store.get_conversation(conversation_id))
        if not isinstance(model, LocalModel):
            return AdapterFit(adapter, "")
        fit = self.adapter_shelf.fit(adapter, model)
        if fit.fits:
            chosen = [a for a in self.chat_adapters(conversation_id) if a.path != adapter.path]
            self.set_chat_adapters(conversation_id, [*chosen, Adapter(adapter.path)])
        return fit


def is_adapter_path(path: str) -> bool:
    """Whether a file the user picked is a LoRA adapter (its GGUF header says so)."""
    return is_adapter_file(Path(path))
