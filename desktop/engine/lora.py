"""LoRA adapters on the loaded model, set per answer through llama.cpp's context calls.

llama_adapter_lora_init reads an adapter once per model (it checks the architecture and every
tensor's shape against the model's, and says why in its log when they do not fit);
llama_set_adapters_lora then applies a set of adapters with their scales to the context for
the next decodes. Nothing reloads the model, and mmap stays on (llama-cpp-python's load-time
``lora_path`` turns it off). Adapters are freed with their model.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.core.adapters import Adapter
from desktop.core.errors import ModelLoadError
from desktop.engine.llama_setup import GGUF_MAGIC, LogCapture, clean_reason

#: llama.cpp's reasons, in words: the adapter was trained on another model.
ARCH_MISMATCH = "it was made for another kind of model (its architecture is not this model's)"
SHAPE_MISMATCH = ": it was made for another base model (pick the model it was fine-tuned from)"


class Adapters:
    """The adapters read for one model, and the set its context applies now."""

    def __init__(self, model: Any, ctx: Any, log: LogCapture) -> None:
        self._model = model  # llama_model_p
        self._ctx = ctx  # llama_context_p
        self._log = log
        self._read: dict[str, Any] = {}  # path -> llama_adapter_lora_p
        #: The (path, scale) pairs the context applies; () for the bare model.
        self.applied: tuple[tuple[str, float], ...] = ()

    def use(self, adapters: Sequence[Adapter]) -> bool:
        """Apply ``adapters`` (those at scale 0 are left out, as llama.cpp does) for the next
        decodes; True when that changed what the context computes, so that a cached prompt
        made with the earlier set must not be reused. Raises ModelLoadError, naming the file
        and llama.cpp's reason, for an adapter that cannot be read or does not fit."""
        wanted = tuple((a.path, a.scale) for a in adapters if a.scale != 0.0)
        if wanted == self.applied:
            return False
        pointers = [self._adapter(path) for path, _scale in wanted]
        count = len(wanted)
        # Arrays of at least one element: llama.cpp asserts on NULL with a count of 0.
        array = (llama_cpp.llama_adapter_lora_p_ctypes * max(1, count))(*pointers)
        scales = (ctypes.c_float * max(1, count))(*(scale for _path, scale in wanted))
        if llama_cpp.llama_set_adapters_lora(self._ctx, array, count, scales) != 0:
            raise ModelLoadError("llama.cpp could not apply the LoRA adapters.")
        self.applied = wanted
        return True

    def _adapter(self, path: str) -> Any:
        known = self._read.get(path)
        if known is not None:
            return known
        file = Path(path)
        if not file.is_file():
            raise ModelLoadError(f"LoRA adapter not found: {path}")
        with file.open("rb") as handle:
            magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise ModelLoadError(
                f"Cannot use {file.name} as a LoRA adapter: it is not a GGUF file. Convert the "
                "adapter with llama.cpp's convert_lora_to_gguf.py."
            )
        mark = self._log.mark()
        pointer = llama_cpp.llama_adapter_lora_init(self._model, str(file).encode())
        if not pointer:
            reason = clean_reason(self._log.errors_since(mark)) or "llama.cpp could not read it"
            # "llama_adapter_lora_init_from_file_ptr: failed to apply lora adapter: tensor
            # 'blk.0.ffn_down.weight' has incorrect shape (hint: maybe wrong base model?)"
            reason = reason.rpartition("failed to apply lora adapter: ")[2]
            reason = reason.replace("model arch and LoRA arch mismatch", ARCH_MISMATCH)
            reason = reason.replace(" (hint: maybe wrong base model?)", SHAPE_MISMATCH)
            raise ModelLoadError(
                f"Cannot use the LoRA adapter {file.name} with this model: {reason}."
            )
        self._read[path] = pointer
        return pointer
