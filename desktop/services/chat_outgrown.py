"""An outgrown chat: its oldest turns no longer sent, or first summarised by the loaded local
model and sent as that summary, so the user's waiting message fits. A part of ChatService."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop.core import summary as summaries
from desktop.core.answer import AnswerEvent, Failed, Finished, TextDelta
from desktop.core.context import Said, drop_plan
from desktop.core.params import SamplingParams
from desktop.core.parts import Image
from desktop.core.usage import StopReason, Usage
from desktop.services.engine_host import EngineHost
from desktop.services.turn import chat_context
from desktop.storage.store import ChatStore

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance


@dataclass
class SummaryJob:
    """The oldest turns of an outgrown chat being summarised, before the user's message goes."""

    conversation_id: int
    #: The message that waits for the summary, and what it follows (as in ChatService.send).
    text: str
    after: int
    #: The first message still sent once the summary is in place.
    first_kept: int
    #: The engine's id for the summary (None while it waits for a served request).
    request_id: int | None
    #: The pictures the waiting message carries (they go with it).
    images: tuple[Image, ...] = ()
    pieces: list[str] = field(default_factory=list)
    stop_requested: bool = False


class ChatOutgrown:
    """The summary in progress and the choices for a chat that outgrew its model's context
    (a mixin: ChatService holds the engine, the store and the signals)."""

    store: ChatStore
    engine: EngineHost
    _summary: SummaryJob | None
    _loaded_path: str | None
    if TYPE_CHECKING:
        rejected: SignalInstance
        engine_status: SignalInstance
        busy_changed: SignalInstance
        summarised: SignalInstance

        @property
        def busy(self) -> bool: ...

        def _engine_lent(self) -> bool: ...

        def _wait_as_turn(self, start: Callable[[], None]) -> None: ...

        def _forget_wait(self) -> bool: ...

    def _drop_plan(
        self, conversation_id: int, n_tokens: int, limit: int, new_text: str
    ) -> tuple[list[Said], int, int]:
        conversation = self.store.get_conversation(conversation_id)
        path = self.store.messages(conversation_id)
        plan = drop_plan(path, chat_context(conversation), n_tokens, limit, new_text)
        return plan.sent, plan.dropped, plan.first_kept

    def drop_oldest(
        self, conversation_id: int, n_tokens: int, limit: int, new_text: str = ""
    ) -> int:
        """Stop sending the oldest turns so that the conversation fits again (they stay on
        screen and in the history). Returns how many more messages are no longer sent."""
        _sent, dropped, first_kept = self._drop_plan(conversation_id, n_tokens, limit, new_text)
        self._set_context(conversation_id, first_kept)
        return dropped

    def _set_context(
        self, conversation_id: int, first_kept: int, summary: str | None = None
    ) -> None:
        self.store.set_context(conversation_id, first_kept, summary)

    def summarise_oldest(
        self,
        conversation_id: int,
        n_tokens: int,
        limit: int,
        text: str,
        after: int,
        *,
        images: Sequence[Image] = (),
    ) -> bool:
        """Like drop_oldest, but the loaded model first writes a summary of the dropped turns
        (and of any earlier summary), which is then sent in their place. Asynchronous:
        ``summarised`` says when ``text`` (with its ``images``) can be sent; on failure or
        Stop, ``rejected`` gives the text back and nothing has changed. False if it could
        not start (busy, no model). While a served request answers, the summary waits for it
        (chat_served) and then goes before any other."""
        if self.busy:
            self.rejected.emit(conversation_id, text, "Wait for the answer being written to end.")
            return False
        loaded = self._loaded_path
        if loaded is None or not self.engine.running:
            self.rejected.emit(
                conversation_id, text, "Summarising needs the local model loaded; send again."
            )
            return False
        sent, dropped, first_kept = self._drop_plan(conversation_id, n_tokens, limit, text)
        conversation = self.store.get_conversation(conversation_id)
        previous = conversation.context_summary
        chars = len(conversation.system_prompt) + len(text) + sum(len(m.content) for m in sent)
        chars_per_token = max(chars, 1) / max(n_tokens, 1)
        # The summary request must itself fit: room for the instruction and the summary.
        answer_tokens = max(min(300, limit // 4), 16)
        budget = int((limit - answer_tokens - 80) * chars_per_token * 0.9)
        turns = [(m.role, m.content) for m in sent[:dropped] if m.content]
        messages = summaries.request(turns, previous, max(budget, 200))
        sampling = SamplingParams(
            temperature=0.2, top_p=0.9, repeat_penalty=1.1, max_tokens=answer_tokens, seed=1
        )
        job = self._summary = SummaryJob(
            conversation_id, text, after, first_kept, None, tuple(images)
        )
        self.busy_changed.emit(True)

        def start() -> None:
            if self._summary is not job:
                return  # stopped while it waited
            if self._loaded_path != loaded or not self.engine.running:
                # The served request loaded another model (or the engine ended meanwhile).
                self._summary_failed("Summarising needs the chat's model loaded; send again.")
                return
            job.request_id = self.engine.generate(messages, sampling)
            self.engine_status.emit("Summarising the oldest messages…")

        if self._engine_lent():
            self.engine_status.emit("Summarising waits for a served request to end…")
            self._wait_as_turn(start)
        else:
            start()
        return True

    def _stop_summary(self) -> bool:
        """Stop pressed while summarising (True): its end gives the waiting text back."""
        job = self._summary
        if job is None:
            return False
        job.stop_requested = True
        if job.request_id is None:  # still waiting for a served request
            self._forget_wait()
            self._summary_failed("Summarising was stopped; nothing was changed.")
        else:
            self.engine.cancel(job.request_id)
        return True

    def _on_summary_event(self, event: AnswerEvent) -> None:
        job = self._summary
        assert job is not None
        if isinstance(event, TextDelta):
            job.pieces.append(event.text)
        elif isinstance(event, Finished):
            self._summary_done(event.usage)
        elif isinstance(event, Failed):
            self._summary_failed(f"The summary could not be written: {event.message}")

    def _summary_done(self, usage: Usage) -> None:
        job = self._summary
        assert job is not None
        text = "".join(job.pieces).strip()
        if job.stop_requested or usage.stop_reason == StopReason.CANCELLED:
            self._summary_failed("Summarising was stopped; nothing was changed.")
            return
        if not text:
            self._summary_failed("The model wrote an empty summary; nothing was changed.")
            return
        self._summary = None
        self._set_context(job.conversation_id, job.first_kept, text)
        self.engine_status.emit("The oldest messages are summarised")
        self.busy_changed.emit(False)
        self.summarised.emit(job.conversation_id, job.text, job.after, job.images)

    def _summary_failed(self, reason: str) -> None:
        job = self._summary
        assert job is not None
        self._summary = None
        self.busy_changed.emit(False)
        self.rejected.emit(job.conversation_id, job.text, reason)
