"""llama.cpp behind a small, typed surface: load a GGUF, stream one chat answer, report usage.

It runs inside the engine child process, so a GGML_ASSERT that aborts takes down the child, not
the window. Only the engine child imports llama_cpp (import-linter enforces it): llama.cpp's
log, build facts and load parameters are llama_setup.py's, the streamed text's filters
text_filters.py's.
"""

from __future__ import annotations

import ctypes
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llama_cpp
from llama_cpp import llama_chat_format

from desktop.core.adapters import Adapter
from desktop.core.errors import ContextOverflow, ImageInputError, ModelLoadError, TemplateError
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.parts import ToolCall
from desktop.core.thinking import ThinkSplitter, prompt_opens_thinking
from desktop.core.tool_formats import GENERIC, detect_format
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.core.usage import StopReason, Usage
from desktop.core.vision import has_images
from desktop.engine import lookup_decoding as lookup
from desktop.engine.draft_model import DraftModel, load_draft
from desktop.engine.graph_sampling import graph_sampling_safe
from desktop.engine.llama_setup import (
    KV_GGML_TYPES,
    LogCapture,
    attention_choice,
    backend_name,
    check_gguf_file,
    clean_reason,
    crash_if_testing,
    expert_override_patterns,
    flash_attn_auto,
    gpu_offload_supported,
    graph_sampling_default,
    kv_cache_facts,
    model_params,
)
from desktop.engine.lora import Adapters
from desktop.engine.model_info import ModelInfo
from desktop.engine.text_filters import StopStringFilter, TokenText
from desktop.engine.tool_grammar import ToolGrammar, json_grammar
from desktop.engine.tool_use import ToolUse, sampler_chain
from desktop.engine.vision_prompt import PromptCancelled, with_markers

if TYPE_CHECKING:
    from desktop.engine.vision import Vision, VisionPrompt

