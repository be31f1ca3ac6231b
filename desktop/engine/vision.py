"""Images for a local model, through llama.cpp's multimodal library (mtmd): its vision projector
loaded beside the model, a prompt with pictures cut into chunks (text, image, text...), and the
chunks evaluated into the model's context one at a time, so Stop is honoured between them.

Only bindings that llama-cpp-python's floor release (0.3.17) has are required; newer ones (chunk
ids) are used where present, to reuse a picture already in the context on the next turn.
"""

from __future__ import annotations

import ctypes
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp import mtmd_cpp as M

from desktop.core.errors import ImageInputError, ModelLoadError
from desktop.engine.llama_setup import LogCapture, clean_reason
from desktop.engine.vision_prompt import PromptCancelled

_TEXT = 0  # MTMD_INPUT_CHUNK_TYPE_TEXT
#: What clip logs for a projector made for a model of another width.
_MISMATCH = re.compile(r"text model \(n_embd = (\d+)\) and mmproj \(n_embd = (\d+)\)")


@dataclass
class _Chunk:
    """One chunk of a prompt with pictures: its mtmd handle, and whether it is a picture."""

    handle: Any
    image: bool
    #: Text chunks: their token ids. Image chunks: a stand-in per position (see units).
    units: list[int]


@dataclass
class VisionPrompt:
    """A tokenized prompt with pictures: its chunks and the flat list of units (token ids for
    text, negative stand-ins for image positions) that prefix reuse compares."""

    chunks: list[_Chunk]
    handle: Any
    units: list[int] = field(default_factory=list)

    def resume_point(self, cached: int) -> int:
        """Where evaluation may start given ``cached`` matching units: never inside a
        picture (its embeddings are computed whole)."""
        start = 0
        for chunk in self.chunks:
            end = start + len(chunk.units)
            if cached < end:
                return start if chunk.image else cached
            start = end
        return cached

    def free(self) -> None:
        if self.handle:
            M.mtmd_input_chunks_free(self.handle)
            self.handle = None


def _stand_in(key: str, index: int) -> int:
    """A negative unit for an image position: never equal to a token id, and the same for the
    same picture at the same place, so a picture already evaluated is not encoded again."""
    return -1 - (zlib.crc32(f"{key}:{index}".encode()) & 0x3FFFFFFF)


