"""The engine protocol: JSON lines between the GUI/CLI host and the engine child process.

One JSON object per line. Requests carry an integer ``id``; every event about a request repeats
it, so a late event from a cancelled request can never be mistaken for the current one.

Requests (host -> child), key ``op``:
    load      {path, load: LoadParams}                   -> loaded | error
    generate  {messages, sampling: SamplingParams,       -> started, delta*, tool_call*, done|error
               tools?: [ToolSpec], tool_choice?: ToolChoice,
               adapters?: [{path, scale}]}  LoRA adapters for this answer (core.adapters)
    cancel    {target: id of a generate}                 -> (the generate ends with done/cancelled)
    shutdown  {}                                         -> the child exits 0

Events (child -> host), key ``ev``:
    hello     {pid, llama_cpp_version, gpu_offload, backend, problem}  sent once at start-up;
              problem: why this llama-cpp-python cannot run the engine ("" if it can)
    load_progress {progress}         a load's weights read so far, 0..1, rising, a few times a
              second, the last 1.0 (before loaded)
    loaded    {model: {...}, load_s}
    started   {prompt_tokens}        the prompt fits the context; decoding begins
    delta     {text, n}              answer text since the previous delta (batched); n tokens so far
    thought   {text, n}              a reasoning model's thinking (its <think> block), likewise
    tool_call {call: ToolCall part}  a call the model made (parsed at the end of the answer)
    done      {usage: Usage}
    error     {code, message}        code is one of the ERROR_* constants
"""

from __future__ import annotations

import json
from typing import Any

from desktop.core.answer import (
    AnswerEvent,
    Failed,
    Finished,
    Overflow,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
)
from desktop.core.parts import ToolCall, part_from_json
from desktop.core.usage import Usage

OP_LOAD = "load"
OP_GENERATE = "generate"
OP_CANCEL = "cancel"
OP_SHUTDOWN = "shutdown"

EV_HELLO = "hello"
EV_LOADED = "loaded"
EV_LOAD_PROGRESS = "load_progress"
EV_STARTED = "started"
EV_DELTA = "delta"
EV_THOUGHT = "thought"
EV_TOOL_CALL = "tool_call"
EV_DONE = "done"
EV_ERROR = "error"

ERROR_LOAD_FAILED = "load_failed"
ERROR_NOT_LOADED = "not_loaded"
ERROR_CONTEXT_OVERFLOW = "context_overflow"
ERROR_BAD_REQUEST = "bad_request"
ERROR_GENERATION = "generation_failed"
#: A picture in the prompt could not be read, or the loaded model cannot see.
ERROR_IMAGE = "image"
#: The installed llama-cpp-python cannot run the engine (too old): no model's fault.
ERROR_ENGINE_BUILD = "engine_build"

Message = dict[str, Any]


def encode(message: Message) -> bytes:
    """One line of compact JSON. ensure_ascii keeps the line free of raw newlines and of
    surrogates that some model output may contain."""
    return json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def decode(line: bytes | str) -> Message:
    """Parse one line; raises ValueError for anything that is not a JSON object."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"protocol line is not an object: {line[:80]!r}")
    return data


#: Failed.code when the engine child died (not an error it reported).
CRASHED = "crashed"


def answer_event(event: Message) -> AnswerEvent | None:
    """What a generate request's event means as an answer event (None: not an answer event,
    e.g. started or loaded). The window's engine host and the blocking client share it."""
    kind = event.get("ev")
    if kind == EV_DELTA:
        return TextDelta(str(event["text"]), int(event.get("n", 0)))
    if kind == EV_THOUGHT:
        return ReasoningDelta(str(event["text"]))
    if kind == EV_TOOL_CALL:
        call = part_from_json(event["call"])
        if not isinstance(call, ToolCall):
            raise ValueError(f"a tool_call event holds a {call.type} part")
        return ToolCallEvent(call)
    if kind == EV_DONE:
        return Finished(Usage.from_dict(event["usage"]))
    if kind == EV_ERROR:
        code = str(event.get("code", ""))
        overflow = None
        if code == ERROR_CONTEXT_OVERFLOW:
            overflow = Overflow(
                int(event.get("n_tokens", 0)),
                int(event.get("limit", 0)),
                bool(event.get("conversation", False)),
            )
        return Failed(str(event.get("message", "")), overflow, code)
    return None