#: Used when a GGUF carries no chat template (old conversions). ChatML is the most common format
#: among small instruct models and fails more gracefully than Llama-2's [INST] format.
FALLBACK_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: How often answer text is flushed to the host while tokens stream (the first token goes at
#: once). Each flush is a pipe write and wakes the host, which takes a core from llama.cpp's
#: spinning threads; 33 updates a second still read as smooth text (docs/benchmarks.md).
DELTA_FLUSH_INTERVAL_S = 0.030


def _unusable(path: Path, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"Cannot use {path.name}: its chat template or metadata is unusable "
        f"({type(exc).__name__}: {exc})."
    )


def _common_prefix(a: Iterable[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class _Rendered:
    """A prompt through the chat template: its tokens (or, with pictures, their chunks' units)
    and what the answer's loop needs of it."""

    tokens: list[int]
    stops: list[str]
    opens_thinking: bool
    chunks: VisionPrompt | None
    messages: list[dict[str, Any]]
    extra: dict[str, Any]
    images: list[str]
    use: ToolUse | None
    held_to: ToolGrammar | None  # a response_format's grammar (read before any work)


class Runner:
    """Owns one loaded model. Not thread-safe: the engine's main thread drives it."""

    def __init__(self, log: LogCapture) -> None:
        self._log = log
        self._llm: Any = None
        self._vision: Vision | None = None
        self._adapters: Adapters | None = None
        #: Why a projector asked for could not be used ("" when it was, or none was asked).
        self._no_vision = ""
        self._formatter: llama_chat_format.Jinja2ChatFormatter | None = None
        self._tool_format = GENERIC
        self._eog: Callable[[int], bool] = lambda _t: False
        self.info: ModelInfo | None = None
        # Set while a prompt is being processed; read by llama.cpp's abort callback.
        self._abort_check: Callable[[], bool] | None = None
        self._abort_cb = llama_cpp.ggml_abort_callback(self._on_abort_poll)
        self._null_abort_cb = llama_cpp.ggml_abort_callback()
        self._vocab: Any = None
        self._n_vocab = 0
        self._sample_on_device = True
        self._speculative = ("auto", False)  # the load's mode; whether its batches are exact
        self.pace = lookup.Pace()  # whether drafts pay for this load, as "auto" answers measure
        self._draft: DraftModel | None = None
        #: Whether the last answer's tokens were chosen inside llama_decode (tests read it).
        self.last_sampled_on_device = False
        #: The last answer's prompt-lookup drafts (lookup_decoding.py): how many were kept.
        self.last_lookup = lookup.LookupStats()
        # One buffer reused for every token's text (no per-token allocation).
        self._piece_buf = ctypes.create_string_buffer(256)

    def _piece(self, token: int) -> bytes:
        """The token's bytes. (llama-cpp-python's own token_to_piece returns the whole 32-byte
        buffer, trailing NULs included, so we call the C function directly.)"""
        n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece_buf, 256, 0, False)
        if n < 0:  # buffer too small: llama.cpp says how much it needs
            big = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, big, -n, 0, False)
            return big.raw[:n]
        return self._piece_buf.raw[:n]

    def _on_abort_poll(self, _data: ctypes.c_void_p) -> bool:
        check = self._abort_check
        return bool(check is not None and check())

    def load(
        self,
        path_str: str,
        params: LoadParams,
        on_progress: Callable[[float], None] | None = None,
    ) -> ModelInfo:
        path = Path(path_str)
        check_gguf_file(path)
        self.unload()
        n_threads = params.n_threads or max(1, os.cpu_count() or 1)
        mark = self._log.mark()
        overridden_before = self._log.overridden
        self._log.loading = True
        self._log.kv_report = ""
        try:
            overrides = expert_override_patterns(params.n_cpu_moe)
            flash = attention_choice(params.flash_attn, params.kv_cache_type, params.n_gpu_layers)
            kv_type = KV_GGML_TYPES[params.kv_cache_type]
            with (
                model_params(overrides, params.extra_bufts, on_progress),
                flash_attn_auto(flash is None),
            ):
                crash_if_testing("load", params.extra_bufts)
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=params.n_ctx,
                    n_gpu_layers=params.n_gpu_layers if gpu_offload_supported() else 0,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    n_batch=params.n_batch,
                    flash_attn=bool(flash),
                    type_k=kv_type,
                    type_v=kv_type,
                    verbose=False,
                )
        except ModelLoadError:
            raise
        except (ValueError, RuntimeError, OSError) as exc:
            reason = clean_reason(self._log.errors_since(mark)) or str(exc)
            raise ModelLoadError(f"Cannot load {path.name}: {reason}") from None
        except Exception as exc:  # e.g. llama-cpp-python compiling a broken chat template
            raise _unusable(path, exc) from None
        finally:
            self._log.loading = False
        # Flash attention on the CPU, on one thread, gives a batch's rows the one-token logits.
        on_cpu = params.n_gpu_layers == 0 or not gpu_offload_supported()
        # Sampling on the device asked for beats drafts (on the CPU); LLAMASIDE_LOOKUP=1 not.
        mode = "off" if params.sample_on_device is True else params.speculative
        self._speculative = (mode, flash is True and on_cpu and n_threads == 1)
        self.pace = lookup.Pace()
        # Re-install our log callback: Llama() may have installed the library's own.
        llama_cpp.llama_log_set(self._log._callback, ctypes.c_void_p(0))
        try:
            self._prepare(llm, path, params, n_threads, self._log.overridden - overridden_before)
        except Exception as exc:
            llm.close()
            raise _unusable(path, exc) from None
        self._no_vision = ""
        if params.mmproj:
            try:
                # libmtmd is loaded only now: a build without it still runs text models.
                from desktop.engine.vision import Vision
            except (ImportError, OSError, AttributeError) as exc:
                self._no_vision = f"this llama.cpp build has no multimodal library ({exc})"
            else:
                try:
                    use_gpu = gpu_offload_supported() and params.n_gpu_layers != 0
                    self._vision = Vision(llm, Path(params.mmproj), n_threads, use_gpu, self._log)
                except ModelLoadError:
                    self.unload()
                    raise
        try:
            self._draft = load_draft(params, llm, path, n_threads)
        except ModelLoadError:
            self.unload()
            raise
        assert self.info is not None
        if self._vision is not None:
            self.info = ModelInfo(**{**self.info.to_dict(), "mmproj": str(self._vision.path)})
        return self.info

    def _prepare(
        self, llm: Any, path: Path, params: LoadParams, n_threads: int, overridden: int
    ) -> None:
        """Chat template, end-of-generation test and model facts for a loaded model."""

        template = llm.metadata.get("tokenizer.chat_template")
        template_kind = "gguf"
        if not isinstance(template, str) or not template.strip():
            template, template_kind = FALLBACK_CHATML, "fallback-chatml"
        model = llm._model
        eos_id, bos_id = model.token_eos(), model.token_bos()
        eos_text = model.token_get_text(eos_id) if eos_id != -1 else ""
        bos_text = model.token_get_text(bos_id) if bos_id != -1 else ""
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos_text, bos_token=bos_text
        )
        # Render once now, so a broken template fails the load, not every message.
        self._formatter(messages=[{"role": "user", "content": "hi"}])
        self._tool_format = detect_format(template)
        vocab = llama_cpp.llama_model_get_vocab(model.model)
        self._vocab = vocab
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._sample_on_device = (
            graph_sampling_default() if params.sample_on_device is None else params.sample_on_device
        )
        self._eog = lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))
        self._llm = llm
        self._adapters = Adapters(llm._model.model, llm._ctx.ctx, self._log)
        kv_type, kv_bytes = kv_cache_facts(self._log.kv_report)
        self.info = ModelInfo(
            path=str(path),
            description=model.desc(),
            n_ctx=llm.n_ctx(),
            n_ctx_train=model.n_ctx_train(),
            n_params=model.n_params(),
            size_bytes=path.stat().st_size,
            n_threads=n_threads,
            n_gpu_layers=params.n_gpu_layers if gpu_offload_supported() else 0,
            backend=backend_name() if gpu_offload_supported() else "CPU",
            gpu_offload=gpu_offload_supported(),
            chat_template=template_kind,
            architecture=str(llm.metadata.get("general.architecture", "")),
            n_cpu_moe=params.n_cpu_moe,
            tensors_in_ram=overridden,
            extra_bufts=params.extra_bufts,
            kv_cache_type=kv_type,
            kv_bytes=kv_bytes,
        )

    def unload(self) -> None:
        if self._vision is not None:  # it points at the model: freed first
            self._vision.close()
            self._vision = None
        self._adapters = None  # freed with their model
        if self._draft is not None:
            self._draft.close()
            self._draft = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None
            self.info = None

    @property
    def _mrope(self) -> bool:
        return self._vision is not None and self._vision.mrope

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def render_prompt(
        self,
        messages: list[dict[str, Any]],
        extra: dict[str, Any] | None = None,
        images: Sequence[str] = (),
    ) -> tuple[list[int], list[str], bool, VisionPrompt | None]:
        """Apply the model's own chat template (``extra``: more of its variables, e.g. tools)
        and tokenize. Returns (tokens, stop strings, whether the prompt opens a thinking block
        the answer starts in, and with ``images`` (at the messages' media markers) the
        prompt's chunks, whose units stand in for the tokens)."""
        assert self._formatter is not None and self._llm is not None
        try:
            result = self._formatter(messages=messages, **(extra or {}))  # type: ignore[arg-type]
        except Exception as exc:  # jinja2 errors and the template's own raise_exception
            raise TemplateError(
                f"This model's chat template refused the conversation: {exc}"
            ) from None
        stops = result.stop if isinstance(result.stop, list) else [result.stop or ""]
        opens = prompt_opens_thinking(result.prompt)
        if images and self._vision is not None:
            chunks = self._vision.tokenize(result.prompt, not result.added_special, images)
            return chunks.units, [s for s in stops if s], opens, chunks
        tokens: list[int] = self._llm.tokenize(
            result.prompt.encode("utf-8", errors="replace"),
            add_bos=not result.added_special,
            special=True,
        )
        return tokens, [s for s in stops if s], opens, None

    def generate(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        is_cancelled: Callable[[], bool],
        on_started: Callable[[int], None],
        on_text: Callable[[str, int], None],
        *,
        on_thought: Callable[[str, int], None] = lambda _text, _n: None,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = AUTO,
        on_call: Callable[[ToolCall], None] = lambda _call: None,
        adapters: Sequence[Adapter] = (),
    ) -> Usage:
        """Stream one answer. Raises ContextOverflow before any decoding if the prompt is too long.

        on_text receives batched answer text and the count of tokens so far; on_thought, the
        same for a reasoning model's thinking (its <think> block); the caller ships them. With
        ``tools`` the model is offered them and ``on_call`` receives its calls at the end.
        """
        assert self._llm is not None and self.info is not None and self._adapters is not None
        t0 = time.perf_counter()
        if self._adapters.use(adapters):  # the cached prompt was computed with other weights
            self._llm.n_tokens = 0
        schema = sampling.json_schema
        use = ToolUse(self._tool_format, tools, tool_choice, schema) if tools else None
        held_to = json_grammar(schema) if use is None else None  # else in the tools' grammar
        extra: dict[str, Any] = {}
        images: list[str] = []
        if has_images(messages):
            if self._vision is None:
                why = self._no_vision or "it was loaded without a vision projector (mmproj)"
                raise ImageInputError(f"{Path(self.info.path).name} cannot see images: {why}.")
            messages, images = with_markers(messages, self._vision.marker)
        if use is not None:
            messages, extra = use.template_input(messages)
        tokens, stops, opens_thinking, chunks = self.render_prompt(messages, extra, images)
        rendered = _Rendered(
            tokens, stops, opens_thinking, chunks, messages, extra, images, use, held_to
        )
        try:
            return self._generate(
                rendered,
                sampling,
                t0,
                is_cancelled=is_cancelled,
                on_started=on_started,
                on_text=on_text,
                on_thought=on_thought,
                on_call=on_call,
            )
        finally:
            if chunks is not None:
                chunks.free()

    def _generate(
        self,
        rendered: _Rendered,
        sampling: SamplingParams,
        t0: float,
        *,
        is_cancelled: Callable[[], bool],
        on_started: Callable[[int], None],
        on_text: Callable[[str, int], None],
        on_thought: Callable[[str, int], None],
        on_call: Callable[[ToolCall], None],
    ) -> Usage:
        tokens, stops, opens_thinking = rendered.tokens, rendered.stops, rendered.opens_thinking
        chunks, messages, extra = rendered.chunks, rendered.messages, rendered.extra
        images, use = rendered.images, rendered.use
        assert self._llm is not None and self.info is not None
        llm = self._llm
        n_ctx = self.info.n_ctx
        # One token of room is needed for any answer at all.
        if len(tokens) >= n_ctx:
            # Tell a message that is too long from a conversation that has grown too long.
            last_only = [m for m in messages if m["role"] == "system"] + messages[-1:]
            alone = 0
            if len(last_only) < len(messages):
                last = messages[-1].get("content")
                k = last.count(self._vision.marker) if self._vision and isinstance(last, str) else 0
                alone_tokens, _, _, alone_chunks = self.render_prompt(
                    last_only, extra, images[len(images) - k :]
                )
                if alone_chunks is not None:
                    alone_chunks.free()
                alone = len(alone_tokens)
            raise ContextOverflow(len(tokens), n_ctx, conversation=0 < alone < n_ctx)
        # llama.cpp needs at least the last prompt token decoded to have logits to sample from.
        cached = min(
            _common_prefix(llm._input_ids[: llm.n_tokens].tolist(), tokens), len(tokens) - 1
        )
        if sampling.seed is not None or (chunks is not None and self._mrope):
            # A fixed seed promises the same answer again, but on a GPU a prompt's last logits
            # differ in the last bits between one batch and a cache hit (different kernels):
            # a seeded answer processes its whole prompt, in the same batches every time.
            # (Qwen-VL's positions are not one per unit: no reuse with its pictures.)
            cached = 0
        if chunks is not None:
            cached = chunks.resume_point(cached)
        on_started(len(tokens))

        budget = min(sampling.max_tokens, n_ctx - len(tokens))
        seed = sampling.seed if sampling.seed is not None else random.randrange(2**32 - 1)
        llm.set_seed(seed)

        text_of = TokenText(self._piece)
        stop_filter = StopStringFilter(stops)
        splitter = ThinkSplitter(thinking=opens_thinking)
        pending: list[str] = []
        pending_thoughts: list[str] = []
        answer_at = 0.0
        last_flush = 0.0
        first_token_at = 0.0
        n_out = 0
        reason = StopReason.LENGTH

        # The abort callback lets Stop interrupt a long prompt inside llama_decode. It is only
        # installed for the prompt: during generation we check between tokens, which is cheaper
        # than a Python call from every graph node.
        self._abort_check = is_cancelled
        ctx = llm._ctx.ctx
        llama_cpp.llama_set_abort_callback(ctx, self._abort_cb, None)
        # llama-cpp-python's own sampler chain, so answers are identical to its; the token
        # loop is ours (one llama_decode and one llama_sampler_sample per token, through the
        # C API) to skip Llama.generate's per-token batch refill, numpy and generator hop.
        grammar = use.grammar if use is not None else rendered.held_to
        if grammar is not None:
            sampler = sampler_chain(llm, self._vocab, sampling, self._n_vocab, grammar)
        else:
            sampler = llm._init_sampler(
                # A top-k beyond the vocabulary means "all of it" on the CPU, but fails an
                # assert in ggml_top_k when the chain runs in the graph.
                top_k=min(sampling.top_k, self._n_vocab),
                top_p=sampling.top_p,
                min_p=sampling.min_p,
                temp=sampling.temperature,
                repeat_penalty=sampling.repeat_penalty,
            )
        chain = sampler.sampler
        generated: list[int] = []
        steps: lookup.TokenSteps | None = None
        # Reuse the prefix this context already holds (the earlier turns of the chat): eval()
        # drops the memory after it and decodes the rest of the prompt in n_batch chunks.
        llm.n_tokens = cached
        n_past = cached
        # Sampling in the graph (llama.cpp's backend sampling): the chain's leading samplers
        # (on the CPU backend at our settings, all of them, the seeded draw included) run
        # inside llama_decode, so the host never scans every logit. It must be attached before
        # the prompt's last batch: attaching after it breaks the chain's CPU path (its device
        # samplers are skipped there). Drafts need logits at several positions: not with them.
        pictures, model = chunks is not None, llm._model.model
        wanted, pace = self.pace.plan(
            lookup.lookup_mode(sampling, model, pictures, *self._speculative)
        )
        on_device = (
            self._sample_on_device
            and not wanted
            and grammar is None  # a grammar is matched on the CPU, token by token
            and graph_sampling_safe(sampling)
            and bool(llama_cpp.llama_set_sampler(ctx, 0, chain))
        )
        try:
            crash_if_testing("decode", self.info.extra_bufts)
            if chunks is not None and self._vision is not None:
                self._vision.evaluate(llm, chunks, cached, is_cancelled, llm.n_batch)
            else:
                llm.eval(tokens[cached:])
            n_past = llm.n_tokens
            source = self._draft.drafter(tokens) if self._draft else lookup.NgramIndex(tokens)
            end = n_past + budget - 1
            steps = lookup.TokenSteps(
                ctx, chain, n_past, end, source if wanted else None, pace=pace
            )
            self.last_lookup = steps.stats
            self.last_sampled_on_device = (
                on_device and llama_cpp.llama_get_sampled_token_ith(ctx, -1) != -1
            )
            while True:
                token = steps.sample()
                if n_out == 0:
                    first_token_at = time.perf_counter()
                    self._abort_check = None
                    llama_cpp.llama_set_abort_callback(ctx, self._null_abort_cb, None)
                if is_cancelled():
                    reason = StopReason.CANCELLED
                    break
                if self._eog(token):
                    reason = StopReason.STOP
                    break
                n_out += 1
                piece = text_of.feed(token)
                thought, text = splitter.feed(stop_filter.feed(piece))
                if use is not None and text:
                    text = use.feed(text)
                if thought:
                    pending_thoughts.append(thought)
                if text:
                    pending.append(text)
                    answer_at = answer_at or time.perf_counter()
                if stop_filter.stopped:
                    reason = StopReason.STOP
                    break
                now = time.perf_counter()
                if (pending or pending_thoughts) and (
                    n_out == 1 or now - last_flush >= DELTA_FLUSH_INTERVAL_S
                ):
                    if pending_thoughts:
                        on_thought("".join(pending_thoughts), n_out)
                        pending_thoughts.clear()
                    if pending:
                        on_text("".join(pending), n_out)
                        pending.clear()
                    last_flush = now
                if n_out >= budget:
                    reason = StopReason.LENGTH
                    break
                steps.advance(token)  # decodes it (and a draft after it, when one is found)
                generated.append(token)
        except PromptCancelled:
            reason = StopReason.CANCELLED
        except RuntimeError as exc:
            # llama_decode returns 2 when our abort callback asked it to stop.
            if is_cancelled() and "returned 2" in str(exc):
                reason = StopReason.CANCELLED
            else:
                raise
        finally:
            self._abort_check = None
            llama_cpp.llama_set_abort_callback(ctx, self._null_abort_cb, None)
            if on_device:
                # The context keeps a pointer to the chain: detach before freeing it.
                llama_cpp.llama_set_sampler(ctx, 0, None)
            if steps is not None:
                steps.close()  # before the chain goes: drops draft tokens never handed out
            sampler.close()
            # What the context now holds, for the next turn's prefix reuse.
            if generated and n_past:
                llm.input_ids[n_past : n_past + len(generated)] = generated
                llm.n_tokens = n_past + len(generated)
            if chunks is not None and self._mrope:
                llm.n_tokens = 0  # its positions are not units: the next prompt starts afresh

        thought, tail = splitter.feed(stop_filter.flush(text_of.flush()))
        held_thought, held = splitter.flush()
        pending_thoughts += [thought, held_thought]
        calls: list[ToolCall] = []
        if use is not None:  # the text held back as a possible call: shown, or read as calls
            shown = use.feed(tail + held)
            rest, calls = use.finish()
            tail, held = shown, rest
        pending += [tail, held]
        if "".join(pending_thoughts):
            on_thought("".join(pending_thoughts), n_out)
        if "".join(pending):
            on_text("".join(pending), n_out)
        for call in calls:
            on_call(call)
        if calls and reason == StopReason.STOP:
            reason = StopReason.TOOL_CALLS  # ended to call tools: complete, not cut short
        end = time.perf_counter()
        return Usage(
            prompt_tokens=len(tokens),
            prompt_tokens_evaluated=len(tokens) - cached,
            output_tokens=n_out,
            time_to_first_token_s=(first_token_at or end) - t0,
            total_s=end - t0,
            stop_reason=reason,
            thinking_s=((answer_at or end) - t0) if splitter.had_thoughts else 0.0,
        )