class Vision:
    """A loaded model's projector (an mtmd context). Freed before its model."""

    def __init__(
        self, llm: Any, path: Path, n_threads: int, use_gpu: bool, log: LogCapture
    ) -> None:
        if not path.is_file():
            raise ModelLoadError(f"The vision projector {path.name} is missing ({path}).")
        # clip's own log: its reasons for refusing a projector are what the user needs to read.
        M.mtmd_log_set(log._callback, ctypes.c_void_p(0))
        if hasattr(M, "mtmd_helper_log_set"):
            M.mtmd_helper_log_set(log._callback, ctypes.c_void_p(0))
        params = M.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = n_threads
        params.print_timings = False
        mark = log.mark()
        ctx = M.mtmd_init_from_file(str(path).encode(), llm.model, params)
        if not ctx:
            lines = log.errors_since(mark)
            widths = next(
                (m for m in (_MISMATCH.search(line) for line in lines) if m is not None), None
            )
            if widths is not None:
                reason = (
                    f"it was made for another model (its output is {widths[2]} wide, this "
                    f"model's embeddings {widths[1]})"
                )
            else:
                reason = clean_reason(lines) or "llama.cpp could not load it"
            raise ModelLoadError(
                f"Cannot use the vision projector {path.name} with this model: {reason}. "
                "Pick the mmproj file made for this model."
            )
        self._ctx = ctx
        if not M.mtmd_support_vision(ctx):
            self.close()
            raise ModelLoadError(f"{path.name} is not a vision projector (it takes no images).")
        self.path = path
        self.marker = M.mtmd_default_marker().decode()
        #: Qwen-VL style positions: a picture's positions are not one per unit, so its
        #: context cannot be reused unit by unit.
        self.mrope = bool(M.mtmd_decode_use_mrope(ctx))
        self._has_ids = hasattr(M, "mtmd_input_chunk_get_id") and hasattr(M, "mtmd_bitmap_set_id")

    def close(self) -> None:
        if self._ctx:
            M.mtmd_free(self._ctx)
            self._ctx = None

    def _bitmap(self, path: str) -> Any:
        name = Path(path).name
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ImageInputError(f"The picture {name} cannot be read: {exc.strerror}.") from None
        buf = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
        init: Any = M.mtmd_helper_bitmap_init_from_buf
        if hasattr(M, "mtmd_helper_init_opt_default"):  # 0.3.3x: (..., placeholder, opt)
            bitmap = init(self._ctx, buf, len(data), False)
        else:  # the floor release: (ctx, buf, len)
            bitmap = init(self._ctx, buf, len(data))
        if not bitmap:
            raise ImageInputError(f"llama.cpp could not decode the picture {name}.")
        if self._has_ids:
            M.mtmd_bitmap_set_id(bitmap, name.encode())
        return bitmap

    def tokenize(self, prompt: str, add_bos: bool, paths: Sequence[str]) -> VisionPrompt:
        """The prompt (its pictures at the markers) as chunks; raises ImageInputError."""
        bitmaps = []
        try:
            for path in paths:
                bitmaps.append(self._bitmap(path))
            text = M.mtmd_input_text()
            encoded = prompt.encode("utf-8", errors="replace")
            text.text = encoded
            if hasattr(text, "text_len"):  # 0.3.3x: a length beside the pointer
                text.text_len = len(encoded)
            text.add_special = add_bos
            text.parse_special = True
            array = (M.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
            handle = M.mtmd_input_chunks_init()
            status = M.mtmd_tokenize(self._ctx, handle, ctypes.byref(text), array, len(bitmaps))
        finally:
            for bitmap in bitmaps:
                M.mtmd_bitmap_free(bitmap)
        if status != 0:
            M.mtmd_input_chunks_free(handle)
            why = "the pictures and their places in the prompt do not match"
            if status == 2:
                why = "a picture could not be prepared for the model"
            raise ImageInputError(f"llama.cpp could not take the pictures: {why}.")
        prompt_out = VisionPrompt([], handle)
        seen: dict[str, int] = {}
        for i in range(M.mtmd_input_chunks_size(handle)):
            chunk = M.mtmd_input_chunks_get(handle, i)
            if M.mtmd_input_chunk_get_type(chunk) == _TEXT:
                n = ctypes.c_size_t(0)
                tokens = M.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                units = [int(tokens[j]) for j in range(n.value)]
                prompt_out.chunks.append(_Chunk(chunk, False, units))
            else:
                key = (
                    (M.mtmd_input_chunk_get_id(chunk) or b"").decode(errors="replace")
                    if self._has_ids
                    else f"{i}:{'|'.join(paths)}"
                )
                index = seen.get(key, 0)
                seen[key] = index + 1
                n_units = int(M.mtmd_input_chunk_get_n_tokens(chunk))
                units = [_stand_in(f"{key}#{index}", j) for j in range(n_units)]
                prompt_out.chunks.append(_Chunk(chunk, True, units))
            prompt_out.units.extend(prompt_out.chunks[-1].units)
        return prompt_out

    def evaluate(
        self,
        llm: Any,
        prompt: VisionPrompt,
        start: int,
        is_cancelled: Callable[[], bool],
        n_batch: int,
    ) -> None:
        """Put the prompt's units from ``start`` (a resume point) into the context: text
        through llama-cpp-python's eval, pictures through mtmd (encode, then decode their
        embeddings). Stop is checked before each chunk; llama_decode's own abort callback
        covers the decoding inside one."""
        ctx = llm._ctx.ctx
        llm.n_tokens = start
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        position = 0
        chunks = prompt.chunks
        for k, chunk in enumerate(chunks):
            end = position + len(chunk.units)
            if end <= start:
                position = end
                continue
            if is_cancelled():
                raise PromptCancelled
            if not chunk.image:
                llm.eval(chunk.units[max(0, start - position) :])
            else:
                new_n_past = llama_cpp.llama_pos(llm.n_tokens)  # the helper adds to it
                status = M.mtmd_helper_eval_chunk_single(
                    self._ctx,
                    ctx,
                    chunk.handle,
                    llm.n_tokens,
                    0,
                    n_batch,
                    k == len(chunks) - 1,
                    ctypes.byref(new_n_past),
                )
                if status != 0:
                    if is_cancelled():
                        raise PromptCancelled
                    raise ImageInputError(
                        f"llama.cpp could not read a picture into the context (error {status})."
                    )
                n_past = int(new_n_past.value)
                stored = chunk.units[: max(0, n_past - llm.n_tokens)]
                llm.input_ids[llm.n_tokens : llm.n_tokens + len(stored)] = stored
                llm.n_tokens = n_past
            position = end
