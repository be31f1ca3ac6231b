"""One chat turn, the same for the window and `llamaside chat`: the question saved before
anything is sent, the context planned, the answer's events saved as they arrive, the answer
finished with its parts, usage and cost, or taken back without a trace when nothing was sent.

No Qt here: the window feeds events as its engine host and worker threads deliver them; the CLI
runs a source on its own thread with ``run``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from desktop.core.adapters import Adapter
from desktop.core.answer import Answer, AnswerEvent, AnswerSource, Finished, Prompt, TextDelta
from desktop.core.chat_records import AT_LEAF, Conversation, StoredMessage, Versions
from desktop.core.context import NEW_CHAT_TITLE, ChatContext, plan_prompt, title_for
from desktop.core.errors import StoreError
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Image, Parts, Text, ToolResult, text_of
from desktop.core.tools import AUTO
from desktop.core.usage import StopReason, Usage
from desktop.services.tool_turn import (
    ToolBox,
    ToolSteps,
    needs_results,
    step_limit_note,
    unanswered,
)
from desktop.storage.store import ChatStore

#: How often a streaming answer is written to disk, so a crash loses at most this much.
CHECKPOINT_INTERVAL_S = 1.0

#: The cost of a cloud answer for its usage record ({} for local models or unknown prices).
CostOf = Callable[[str, Usage], dict[str, Any]]


def chat_context(conversation: Conversation) -> ChatContext:
    return ChatContext(
        conversation.system_prompt, conversation.context_from, conversation.context_summary
    )


class AnswerRow(Protocol):
    """Where one answer is kept: its text now and then while it streams, so a crash loses at
    most a second of it, and the whole answer when it ends. A chat's message and a comparison's
    column keep their answers the same way."""

    def checkpoint(self, text: str) -> None: ...

    def checkpoint_parts(self, parts: Parts) -> None: ...

    def finish(
        self, answer: Answer, status: MessageStatus, usage: dict[str, Any] | None
    ) -> None: ...


class ChatAnswerRow:
    """A chat's answer message: the row the turn added, streaming until it is finished."""

    def __init__(self, store: ChatStore, conversation_id: int, answer_id: int) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.answer_id = answer_id

    def checkpoint(self, text: str) -> None:
        self.store.update_message(self.answer_id, content=text)

    def checkpoint_parts(self, parts: Parts) -> None:
        """A tool turn's steps so far (words, calls, results), kept whole."""
        self.store.update_message(self.answer_id, parts=parts)

    def finish(self, answer: Answer, status: MessageStatus, usage: dict[str, Any] | None) -> None:
        self.store.update_message(
            self.answer_id, parts=answer.parts, status=status, usage=usage, error=answer.error
        )
        self.store.touch(self.conversation_id)


class ComparisonAnswerRow:
    """One column's answer to one prompt of a comparison, kept as a chat keeps its answers
    (services.turn.AnswerRow): the prompt with an empty streaming answer before anything is
    sent, its text now and then while it streams, the whole answer when it ends."""

    def __init__(
        self,
        store: ChatStore,
        comparison_id: int,
        *,
        round_index: int,
        slot: int,
        model_id: str,
        prompt: str,
    ) -> None:
        self.store = store
        self.key = (comparison_id, round_index, slot)
        self.model_id = model_id
        self.prompt = prompt

    def _save(self, content: str, status: MessageStatus, **more: Any) -> None:
        comparison_id, round_index, slot = self.key
        self.store.save_comparison_answer(
            comparison_id,
            round_index=round_index,
            slot=slot,
            model=self.model_id,
            prompt=self.prompt,
            content=content,
            status=status.value,
            **more,
        )

    def checkpoint(self, text: str) -> None:
        self._save(text, MessageStatus.STREAMING)

    def checkpoint_parts(self, parts: Parts) -> None:
        self._save(text_of(parts), MessageStatus.STREAMING)

    def finish(self, answer: Answer, status: MessageStatus, usage: dict[str, Any] | None) -> None:
        # The parts too: an answer's tool calls (kept, not run) are not in its text.
        self._save(answer.text, status, error=answer.error, usage=usage, parts=answer.parts)


class Checkpoints:
    """When a streaming answer is next written to disk: at most every CHECKPOINT_INTERVAL_S."""

    def __init__(self) -> None:
        self.last = 0.0

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self.last < CHECKPOINT_INTERVAL_S:
            return False
        self.last = now
        return True

    def write_parts(self, row: AnswerRow, parts: Callable[[], Parts]) -> None:
        """A later step of a tool turn: the earlier steps' parts with this one's words."""
        if self._due():
            with contextlib.suppress(StoreError):
                row.checkpoint_parts(parts())

    def write(self, row: AnswerRow, text: Callable[[], str]) -> None:
        """``text`` is asked for only when a checkpoint is due (joining a long answer's pieces
        at every delta would cost more as it grows)."""
        if not self._due():
            return
        content = text()
        if not content:
            return
        # A checkpoint that cannot be written (disk full) does not stop the answer: the text
        # is on screen, and the finish tries again and says so if it fails.
        with contextlib.suppress(StoreError):
            row.checkpoint(content)


