"""Markdown from models to the HTML subset QTextDocument shows, safely.

Model output is untrusted text: raw HTML is escaped, and images are never loaded (a markdown
image is a tracking pixel); they become a visible link the user may choose to open.

Code blocks are highlighted with Pygments (inline colours: QTextDocument has no stylesheet
classes) under a bar with their language and a Copy link; TeX math ($...$, $$...$$) is shown
as monospace text.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
from collections.abc import Sequence
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import lex
from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import Token as PygmentsToken
from pygments.token import _TokenType
from pygments.util import ClassNotFound

MONO = "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"
#: Accent colours that read on light and dark backgrounds alike (Solarized's); plain text
#: keeps the document's own colour, so it follows the theme.
CODE_STYLE = "solarized-light"
COPY_SCHEME = "llamaside-copy"
ACTION_SCHEME = "llamaside-action"
#: Only Copy links made here carry this; a model writing a llamaside-copy: link of its own
#: (to put a command on the clipboard) does not know it.
_COPY_TOKEN = secrets.token_hex(8)
#: Past this size a block is shown without colours (highlighting is the slow part).
HIGHLIGHT_LIMIT = 50_000


#: Token kinds left in the text colour (Solarized's greys for them vanish on a dark theme).
_PLAIN = (PygmentsToken.Text, PygmentsToken.Name, PygmentsToken.Punctuation)


@cache
def _colour(token_type: _TokenType) -> str:
    style = get_style_by_name(CODE_STYLE)
    current: _TokenType | None = token_type
    while current is not None and current is not PygmentsToken:
        spec = style.style_for_token(current)
        if spec.get("color") and current not in _PLAIN:
            return f"#{spec['color']}"
        current = current.parent
    return ""


def highlight(code: str, lang: str) -> str:
    """HTML for a code block's text: coloured spans when the language is known."""
    if not lang or len(code) > HIGHLIGHT_LIMIT:
        return html.escape(code)
    try:
        lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return html.escape(code)
    out = []
    for token_type, value in lex(code, lexer):
        colour = _colour(token_type) if value.strip() else ""
        text = html.escape(value)
        out.append(f'<span style="color:{colour}">{text}</span>' if colour else text)
    return "".join(out)


def copy_href(code: str) -> str:
    payload = base64.urlsafe_b64encode(code.encode("utf-8")).decode("ascii")
    return f"{COPY_SCHEME}:{_COPY_TOKEN}:{payload}"


def copied_text(href: str) -> str | None:
    """The code a Copy link stands for, or None if the link is not one of ours."""
    scheme, _, rest = href.partition(":")
    token, _, payload = rest.partition(":")
    if scheme != COPY_SCHEME or not secrets.compare_digest(token, _COPY_TOKEN):
        return None
    try:
        return base64.urlsafe_b64decode(payload.encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error):
        return None


def action_href(kind: str, message_id: int, target: int = 0) -> str:
    """A link for the app's own controls under a message (edit, regenerate, versions)."""
    return f"{ACTION_SCHEME}:{_COPY_TOKEN}:{kind}:{message_id}:{target}"


def parse_action(href: str) -> tuple[str, int, int] | None:
    """(kind, message id, target) of one of our control links; None for anything else,
    including look-alike links in a model's answer (they lack this run's token)."""
    parts = href.split(":")
    if len(parts) != 5 or parts[0] != ACTION_SCHEME:
        return None
    if not secrets.compare_digest(parts[1], _COPY_TOKEN):
        return None
    try:
        return parts[2], int(parts[3]), int(parts[4])
    except ValueError:
        return None


#: A code block's header bar and body: greys over the card, so both themes read.
_BAR = "rgba(127,127,127,0.22)"
_BODY = "rgba(127,127,127,0.12)"


