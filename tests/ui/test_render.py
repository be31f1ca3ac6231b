"""Markdown rendering of model output: formatting kept, nothing fetched, no raw HTML."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from desktop.ui.chat_view import ChatView
from desktop.ui.render import copied_text, markdown_to_html, plain_to_html
from tests.ui.driving import click_link


def test_code_blocks_are_monospace_and_escaped() -> None:
    out = markdown_to_html("Look:\n\n```\nif a < b:\n    print('x')\n```")
    assert "monospace" in out
    assert "if a &lt; b:" in out  # no language: escaped, not coloured
    assert ">python</small>" in markdown_to_html("```python\nx = 1\n```")  # in its bar


def test_tables_headings_lists_links() -> None:
    out = markdown_to_html(
        "# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[site](https://example.org)"
    )
    for tag in ("<h1>", "<li>", "<table ", "<td>", 'href="https://example.org"'):
        assert tag in out


def test_images_are_never_loaded_and_html_is_escaped() -> None:
    out = markdown_to_html("![pixel](https://tracker.example/p.gif) <img src='x'> <script>")
    assert "<img" not in out
    assert "[image: pixel]" in out
    assert "&lt;script&gt;" in out


def test_user_text_shown_as_typed() -> None:
    assert plain_to_html("a < b\n**not bold**") == "a &lt; b<br/>**not bold**"


def test_code_is_highlighted_and_copy_links_are_ours_only() -> None:
    code = 'if a < b:\n    print("x")  # hi'
    out = markdown_to_html(f"```python\n{code}\n```")
    assert '<span style="color:#859900">if</span>' in out  # a keyword, coloured
    assert "&lt;" in out and "<script" not in out
    href = out.split('href="', 1)[1].split('"', 1)[0]
    assert copied_text(href) == code
    # A model cannot make a Copy link of its own (it would put a command on the clipboard).
    forged = markdown_to_html("[Copy](llamaside-copy:0000000000000000:ZWNobyBodWg=)")
    forged_href = forged.split('href="', 1)[1].split('"', 1)[0]
    assert copied_text(forged_href) is None
    plain = markdown_to_html("```klingon\nqapla' <b>\n```")
    assert "qapla&#x27; &lt;b&gt;" in plain and "<span style" not in plain


def test_math_is_monospace_and_money_is_not_math() -> None:
    out = markdown_to_html("Energy $E=mc^2$ costs $5 and $6.\n\n$$\n\\int_0^1 x\\,dx\n$$")
    assert 'monospace">E=mc^2</code>' in out
    assert "costs $5 and $6." in out
    assert "\\int_0^1 x\\,dx</pre>" in out


def test_copy_link_puts_the_code_on_the_clipboard(qtbot: QtBot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    code = "```sh\nrm -rf build/\n```"
    html_text = markdown_to_html(code)
    href = html_text.split('href="', 1)[1].split('"', 1)[0]
    forged = "llamaside-copy:forged:ZWNobyBodWg="
    # An answer with the code's Copy link, a look-alike the model wrote, and a web link.
    text = f"{code}\n\n[Copy]({forged})\n\n[a site](https://example.org)"
    view.begin_answer(1, "Model")
    view.append_answer_text(text)
    view.finish_answer(text, "complete")
    view.finish_rendering()
    links: list[QUrl] = []
    view.link_requested.connect(links.append)
    with qtbot.waitSignal(view.copied):
        click_link(view, href)
    assert QGuiApplication.clipboard().text() == "rm -rf build/"
    click_link(view, forged)
    assert QGuiApplication.clipboard().text() == "rm -rf build/" and links == []
    click_link(view, "https://example.org")
    assert [u.toString() for u in links] == ["https://example.org"]