@dataclass(frozen=True)
class TurnStarted:
    """What the window shows when an answer begins, so it reads nothing back: the question
    (new, edited or the one regenerated) with its versions, and the answer's row and model."""

    conversation_id: int
    question: StoredMessage
    question_versions: Versions | None
    answer_id: int
    model_id: str
    #: The LoRA adapters the answer is written with (its label names them).
    adapters: tuple[Adapter, ...] = ()


@dataclass
class ChatTurn:
    """A turn in progress: its rows in the store, its prompt and the answer so far."""

    conversation_id: int
    question: StoredMessage
    answer_id: int
    model_id: str
    prompt: Prompt
    #: The title and branch end before this turn, put back if the turn is taken back.
    previous_title: str
    previous_leaf: int | None
    #: False when regenerating: the question existed before and stays.
    new_user: bool
    #: What the question follows (AT_LEAF, 0 for "first", or an edited question's parent).
    after: int
    #: Where the answer is kept.
    row: AnswerRow
    answer: Answer = field(default_factory=Answer)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    #: A tool turn's finished steps (the answer is then its latest step).
    steps: ToolSteps = field(default_factory=ToolSteps)
    #: The conversation the turn answers, without the turn's own earlier steps.
    base: Prompt | None = None
    #: The LoRA adapters its local model answers with (recorded on the answer's row).
    adapters: tuple[Adapter, ...] = ()

    @property
    def question_id(self) -> int:
        return self.question.id

    @property
    def question_text(self) -> str:
        return self.question.content


def finish_row(
    row: AnswerRow,
    answer: Answer,
    status: MessageStatus | None,
    cost_of: CostOf | None,
    model_id: str,
) -> MessageStatus:
    """Keep an answer as it ended, with its usage and (cloud) cost; ``status`` where the
    caller knows better than the source. Raises StoreError when it cannot be saved."""
    status = status or answer.status
    usage = None
    if answer.finished:
        usage = answer.usage.to_dict()
        if cost_of is not None:
            usage.update(cost_of(model_id, answer.usage))
    row.finish(answer, status, usage)
    return status