def _fence(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    token = tokens[idx]
    source = token.content.rstrip("\n")
    lang = token.info.strip().split(" ")[0] if token.info else ""
    # A bar above the code: its language, and Copy as a button-like link at the right.
    copy = (
        f'<a href="{copy_href(source)}" style="text-decoration:none; font-weight:600">'
        "&nbsp;Copy&nbsp;</a>"
    )
    bar = (
        # The label in the text's colour (it follows the theme); a style on the cell beyond
        # its background would shade the text's background a second time.
        f'<tr><td style="background-color:{_BAR}">'
        f"<small>{html.escape(lang or 'code')}</small></td>"
        f'<td align="right" style="background-color:{_BAR}; font-size:small">{copy}</td></tr>'
    )
    # A table is the QTextDocument way to get a shaded, padded block (the table's colour
    # fills the cells' padding; a cell's own colour does not).
    return (
        f'<table width="100%" cellpadding="7" cellspacing="0" '
        f'style="background-color:{_BODY}; margin-top:4px">{bar}'
        f'<tr><td colspan="2"><pre style="font-family:{MONO}; margin:0">'
        f"{highlight(source, lang)}</pre></td></tr></table>"
    )


def _table_open(_tokens: Sequence[Token], _idx: int, _options: OptionsDict, _env: EnvType) -> str:
    # QTextDocument draws no cell borders or padding unless the table asks for them.
    return (
        '<table border="1" cellspacing="0" cellpadding="5" '
        'style="border-color:rgba(127,127,127,0.45); border-style:solid">'
    )


def _math_inline(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    return f'<code style="font-family:{MONO}">{html.escape(tokens[idx].content)}</code>'


def _math_block(tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType) -> str:
    return (
        f'<pre style="font-family:{MONO}; margin-left:24px">'
        f"{html.escape(tokens[idx].content.strip())}</pre>"
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
    # Pandoc's rules: "$5 and $6" is money, not math.
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    renderer: Any = md.renderer
    rules = renderer.rules
    rules["fence"] = _fence
    rules["code_block"] = _fence
    rules["code_inline"] = _code_inline
    rules["image"] = _image
    rules["table_open"] = _table_open
    rules["math_inline"] = _math_inline
    rules["math_inline_double"] = _math_block
    rules["math_block"] = _math_block
    rules["math_block_label"] = _math_block
    return md


_MD = _build()


def markdown_to_html(text: str) -> str:
    """Render one message's markdown to HTML for QTextDocument."""
    return str(_MD.render(text))


def plain_to_html(text: str) -> str:
    """User messages are shown as typed: escaped, line breaks kept."""
    return html.escape(text).replace("\n", "<br/>")


#: A reference definition ("[label]: url"): it may serve a link anywhere in the message.
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:", re.M)
#: A line that cannot start a part: indented (code, or a list item's continuation), a list
#: item (a part boundary would split the list, changing its spacing), a table row, a quote.
_CONTINUES = re.compile(r"[ \t]|[-*+](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|>|.*\|")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")


def markdown_parts(text: str, size: int) -> list[str]:
    """Split one message's Markdown into consecutive parts of about ``size`` characters that
    render, one by one, to what the whole renders to: each part ends at a blank line between
    top-level blocks, never inside a code block, math block, list, table or quote. The parts
    joined are ``text``. One part (the whole) when no such split exists, or when the message
    has reference definitions (a link in one part may be defined in another)."""
    if len(text) <= size or _REFERENCE.search(text):
        return [text]
    parts: list[str] = []
    start = 0
    position = 0
    fence = ""
    math = False
    blank_before = False
    for line in text.splitlines(keepends=True):
        if (
            blank_before
            and not fence
            and not math
            and position - start >= size
            and not _CONTINUES.match(line)
        ):
            parts.append(text[start:position])
            start = position
        position += len(line)
        stripped = line.strip()
        opened = _FENCE.match(line)
        if fence:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$")):
            math = not math
        blank_before = not stripped
    parts.append(text[start:])
    return [part for part in parts if part]
