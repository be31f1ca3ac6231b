"""The tool steps of the answer on screen (ChatService's part): after a model step that called
tools, each call is put to the user (Allow once / Always allow this tool / Deny) and run on a
worker thread, its result shown and kept, and the model asked again with the results, until it
answers without calling, Stop, or the step limit.

The window is never blocked: the approval is a signal the window answers with ``decide``, and
calls run off the UI thread; a server that hangs only makes its call time out.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal

from desktop.backends.cloud import CloudSource
from desktop.core.answer import Finished
from desktop.core.models import CloudModel, LocalModel
from desktop.core.parts import Parts, ToolCall, ToolResult
from desktop.core.tools import ToolSpec
from desktop.core.usage import StopReason
from desktop.services.relay import Relay
from desktop.services.tool_turn import (
    Decision,
    ToolBox,
    needs_results,
)
from desktop.services.turn import ChatTurn

if TYPE_CHECKING:
    from desktop.core.chat_records import Conversation


@dataclass
class WindowTurn:
    """The answer being generated: the shared turn, and what the window needs besides."""

    chat: ChatTurn
    model: LocalModel | CloudModel
    #: The engine's or the stream's id for this answer (None while a model loads).
    request_id: int | None = None
    stop_requested: bool = False
    first_token_at: float = 0.0
    #: The chat's tools, where it has some on, and who asks the user about each call.
    box: ToolBox | None = None
    gate: WindowGate | None = None
    #: A cloud answer's source, asked again after each tool step.
    source: CloudSource | None = None

    @property
    def cloud(self) -> bool:
        return isinstance(self.model, CloudModel)


class ToolProvider(Protocol):
    """What ChatService needs of the app's tools service."""

    def box_for(self, conversation: Conversation, gate: Any) -> ToolBox | None: ...


class WindowGate:
    """Asks the window about a call from the worker thread and waits for its answer. ``ask``
    takes the question to the UI thread (a relay's post), so the dialog opens there. A plain
    object, not a QObject: the worker may hold the last reference to it."""

    def __init__(self, ask: Callable[[ToolCall, ToolSpec | None], None]) -> None:
        self._ask = ask
        self._answer: Decision | None = None
        self._answered = threading.Event()
        self.waiting: ToolCall | None = None

    def decide(self, call: ToolCall, spec: ToolSpec | None) -> Decision:
        self._answered.clear()
        self._answer = None
        self.waiting = call
        self._ask(call, spec)
        self._answered.wait()
        self.waiting = None
        return self._answer or Decision.DENY

    def answer(self, decision: Decision) -> None:
        self._answer = decision
        self._answered.set()


class ToolStep(QObject):
    """One step's calls, run in order on a worker thread: results are signalled one by one,
    then all of them, on the UI thread."""

    result = Signal(object)
    done = Signal(list)

    def __init__(self, box: ToolBox, calls: list[ToolCall]) -> None:
        super().__init__()
        self.box = box
        self.calls = calls
        #: Results shown so far (appended on the UI thread as they arrive).
        self.results: list[ToolResult] = []
        post = Relay(self).post
        self.worker = threading.Thread(
            target=_run_step, args=(box, list(calls), post), name="tool-step", daemon=True
        )

    def _result(self, result: ToolResult) -> None:
        self.result.emit(result)

    def _done(self, results: list[ToolResult]) -> None:
        self.done.emit(results)


def _run_step(box: ToolBox, calls: list[ToolCall], post: Callable[..., None]) -> None:
    """The step's thread: it holds no reference to its ToolStep (which the UI may drop)."""
    results: list[ToolResult] = []
    for call in calls:
        result = box.run(call)
        results.append(result)
        post(ToolStep._result, result)
    post(ToolStep._done, results)


class ChatTools:
    """Mixin of ChatService: tool steps. Uses its turn, pipeline, engine and streams."""

    tools: ToolProvider | None
    _turn: WindowTurn | None
    _tool_step: ToolStep | None
    #: Takes tool approvals from the step's thread to the UI thread (made at the first box).
    _tools_relay: Relay | None = None

    def _tools_box(self, conversation: Conversation) -> tuple[ToolBox | None, WindowGate]:
        relay = self._tools_relay
        if relay is None:  # made on the UI thread, once, this service its parent
            relay = self._tools_relay = Relay(self)  # type: ignore[arg-type]
        gate = WindowGate(functools.partial(relay.post, ChatTools._on_tool_asked))
        box = self.tools.box_for(conversation, gate) if self.tools is not None else None
        return box, gate

    def _on_tool_asked(self, call: object, spec: object) -> None:
        turn = self._turn
        if turn is None or turn.box is None:
            return
        chat = turn.chat
        self.tool_approval.emit(chat.conversation_id, chat.answer_id, call, spec)  # type: ignore[attr-defined]

    def decide(self, decision: Decision) -> None:
        """The user's answer to the approval the window is showing."""
        turn = self._turn
        if turn is not None and turn.gate is not None:
            turn.gate.answer(decision)

    def _run_tools(self) -> bool:
        """After a step: run its calls if it made any (True: the turn goes on)."""
        turn = self._turn
        if turn is None or turn.box is None or turn.stop_requested:
            return False
        chat: ChatTurn = turn.chat
        answer = chat.answer
        if not needs_results(answer):
            return False
        box: ToolBox = turn.box
        box.resolve(answer.calls)
        if chat.steps.count + 1 >= box.max_steps:
            self.pipeline.end_at_limit(chat, box.max_steps)  # type: ignore[attr-defined]
            return False
        step = self._tool_step = ToolStep(box, list(answer.calls))
        step.result.connect(self._on_tool_result)
        step.done.connect(self._on_tools_done)
        self._tool_progress(answer.parts)
        step.worker.start()
        self._tools_running()  # type: ignore[attr-defined]
        return True

    def _tool_progress(self, parts: Parts) -> None:
        turn = self._turn
        if turn is not None:
            chat = turn.chat
            self.tool_progress.emit(chat.conversation_id, chat.answer_id, parts)  # type: ignore[attr-defined]

    def _on_tool_result(self, result: object) -> None:
        step = self._tool_step
        if self._turn is not None and step is not None and isinstance(result, ToolResult):
            step.results.append(result)
            self._tool_progress((*self._turn.chat.answer.parts, *step.results))

    def _on_tools_done(self, results: list[ToolResult]) -> None:
        self._tool_step = None
        turn = self._turn
        if turn is None:
            return  # the turn ended meanwhile (the window closed)
        chat = turn.chat
        self.pipeline.next_step(chat, results)  # type: ignore[attr-defined]
        if turn.stop_requested:
            chat.answer.add(Finished(replace(chat.answer.usage, stop_reason=StopReason.CANCELLED)))
            self._finish()  # type: ignore[attr-defined]
            return
        self._next_model_step()  # type: ignore[attr-defined]

    def _stop_tools(self) -> bool:
        """Stop pressed while calls wait or run: they end cancelled (True: there were some)."""
        turn = self._turn
        if turn is None or self._tool_step is None or turn.box is None:
            return False
        turn.stop_requested = True
        turn.box.cancel()
        if turn.gate is not None:
            turn.gate.answer(Decision.DENY)
        return True
