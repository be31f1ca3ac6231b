"""Summarising the oldest turns of an outgrown chat, with the real engine: the summary is
written by the model, sent in place of those turns, and Stop or a failure changes nothing."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.core import summary as summaries
from desktop.core.messages import Role
from desktop.core.params import LoadParams
from desktop.services.chat import ChatService

TIMEOUT_MS = 60_000


def long_chat(chat: ChatService) -> int:
    conv = chat.store.create_conversation("Long one")
    for i in range(8):
        chat.store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        chat.store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model="local:x"
        )
    return conv.id


def outgrow(
    chat: ChatService, qtbot: QtBot, conversation_id: int
) -> tuple[int, str, int, int, int]:
    with qtbot.waitSignal(chat.outgrown, timeout=TIMEOUT_MS) as outgrown:
        chat.send(conversation_id, "And alpacas?")
    assert outgrown.args is not None
    conversation, text, n_tokens, limit, after, _images = outgrown.args
    return conversation, text, n_tokens, limit, after


def test_summarising_the_oldest_turns_sends_their_summary_instead(
    chat: ChatService, qtbot: QtBot
) -> None:
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    conv = long_chat(chat)
    _c, text, n_tokens, limit, after = outgrow(chat, qtbot, conv)
    busy: list[bool] = []
    chat.busy_changed.connect(busy.append)
    with qtbot.waitSignal(chat.summarised, timeout=TIMEOUT_MS) as done:
        assert chat.summarise_oldest(conv, n_tokens, limit, text, after)
        assert chat.busy  # Send is disabled while the summary is written
    assert done.args == [conv, "And alpacas?", after, ()]
    assert busy == [True, False]
    conversation = chat.store.get_conversation(conv)
    summary = conversation.context_summary
    assert summary.strip()
    assert conversation.context_from > chat.store.messages(conv)[0].id
    # What the model is given now: the summary in the system message, then the newer turns.
    sent = chat.context_messages(conv, 10**9)
    assert sent[0]["role"] == "system"
    assert summaries.HEADING in sent[0]["content"] and summary.strip() in sent[0]["content"]
    assert sent[1]["content"].startswith("Question ") and not sent[1]["content"].startswith(
        "Question 0"
    )
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, text)
    assert finished.args is not None and finished.args[2] == "complete"
    assert len(chat.store.messages(conv)) == 18  # every message is still in the history


def test_stopping_the_summary_gives_the_text_back_and_changes_nothing(
    chat: ChatService, qtbot: QtBot
) -> None:
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    conv = long_chat(chat)
    _c, text, n_tokens, limit, after = outgrow(chat, qtbot, conv)
    before = chat.store.get_conversation(conv)
    with qtbot.waitSignal(chat.rejected, timeout=TIMEOUT_MS) as rejected:
        assert chat.summarise_oldest(conv, n_tokens, limit, text, after)
        chat.stop()
    assert rejected.args is not None
    assert rejected.args[:2] == [conv, "And alpacas?"]
    assert "stopped" in rejected.args[2]
    after_stop = chat.store.get_conversation(conv)
    assert (after_stop.context_from, after_stop.context_summary) == (
        before.context_from,
        before.context_summary,
    )
    assert not chat.busy
    assert len(chat.store.messages(conv)) == 16


def test_summarising_needs_the_model_loaded(chat: ChatService, qtbot: QtBot) -> None:
    conv = long_chat(chat)
    with qtbot.waitSignal(chat.rejected, timeout=5_000) as rejected:
        assert not chat.summarise_oldest(conv, 1000, 256, "Next?", -1)
    assert rejected.args is not None and rejected.args[1] == "Next?"
    assert chat.store.get_conversation(conv).context_summary == ""


def test_transcript_keeps_every_turn_when_it_must_be_shortened() -> None:
    turns = [(Role.USER, f"Q{i} " + "x" * 1000 + f" end{i}") for i in range(10)]
    text = summaries.transcript(turns, previous="Earlier facts.", max_chars=2000)
    assert len(text) <= 2000
    assert text.startswith("Earlier summary: Earlier facts.")
    for i in range(10):
        assert f"User: Q{i}" in text and f"end{i}" in text  # head and tail of each turn
    short = summaries.transcript([(Role.ASSISTANT, "Hi.")])
    assert short == "Assistant: Hi."
    assert summaries.with_summary("", "S") == f"{summaries.HEADING}\nS"
    assert summaries.with_summary("Be brief.", "S").startswith("Be brief.\n\n")
    assert summaries.with_summary("Be brief.", "  ") == "Be brief."