class TurnPipeline:
    """Saves turns of chats in one store; owns the question/answer rows' life cycle."""

    def __init__(
        self, store: ChatStore, cost_of: CostOf | None = None, image_root: str = ""
    ) -> None:
        self.store = store
        self.cost_of = cost_of
        #: Where the messages' pictures are stored (their prompts' image_root).
        self.image_root = image_root

    def begin(
        self,
        conversation: Conversation,
        path: Sequence[StoredMessage],
        model_id: str,
        sampling: SamplingParams,
        *,
        text: str | None = None,
        after: int | None = AT_LEAF,
        question: StoredMessage | None = None,
        images: Sequence[Image] = (),
        adapters: Sequence[Adapter] = (),
    ) -> ChatTurn:
        """Save the question (``text``, following ``after``) or take an existing one
        (``question``, to regenerate its answer) and add the answer's row, streaming.
        ``path``: the branch on screen, read once by the caller for the whole send."""
        cid = conversation.id
        previous_leaf = path[-1].id if path else None
        if question is None:
            assert text is not None
            if after is not None and after != AT_LEAF:
                upto = next((i + 1 for i, m in enumerate(path) if m.id == after), 0)
                earlier = list(path[:upto])
            else:
                earlier = list(path) if after == AT_LEAF else []
            parts: Parts | None = (*images, Text(text)) if images else None
            question = self.store.add_message(cid, Role.USER, text, parent_id=after, parts=parts)
            if conversation.title == NEW_CHAT_TITLE:
                picture = images[0].alt if images else ""
                self.store.rename_conversation(cid, title_for(text) or picture or "Picture")
        else:
            earlier = [m for m in path if m.id < question.id]
        answer = self.store.add_message(
            cid,
            Role.ASSISTANT,
            "",
            model=model_id,
            status=MessageStatus.STREAMING,
            parent_id=question.id,
            adapters=adapters,
        )
        prompt = plan_prompt(
            [*earlier, question], answer.id, chat_context(conversation), sampling, cid
        )
        if self.image_root:
            prompt = replace(prompt, image_root=self.image_root)
        return ChatTurn(
            cid,
            question,
            answer.id,
            model_id,
            prompt,
            conversation.title,
            previous_leaf,
            new_user=text is not None,
            after=(after if after is not None else 0) if text is not None else AT_LEAF,
            row=ChatAnswerRow(self.store, cid, answer.id),
            adapters=tuple(adapters),
        )

    def started(self, turn: ChatTurn) -> TurnStarted:
        versions = self.store.versions(turn.conversation_id).get(turn.question_id)
        return TurnStarted(
            turn.conversation_id,
            turn.question,
            versions,
            turn.answer_id,
            turn.model_id,
            turn.adapters,
        )

    def add(self, turn: ChatTurn, event: AnswerEvent) -> None:
        """Fold an event into the answer; now and then write the text so far to disk."""
        turn.answer.add(event)
        if isinstance(event, TextDelta):
            if turn.steps.count:  # a later tool step: its text joins the steps kept before it
                turn.checkpoints.write_parts(turn.row, lambda: turn.answer.parts)
            else:
                turn.checkpoints.write(turn.row, lambda: turn.answer.text)

    def next_step(self, turn: ChatTurn, results: list[ToolResult]) -> None:
        """The step's calls have their results: keep them (on disk at once: a crash keeps the
        calls that ran) and ask the model again with them."""
        base = turn.base = turn.base or turn.prompt
        turn.answer = turn.steps.close_step(turn.answer, results)
        # A forced call ("must call a tool") is for the first step only: after it the model
        # answers with the results (forced again, it would call again and again).
        turn.prompt = replace(
            base, messages=(*base.messages, turn.steps.prompt_message()), tool_choice=AUTO
        )
        with contextlib.suppress(StoreError):  # the finish tries again and says so
            turn.row.checkpoint_parts(tuple(turn.steps.parts))

    def end_at_limit(self, turn: ChatTurn, max_steps: int) -> None:
        """The step's calls will not run: the turn has had its model steps. It ends stopped,
        with a note, and a result for every call (or the chat's next request is refused)."""
        answer = turn.answer
        results = unanswered(answer.calls, "Not run: the turn reached its step limit.")
        turn.answer = turn.steps.close_step(answer, results)
        turn.answer.add(Finished(Usage(stop_reason=StopReason.CANCELLED)))
        turn.answer.error = step_limit_note(max_steps)
        turn.steps.limited = True

    def finish(self, turn: ChatTurn, status: MessageStatus | None = None) -> MessageStatus:
        """Save the answer as it ended (``status``: the caller knows better, e.g. Stop pressed
        while the source had not said yet). Raises StoreError when it cannot be saved."""
        answer = turn.answer
        if turn.steps.count and answer.finished:
            answer.usage = turn.steps.turn_usage(answer)
        if turn.steps.limited and status is None:
            status = MessageStatus.STOPPED  # with the limit's note, not "failed"
        return finish_row(turn.row, answer, status, self.cost_of, turn.model_id)

    def take_back(self, turn: ChatTurn) -> None:
        """An unsent turn leaves no trace: its rows go, the branch and title are as before."""
        self.store.delete_message(turn.answer_id)
        if turn.new_user:
            self.store.delete_message(turn.question_id)
        if turn.previous_leaf is not None:
            self.store.show_version(turn.previous_leaf)
        self.store.rename_conversation(turn.conversation_id, turn.previous_title)

    def run(
        self,
        turn: ChatTurn,
        source: AnswerSource,
        on_event: Callable[[AnswerEvent], None] | None = None,
    ) -> Answer:
        """Stream the answer from ``source`` on this thread, saving as it goes (the caller
        finishes or takes back the turn: it decides what a Ctrl+C or an overflow means)."""
        for event in source.answer(turn.prompt):
            if on_event is not None:
                on_event(event)
            self.add(turn, event)
        return turn.answer

    def run_with_tools(
        self,
        turn: ChatTurn,
        source: AnswerSource,
        box: ToolBox,
        on_event: Callable[[AnswerEvent], None] | None = None,
        on_result: Callable[[ToolResult], None] | None = None,
    ) -> Answer:
        """Model steps and tool calls until the model answers without calling, Stop, a
        failure, or ``box.max_steps`` steps (then the answer says so). Each call is put to
        the box's gate first; its result goes back to the model."""
        turn.prompt = replace(turn.prompt, tools=tuple(box.specs), tool_choice=box.choice)
        while True:
            answer = self.run(turn, source, on_event)
            if not needs_results(answer):
                return answer
            box.resolve(answer.calls)
            if turn.steps.count + 1 >= box.max_steps:
                self.end_at_limit(turn, box.max_steps)
                return turn.answer
            results = []
            for call in answer.calls:
                result = box.run(call)
                results.append(result)
                if on_result is not None:
                    on_result(result)
            self.next_step(turn, results)
            if box.stopped:
                turn.answer.finished = True
                turn.answer.usage = replace(answer.usage, stop_reason=StopReason.CANCELLED)
                return turn.answer
