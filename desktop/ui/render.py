"""Markdown from models to the HTML subset QTextDocument shows, safely.

Model output is untrusted text: raw HTML is escaped, and images are never loaded (a markdown
image is a tracking pixel); they become a visible link the user may choose to open.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

MONO = "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"


def _fence(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    token = tokens[idx]
    code = html.escape(token.content.rstrip("\n"))
    lang = html.escape(token.info.strip().split(" ")[0]) if token.info else ""
    label = f'<div style="color:#888; font-size:small">{lang}</div>' if lang else ""
    # A one-cell table is the QTextDocument way to get a shaded, padded block.
    return (
        f'{label}<table width="100%" cellpadding="8" cellspacing="0" '
        f'style="background-color:rgba(127,127,127,0.14)"><tr><td>'
        f'<pre style="font-family:{MONO}; margin:0">{code}</pre></td></tr></table>'
    )


def _code_inline(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    return (
        f'<code style="font-family:{MONO}; background-color:rgba(127,127,127,0.16)">'
        f"{html.escape(tokens[idx].content)}</code>"
    )


def _image(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    token = tokens[idx]
    src = html.escape(str(token.attrGet("src") or ""), quote=True)
    alt = html.escape(token.content or "image")
    return f'<a href="{src}">[image: {alt}]</a>'


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")
    renderer: Any = md.renderer
    rules = renderer.rules
    rules["fence"] = _fence
    rules["code_block"] = _fence
    rules["code_inline"] = _code_inline
    rules["image"] = _image
    return md


_MD = _build()


def markdown_to_html(text: str) -> str:
    """Render one message's markdown to HTML for QTextDocument."""
    return str(_MD.render(text))


def plain_to_html(text: str) -> str:
    """User messages are shown as typed: escaped, line breaks kept."""
    return html.escape(text).replace("\n", "<br/>")
