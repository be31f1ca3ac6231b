"""Markdown rendering of model output: formatting kept, nothing fetched, no raw HTML."""

from __future__ import annotations

from desktop.ui.render import markdown_to_html, plain_to_html


def test_code_blocks_are_monospace_and_escaped() -> None:
    out = markdown_to_html("Look:\n\n```python\nif a < b:\n    print('x')\n```")
    assert "monospace" in out
    assert "if a &lt; b:" in out
    assert ">python<" in out


def test_tables_headings_lists_links() -> None:
    out = markdown_to_html(
        "# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[site](https://example.org)"
    )
    for tag in ("<h1>", "<li>", "<table>", "<td>", 'href="https://example.org"'):
        assert tag in out


def test_images_are_never_loaded_and_html_is_escaped() -> None:
    out = markdown_to_html("![pixel](https://tracker.example/p.gif) <img src='x'> <script>")
    assert "<img" not in out
    assert "[image: pixel]" in out
    assert "&lt;script&gt;" in out


def test_user_text_shown_as_typed() -> None:
    assert plain_to_html("a < b\n**not bold**") == "a &lt; b<br/>**not bold**"
