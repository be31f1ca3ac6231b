"""The answer shape every source shares and the context a chat sends: pure functions on real
records (no engine, no store)."""

from __future__ import annotations

from desktop.core.answer import (
    Answer,
    Failed,
    Finished,
    Overflow,
    Prompt,
    PromptMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
)
from desktop.core.chat_records import StoredMessage
from desktop.core.context import ChatContext, drop_plan, plan_prompt, title_for
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Reasoning, Text, ToolCall
from desktop.core.usage import StopReason, Usage


def said(
    id_: int,
    role: Role,
    text: str,
    status: MessageStatus = MessageStatus.COMPLETE,
    reasoning: str = "",
) -> StoredMessage:
    parts = (Reasoning(reasoning), Text(text)) if reasoning else (Text(text),)
    return StoredMessage(id_, 1, role, text, None, status, None, None, "", None, parts)


def test_events_fold_into_one_answer_with_its_parts() -> None:
    answer = Answer()
    call = ToolCall("c1", "weather", '{"city": "Lima"}')
    for event in (
        ReasoningDelta("Think"),
        ReasoningDelta("ing."),
        TextDelta("Hel", 1),
        TextDelta("lo", 2),
        ToolCallEvent(call),
        Finished(Usage(output_tokens=2, stop_reason=StopReason.LENGTH)),
    ):
        answer.add(event)
    assert (answer.text, answer.reasoning, answer.tokens) == ("Hello", "Thinking.", 2)
    assert answer.parts == (Reasoning("Thinking."), Text("Hello"), call)
    assert answer.finished and answer.status == MessageStatus.COMPLETE


def test_how_an_answer_ended_is_its_status() -> None:
    stopped = Answer()
    stopped.add(Finished(Usage(stop_reason=StopReason.CANCELLED)))
    assert stopped.stopped and stopped.status == MessageStatus.STOPPED
    failed = Answer()
    failed.add(TextDelta("Half"))
    failed.add(Failed("The connection broke.", Overflow(10, 5, True), "x"))
    assert failed.status == MessageStatus.FAILED and failed.text == "Half"
    assert failed.overflow == Overflow(10, 5, True) and not failed.finished
    assert Answer().status == MessageStatus.STOPPED  # ended with no word from the source


def test_a_prompt_sends_words_not_thinking() -> None:
    prompt = Prompt(
        (
            PromptMessage(Role.USER, (Text("Hi"),)),
            PromptMessage(Role.ASSISTANT, (Reasoning("hidden"), Text("Hello"))),
        ),
        SamplingParams(),
        "Be brief.",
    )
    assert prompt.wire() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    again = Prompt.from_wire(prompt.wire(), SamplingParams())
    assert again.system == "Be brief." and again.wire() == prompt.wire()


def test_the_context_skips_failed_answers_with_their_question_and_dropped_turns() -> None:
    path = [
        said(1, Role.USER, "old question"),
        said(2, Role.ASSISTANT, "old answer"),
        said(3, Role.USER, "failed question"),
        said(4, Role.ASSISTANT, "", MessageStatus.FAILED),
        said(5, Role.USER, "kept question"),
        said(6, Role.ASSISTANT, "kept answer", reasoning="thought"),
        said(7, Role.USER, "new question"),
    ]
    context = ChatContext("System.", context_from=3, summary="They said hello.")
    prompt = plan_prompt(path, 8, context, SamplingParams(), 42)
    assert [m.text for m in prompt.messages] == ["kept question", "kept answer", "new question"]
    assert "They said hello." in prompt.system and prompt.system.startswith("System.")
    assert all(not isinstance(p, Reasoning) for m in prompt.messages for p in m.parts)
    assert prompt.conversation_id == 42
    # Regenerating an answer from before context_from still sends its question.
    early = plan_prompt(path, 2, context, SamplingParams())
    assert [m.text for m in early.messages] == ["old question"]


def test_dropping_begins_at_a_question_and_never_sends_dropped_turns_again() -> None:
    path = [said(i, Role.USER if i % 2 else Role.ASSISTANT, "x" * 100) for i in range(1, 11)]
    plan = drop_plan(path, ChatContext(), n_tokens=1000, limit=1000, new_text="y" * 100)
    assert path[plan.dropped].role == Role.USER or plan.dropped == len(path)
    assert plan.first_kept == path[plan.dropped].id
    assert 0 < plan.dropped < len(path)
    again = drop_plan(path, ChatContext(context_from=9), n_tokens=10, limit=1000, new_text="")
    assert again.first_kept >= 9


def test_a_new_chat_is_named_by_its_first_line() -> None:
    assert title_for("  What is\n the   capital of France?  ") == "What is the capital of France?"
    assert len(title_for("word " * 40)) == 48
