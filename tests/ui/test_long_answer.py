"""A long answer's end-of-answer render, offscreen: done a part at a time over event-loop turns
(so the window keeps answering), it makes the same document as rendering the answer whole;
anything that changes the document meanwhile (a new question, another answer, another chat)
finds the answer complete or drops it; text that differs from what was streamed renders whole."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus, Role
from desktop.storage.store import StoredMessage
from desktop.ui import chat_view, message_html
from desktop.ui.chat_view import ChatView
from desktop.ui.render import markdown_parts

MODEL = "local:smollm2-135m-instruct"

SECTION = """### Part {i}

The **llama** (*Lama glama*) is a domesticated camelid 😀; see `herd.load` for the weights.

```python
def carry(kg: float) -> None:

    if kg > 30:
        raise ValueError("too heavy")
```

Things to keep in mind:

1. A llama carries about 25-30% of its body weight.
2. They walk 20-30 km a day.

   A second paragraph in the second item.

- Give them water.
- Check their feet.

| trait | llama |
|---|---|
| height | 1.7 m |

> A lone llama is an unhappy llama.
> They hum.

Setext title {i}
================

$$
a^2 + b^2
$$

---

"""


def long_answer(sections: int = 12) -> str:
    return "".join(SECTION.format(i=i) for i in range(sections)) + "The end."


@pytest.fixture(autouse=True)
def _one_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """One time on every header: documents compared across a minute's turn differed (19:17
    against 19:18)."""
    monkeypatch.setattr(message_html, "_clock", lambda _created: "09:15")


def streamed(qtbot: QtBot, text: str) -> ChatView:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    view.append_user("Tell me about llamas.")
    view.begin_answer(1, "SmolLM2", MODEL)
    for i in range(0, len(text), 7):
        view.append_answer_text(text[i : i + 7])
    return view


def in_small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of ~400 characters, one per event-loop turn: many turns, whatever the machine."""
    monkeypatch.setattr(chat_view, "PROGRESSIVE_RENDER_CHARS", 1_000)
    monkeypatch.setattr(chat_view, "RENDER_PART_CHARS", 400)
    monkeypatch.setattr(chat_view, "RENDER_SLICE_S", 0.0)


def eager_html(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, text: str, footer: str) -> str:
    """The document when the answer is rendered whole, in one call."""
    with monkeypatch.context() as patch:
        patch.setattr(chat_view, "PROGRESSIVE_RENDER_CHARS", len(text) + 1)
        view = streamed(qtbot, text)
        view.finish_answer(text, "stopped", "by you", footer)
        assert not view.rendering
        return view.toHtml()


def test_parts_join_to_the_text_and_split_only_between_blocks() -> None:
    text = long_answer()
    parts = markdown_parts(text, 300)
    assert len(parts) > 10 and "".join(parts) == text
    for part in parts[1:]:
        # Never inside a code block, list, table, quote or math block.
        assert not part.startswith((" ", "-", "|", ">", "$$", "1.", "2.", "    "))
        assert part.count("```") % 2 == 0
    assert markdown_parts(text, len(text)) == [text]
    with_reference = text + "\n\n[docs]: https://example.org\n"
    assert markdown_parts(with_reference, 300) == [with_reference]


def test_a_long_answer_renders_in_parts_to_the_document_a_whole_render_makes(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = long_answer()
    footer = '<p style="color:#888">42 tokens</p>'
    expected = eager_html(qtbot, monkeypatch, text, footer)
    in_small_parts(monkeypatch)
    view = streamed(qtbot, text)
    view.finish_answer(text, "stopped", "by you", footer)
    assert view.rendering and view.streaming_answer_id is None
    qtbot.waitUntil(lambda: not view.rendering, timeout=10_000)
    assert view.toHtml() == expected
    plain = view.toPlainText()
    assert "```" not in plain and "**" not in plain
    assert plain.rstrip().endswith("42 tokens") and "Stopped: by you" in plain


def test_a_new_question_while_rendering_comes_after_the_whole_answer(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = long_answer()
    expected = eager_html(qtbot, monkeypatch, text, "")
    in_small_parts(monkeypatch)
    view = streamed(qtbot, text)
    view.finish_answer(text, "stopped", "by you")
    assert view.rendering
    view.finish_rendering()
    assert not view.rendering and view.toHtml() == expected

    second = streamed(qtbot, text)
    second.finish_answer(text, "complete")
    assert second.rendering
    second.append_user("And alpacas?")  # the answer above is completed first
    assert not second.rendering
    plain = second.toPlainText()
    assert plain.rstrip().endswith("And alpacas?") and "```" not in plain
    second.begin_answer(2, "SmolLM2", MODEL)
    second.append_answer_text("Also **nice**.")
    second.finish_answer("Also **nice**.", "complete")
    assert second.toPlainText().rstrip().endswith("Also nice.")


def test_another_chat_shown_while_rendering_drops_the_rest(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_small_parts(monkeypatch)
    text = long_answer()
    view = streamed(qtbot, text)
    view.finish_answer(text, "complete")
    assert view.rendering
    other = StoredMessage(
        7, 2, Role.USER, "Hello there", None, MessageStatus.COMPLETE, None, None, "2025-01-01"
    )
    view.show_messages([other], {})
    assert not view.rendering
    qtbot.wait(50)  # a render turn already queued finds nothing to do
    assert "Hello there" in view.toPlainText() and "llama" not in view.toPlainText()


def test_text_other_than_what_was_streamed_renders_whole(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_small_parts(monkeypatch)
    text = long_answer()
    view = streamed(qtbot, text[:500])  # e.g. the stored answer has more than was shown
    view.finish_answer(text, "complete")
    assert not view.rendering
    plain = view.toPlainText()
    assert "Part 11" in plain and "```" not in plain and plain.rstrip().endswith("The end.")
