"""The conversation as a scrolling document: rendered messages plus the answer being streamed.

Streaming cost: each new piece of text is inserted at the end of the document with a cursor
(plain text, O(piece)); nothing already shown is re-laid out or re-rendered. When the answer
ends, only that answer's range is replaced by its rendered Markdown. So the 5,000th word costs
what the 5th did.

Ending cost: rendering a long answer whole (Markdown, then Qt's HTML import and layout, all on
the GUI thread) takes many frames. So a long answer is rendered a part at a time
(render.markdown_parts: splits between top-level blocks), each part replacing its own plain
text, a few parts per event-loop turn: the window keeps answering, and the result is the same
document the whole render gives.

Huge answers: past SHOWN_LIMIT characters the rest of an answer is saved but not shown, and a
streamed piece longer than STREAM_SLICE_CHARS (one 10 MB event from a hostile server) goes in
a slice per event-loop turn: Qt's plain-text layout of megabytes in one piece would freeze the
window (docs/reliability.md).

Opening cost: a conversation opens with only its latest messages rendered (FIRST_RENDER);
older ones are rendered a batch at a time, inserted above, when the user scrolls to the top or
clicks "Show earlier messages", so a 5,000-message chat opens as fast as a short one.
"""

from __future__ import annotations

import html
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QGuiApplication,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

from desktop.core.chat_records import StoredMessage, Versions
from desktop.core.messages import MessageStatus, Role
from desktop.core.models import is_local_id
from desktop.core.parts import Reasoning, Text, placeholder
from desktop.core.pricing import cost_text
from desktop.ui.render import (
    ACTION_SCHEME,
    COPY_SCHEME,
    action_href,
    copied_text,
    markdown_parts,
    markdown_to_html,
    parse_action,
    plain_to_html,
)

MESSAGE_GAP_PX = 14
#: Where an answer will stream while its model thinks (one UTF-16 unit a character).
THINKING = "Thinking…"
#: Messages rendered when a conversation opens: enough to fill any window, few enough to
#: render in milliseconds (a 5,000-message chat whole takes seconds).
FIRST_RENDER = 50
#: Older messages rendered at a time when the user scrolls to the top or asks for them.
EARLIER_BATCH = 100
#: The "Show earlier messages" link's action, handled by the view itself.
EARLIER = "earlier"
#: An answer longer than this (characters) is rendered a part at a time when it ends; a
#: shorter one renders whole within a couple of frames.
PROGRESSIVE_RENDER_CHARS = 4_000
#: Past this many characters an answer is shown as plain text, not formatted: Qt's rich-text
#: layout of a 50,000-row table takes tens of seconds, and a model can write one.
RICH_TEXT_LIMIT = 200_000
#: Longest line shown unbroken. Qt lays a paragraph out in time that grows faster than its
#: length, so longer lines are shown broken.
LINE_LIMIT = 5_000
OVERSIZE_NOTE = (
    '<p style="color:#808080"><i>Shown as plain text{details}: this answer is too large to '
    "format without freezing the window. The saved text is complete (File → Export).</i></p>"
)
#: Characters of one answer the view shows at most (about 500,000 tokens: no real answer is
#: longer): Qt's plain-text layout time grows with the text, and a hostile server's has no end.
SHOWN_LIMIT = 2_000_000
#: What the view shows where an answer's text stops being shown.
CUT_MARK = "\n\n[…] (the rest is not shown: too long for this window; it is saved in full)"
#: A streamed piece longer than this goes in a slice per event-loop turn (~10-20 ms of layout
#: each), so that the window keeps painting and taking clicks meanwhile.
STREAM_SLICE_CHARS = 20_000


#: Where an oversized stored answer's text goes in, when a chat is opened: private-use
#: characters, found and removed right after the HTML is set (an answer holding them is not
#: deferred). Its text is then inserted FILL_SLICE_CHARS at a time, one slice per event-loop
#: turn, as a huge streamed piece is: in the HTML at once it would hold the window in one stall.
FILL_MARK = "\ue000\ue001\ue002"
FILL_SLICE_CHARS = 20_000


def break_long_lines(text: str, limit: int = LINE_LIMIT, run: int = 0) -> tuple[str, int]:
    """``text`` with a line break inserted in every line longer than ``limit`` (for display
    only), and the length of the last line so far (``run``: the line already shown)."""
    out: list[str] = []
    for index, line in enumerate(text.split("\n")):
        if index:
            out.append("\n")
            run = 0
        rest = line
        while run + len(rest) > limit:
            take = limit - run
            out += [rest[:take], "\n"]
            rest = rest[take:]
            run = 0
        out.append(rest)
        run += len(rest)
    return "".join(out), run


def oversized(text: str) -> bool:
    """Too large to format: beyond RICH_TEXT_LIMIT, or with a line beyond LINE_LIMIT."""
    return len(text) > RICH_TEXT_LIMIT or any(len(line) > LINE_LIMIT for line in text.split("\n"))


def shown_text(text: str) -> str:
    """What the view shows of an oversized answer: at most SHOWN_LIMIT characters, long
    lines broken, and the mark where the rest is left out."""
    shown, _run = break_long_lines(text[:SHOWN_LIMIT])
    return shown + CUT_MARK if len(text) > SHOWN_LIMIT else shown


def _oversize_note(text: str) -> str:
    details = ""
    if any(len(line) > LINE_LIMIT for line in text[:SHOWN_LIMIT].split("\n")):
        details += ", long lines broken"
    if len(text) > SHOWN_LIMIT:
        details += f", only its first {SHOWN_LIMIT:,} of {len(text):,} characters"
    return OVERSIZE_NOTE.format(details=details)


#: Characters of Markdown per part: about 10 ms to render, import and lay out.
RENDER_PART_CHARS = 2_000
#: Parts are rendered in one event-loop turn until this much time has gone (then Qt paints).
RENDER_SLICE_S = 0.008

_STATUS_NOTE = {
    MessageStatus.STOPPED.value: "Stopped",
    MessageStatus.FAILED.value: "Failed",
    MessageStatus.INTERRUPTED.value: "Interrupted (the app closed while answering)",
    MessageStatus.STREAMING.value: "Interrupted",
}


LOCAL_COLOUR = "#1e8449"
CLOUD_COLOUR = "#b9770e"


def _header(who: str, colour: str, badge: str = "") -> str:
    mark = f' <span style="color:{colour}; font-size:small">{badge}</span>' if badge else ""
    return (
        f'<p style="margin-top:14px; margin-bottom:2px"><b style="color:{colour}">'
        f"{html.escape(who)}</b>{mark}</p>"
    )


def answer_header(who: str, model_id: str | None) -> str:
    """The answer's name with where it was answered: this computer, or a provider."""
    if is_local_id(model_id):
        return _header(who, LOCAL_COLOUR, "· local")
    return _header(who, CLOUD_COLOUR, "· ☁ cloud")


#: The action link that opens an answer's thinking.
THOUGHTS_ACTION = "thoughts"


def thinking_line(message: StoredMessage) -> str:
    """Above an answer whose model thought first: "▸ Thought for 12 s", a link that opens the
    thinking; or, where the provider does not show it (OpenAI), how long and how many tokens."""
    usage = message.usage or {}
    seconds = float(usage.get("thinking_s") or 0)
    tokens = int(usage.get("reasoning_tokens") or 0)
    if message.role != Role.ASSISTANT or not (message.reasoning or tokens):
        return ""
    what = f"Thought for {seconds:.0f} s" if seconds >= 1 else "Thought"
    if message.reasoning:
        href = action_href(THOUGHTS_ACTION, message.id)
        shown = f'<a href="{href}" style="color:#888">▸ {html.escape(what)}</a>'
    else:
        shown = html.escape(f"{what} ({tokens:,} reasoning tokens; the provider keeps them)")
    return f'<p style="color:#888; font-size:small; margin-bottom:2px">{shown}</p>'


def other_parts_html(message: StoredMessage) -> str:
    """Parts this view has no display of its own for yet (images, attachments, tool calls and
    their results, kinds from a newer version): a labelled line each, so nothing is hidden."""
    lines = [
        f'<p style="color:#888; font-size:small; margin:2px 0">{html.escape(placeholder(part))}</p>'
        for part in message.parts
        if not isinstance(part, Text | Reasoning)
    ]
    return "".join(lines)


def answer_footer(message: StoredMessage) -> str:
    """Tokens, speed and, for a cloud answer, its cost with the date of the price used."""
    usage = message.usage
    if not usage or message.role != Role.ASSISTANT:
        return ""
    parts = [f"{usage.get('output_tokens', 0)} tokens"]
    if usage.get("reasoning_tokens"):
        parts[0] += f" ({int(usage['reasoning_tokens']):,} reasoning)"
    if usage.get("tokens_per_second"):
        parts.append(f"{float(usage['tokens_per_second']):.1f} tok/s")
    if is_local_id(message.model):
        parts.append("on this computer, no cost")
    elif "cost_usd" in usage:
        parts.append(cost_text(usage))
    not_applied = usage.get("not_applied") or []
    if not_applied:
        parts.append(f"{', '.join(not_applied)} not applied: this model does not take it")
    return (
        '<p style="color:#888; font-size:small; margin-top:2px">'
        f"{html.escape(' · '.join(parts))}</p>"
    )


def _status_note(status: str, error: str | None) -> str:
    note = _STATUS_NOTE.get(status)
    if not note:
        return ""
    detail = f": {html.escape(error)}" if error else ""
    return f'<p style="color:#c0392b; font-size:small"><i>{note}{detail}</i></p>'


def message_controls(message: StoredMessage, versions: Versions | None) -> str:
    """Edit (a question) or Regenerate (an answer), and ‹ 2/3 › between versions."""
    links = []
    if versions is not None:
        # Words, not lone arrows: a small-print "‹" is too small to hit.
        back = (
            f'<a href="{action_href("version", message.id, versions.previous)}">‹ previous</a>'
            if versions.previous
            else "‹ previous"
        )
        forward = (
            f'<a href="{action_href("version", message.id, versions.next)}">next ›</a>'
            if versions.next
            else "next ›"
        )
        links.append(f"{back} &nbsp;{versions.index}/{versions.count}&nbsp; {forward}")
    if message.role == Role.USER:
        links.append(f'<a href="{action_href("edit", message.id)}">Edit</a>')
    elif message.role == Role.ASSISTANT and message.status != MessageStatus.STREAMING:
        links.append(f'<a href="{action_href("regenerate", message.id)}">Regenerate</a>')
    return (
        '<p style="color:#888; font-size:small; margin-top:0">'
        + " &nbsp;·&nbsp; ".join(links)
        + "</p>"
    )


def message_html(
    message: StoredMessage,
    model_names: dict[str, str],
    versions: dict[int, Versions] | None = None,
    defer: Callable[[str], str] | None = None,
) -> str:
    """The message as HTML for the view. ``defer``: takes an oversized answer's shown text and
    returns what to put in its place now (the view fills the text in over the next turns).
    """
    # An anchor per message: a search hit opens the chat scrolled to it.
    anchor = f'<a name="m{message.id}"></a>'
    controls = message_controls(message, (versions or {}).get(message.id))
    if message.role == Role.USER:
        return (
            anchor
            + _header("You", "#2471a3")
            + f"<p>{plain_to_html(break_long_lines(message.content)[0])}</p>"
            + other_parts_html(message)
            + controls
        )
    who = model_names.get(message.model or "", message.model or "Assistant")
    if oversized(message.content):
        shown = shown_text(message.content)
        body = f"<p>{defer(shown) if defer else plain_to_html(shown)}</p>"
        body += _oversize_note(message.content)
    else:
        body = markdown_to_html(message.content) if message.content else ""
    return (
        anchor
        + answer_header(who, message.model)
        + thinking_line(message)
        + body
        + other_parts_html(message)
        + _status_note(message.status.value, message.error)
        + answer_footer(message)
        + controls
    )


def _utf16_length(text: str) -> int:
    """Length in QTextDocument positions (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Rendering:
    """A finished answer being rendered a part at a time.

    Attributes:
        position: where the answer's plain text not rendered yet begins (a block's start).
        parts: the Markdown parts still to render, in order.
        tail: HTML after the last part (status note, footer).
        first: True until the first part is in (it goes where the whole render would).
    """

    position: int
    parts: deque[str] = field(default_factory=deque)
    tail: str = ""
    first: bool = True


class ChatView(QTextBrowser):
    """Read-only view of one conversation.

    Signals:
        link_requested(QUrl): the user clicked a link; the window decides whether to open it.
    """

    link_requested = Signal(QUrl)
    #: A code block's Copy link put this many characters on the clipboard.
    copied = Signal(int)
    #: A control under a message: kind ("edit", "regenerate", "version"), message, target.
    action_requested = Signal(str, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setAccessibleName("Conversation")
        # Never navigate or fetch anything by ourselves: links go through the window.
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._on_anchor)
        self.document().setDocumentMargin(16)
        self._answer_start: int | None = None
        #: Where the "Thinking…" placeholder of the streaming answer begins (None: none).
        self._thinking_at: int | None = None
        self._answer_id: int | None = None
        self._model_names: dict[str, str] = {}
        self._placeholder_shown = False
        #: The shown conversation's older messages, not rendered yet (oldest first).
        self._earlier: list[StoredMessage] = []
        self._versions: dict[int, Versions] = {}
        self._settled = True
        #: Where the view is held while Qt measures a newly shown chat (0: its end, else a
        #: message id), until the user scrolls; None: wherever the user left it.
        self._target: int | None = None
        #: True while the view moves its own scroll bar (not the user scrolling).
        self._moving = False
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        #: Shown in an empty conversation; the window sets it to name the current model.
        self.placeholder_html = ""
        #: A long answer that ended and is being rendered a part at a time.
        self._rendering: _Rendering | None = None
        #: Where the streamed answer's text goes (kept: see append_answer_text).
        self._stream_cursor: QTextCursor | None = None
        #: Characters on the answer's current line so far (long lines are shown broken).
        self._line_run = 0
        #: Characters of the streamed answer shown so far, and whether the rest is cut off.
        self._stream_chars = 0
        self._stream_cut = False
        #: Slices of a huge streamed piece still to insert, one per event-loop turn, and the
        #: finish_answer call that waits for them.
        self._pending: deque[str] = deque()
        #: Oversized stored answers whose text is still going in: (where, slices left).
        self._fills: deque[tuple[QTextCursor, deque[str]]] = deque()
        #: Their texts, from message_html until the HTML is in and the marks are found.
        self._fills_waiting: list[str] = []
        self._pending_finish: tuple[str, str, str | None, str] | None = None

    @Slot(QUrl)
    def _on_anchor(self, url: QUrl) -> None:
        action = parse_action(url.toString())
        if action is not None:
            if action[0] == EARLIER:
                self.show_earlier()
            else:
                self.action_requested.emit(*action)
            return
        code = copied_text(url.toString())
        if code is not None:
            QGuiApplication.clipboard().setText(code)
            self.copied.emit(len(code))
        elif url.scheme() not in (COPY_SCHEME, ACTION_SCHEME):
            self.link_requested.emit(url)
        # A copy link that is not ours (written by a model) does nothing.

    @property
    def streaming_answer_id(self) -> int | None:
        return self._answer_id

    def show_messages(
        self,
        messages: Iterable[StoredMessage],
        model_names: dict[str, str],
        at_message: int = 0,
        versions: dict[int, Versions] | None = None,
    ) -> None:
        """Show a conversation, scrolled to its end or to message ``at_message``.

        Only its latest FIRST_RENDER messages are rendered (and any after ``at_message``, so
        that the view can scroll to it); older ones wait above, rendered when the user
        scrolls to the top or clicks "Show earlier messages".
        """
        shown = list(messages)
        self._rendering = None  # the document is replaced whole
        self._pending.clear()
        self._fills.clear()
        self._fills_waiting.clear()
        self._pending_finish = None
        self._model_names = dict(model_names)
        self._versions = dict(versions or {})
        self._answer_start = None
        self._thinking_at = None
        self._answer_id = None
        self._stream_cursor = None
        start = max(0, len(shown) - FIRST_RENDER)
        if at_message:
            start = min(start, next((i for i, m in enumerate(shown) if m.id == at_message), start))
        self._earlier = shown[:start]
        body = "".join(
            message_html(m, self._model_names, self._versions, self._defer) for m in shown[start:]
        )
        self._placeholder_shown = not body
        # Until the first scroll below, the view sits at the top only because it is new:
        # that must not count as the user scrolling up for earlier messages.
        self._settled = False
        self._target = None
        self.setHtml(self._earlier_link() + body if body else self.placeholder_html)
        self._start_fills()
        # The document is laid out lazily: scroll once Qt has measured it (on first show too),
        # so a reopened chat shows its latest messages. The view as context: a view closed
        # meanwhile drops the call.
        QTimer.singleShot(0, self, lambda: self._settle(at_message))

    @property
    def earlier_count(self) -> int:
        """Messages of the shown conversation above the rendered ones, not rendered yet."""
        return len(self._earlier)

    def show_earlier(self, count: int = EARLIER_BATCH) -> None:
        """Render up to ``count`` more of the older messages above the shown ones, keeping
        what the user is looking at in place."""
        if not self._earlier:
            return
        self.finish_rendering()  # its positions would move with the insertion above
        self._target = None  # the user asked for older messages: stop holding the end
        document = self.document()
        layout = document.documentLayout()
        link = document.firstBlock()
        # A cursor at the first rendered message follows the insertion above it, so the
        # scroll position can be moved by exactly the height that was added.
        kept = QTextCursor(document)
        kept.setPosition(link.next().position())
        top_before = layout.blockBoundingRect(kept.block()).top()
        start = max(0, len(self._earlier) - count)
        batch, self._earlier = self._earlier[start:], self._earlier[:start]
        cursor = QTextCursor(link)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertHtml(
            self._earlier_link()
            + "".join(
                message_html(m, self._model_names, self._versions, self._defer) for m in batch
            )
        )
        self._start_fills()
        if not self._earlier:
            # The last link's paragraph, now empty, would leave a gap above the first message.
            cursor = QTextCursor(document.firstBlock())
            cursor.movePosition(
                QTextCursor.MoveOperation.NextBlock, QTextCursor.MoveMode.KeepAnchor
            )
            if not document.firstBlock().text():
                cursor.removeSelectedText()
        bar = self.verticalScrollBar()
        self._moving = True
        try:
            bar.setValue(
                bar.value() + round(layout.blockBoundingRect(kept.block()).top() - top_before)
            )
        finally:
            self._moving = False

    def _earlier_link(self) -> str:
        if not self._earlier:
            return ""
        return (
            '<p align="center" style="color:#888; font-size:small; margin-bottom:4px">'
            f'<a href="{action_href(EARLIER, 0)}">Show earlier messages</a>'
            f" ({len(self._earlier):,} more)</p>"
        )

    def _settle(self, at_message: int) -> None:
        # Qt lays a long document out in steps on a timer; measure it to the end now, or
        # "the end" would be where the layout had got to, short of the latest message.
        document = self.document()
        document.documentLayout().blockBoundingRect(document.lastBlock())
        self._target = at_message
        self._go_to_target()
        self._settled = True

    def _go_to_target(self) -> None:
        if self._target is None:
            return
        self._moving = True
        try:
            if self._target:
                self.scrollToAnchor(f"m{self._target}")
            else:
                self._scroll_to_end()
        finally:
            self._moving = False

    @Slot(int, int)
    def _on_range_changed(self, _minimum: int, _maximum: int) -> None:
        # The scroll bar learns the measured height later than the layout has it (Qt
        # compresses those notices on a timer): go back to the target once it does.
        self._go_to_target()

    @Slot(int)
    def _on_scrolled(self, value: int) -> None:
        if self._moving or not self._settled:
            return
        self._target = None  # the user scrolled: leave the view where they put it
        # At the top of what is rendered, with more above: the user is scrolling back in
        # time. Deferred, so the document does not change inside the scroll bar's signal.
        if self._earlier and value == self.verticalScrollBar().minimum():
            QTimer.singleShot(0, self, self._reveal_if_at_top)

    def _reveal_if_at_top(self) -> None:
        bar = self.verticalScrollBar()
        if self._earlier and bar.value() == bar.minimum():
            self.show_earlier()

    def append_user(self, text: str, controls: str = "") -> None:
        self._insert_html_at_end(
            _header("You", "#2471a3") + f"<p>{plain_to_html(text)}</p>" + controls
        )

    def begin_answer(
        self, answer_id: int, who: str, model_id: str | None = None, *, marked: bool = True
    ) -> None:
        """``marked`` False leaves out the local/cloud mark (blind votes: it would tell)."""
        self.finish_rendering()
        header = answer_header(who, model_id) if marked else _header(who, "#555")
        self._insert_html_at_end(header)
        cursor = self._end_cursor()
        # A fresh, unformatted block: otherwise the answer inherits the header's bold colour.
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._answer_start = cursor.position()
        self._thinking_at = None
        self._answer_id = answer_id
        self._stream_cursor = cursor
        self._line_run = 0
        self._stream_chars = 0
        self._stream_cut = False

    def show_thinking(self) -> None:
        """A reasoning model thinks before it answers: say so where the answer will stream
        (the words go when the answer's text begins; the thinking line takes their place when
        it ends)."""
        if self._answer_start is None or self._stream_chars or self._thinking_at is not None:
            return
        cursor = self._end_cursor()
        self._thinking_at = self._answer_start
        cursor.insertHtml(f'<p style="color:#888"><i>{THINKING}</i></p>')
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._answer_start = cursor.position()
        self._stream_cursor = cursor

    def append_answer_text(self, text: str) -> None:
        if self._answer_start is None or self._stream_cut:
            return
        if self._thinking_at is not None and not self._stream_chars:
            # The model has stopped thinking: its words go (their empty line stays, for the
            # thinking line at the end), so "Thinking…" never sits above a streaming answer.
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._thinking_at)
            cursor.setPosition(self._thinking_at + len(THINKING), QTextCursor.MoveMode.KeepAnchor)
            if cursor.selectedText() == THINKING:
                cursor.removeSelectedText()
                self._answer_start -= len(THINKING)
        piece = text[: SHOWN_LIMIT - self._stream_chars]
        self._stream_chars += len(piece)
        self._stream_cut = len(piece) < len(text)
        shown, self._line_run = break_long_lines(piece, run=self._line_run)
        if self._stream_cut:
            shown += CUT_MARK
        if self._pending or len(shown) > STREAM_SLICE_CHARS:
            if not self._pending:
                QTimer.singleShot(0, self, self._drain)
            size = STREAM_SLICE_CHARS
            self._pending.extend(shown[i : i + size] for i in range(0, len(shown), size))
            return
        self._insert_streamed(shown)

    def _drain(self, until: float | None = RENDER_SLICE_S) -> None:
        """Insert the waiting slices of a huge piece until ``until`` seconds have gone (None:
        all of them); then the answer's finish, if it came meanwhile."""
        deadline = time.perf_counter() + until if until is not None else None
        while self._pending:
            self._insert_streamed(self._pending.popleft())
            if deadline is not None and time.perf_counter() >= deadline:
                break
        if self._pending:
            QTimer.singleShot(0, self, self._drain)
        elif self._pending_finish is not None:
            finish, self._pending_finish = self._pending_finish, None
            self.finish_answer(*finish)

    def _insert_streamed(self, shown: str) -> None:
        follow = self._at_bottom()
        # One cursor for the whole answer: with a new cursor per piece, each insertion costs
        # more as the document grows; a kept one stays flat. Anything else that writes at the
        # end moves it off the end.
        cursor = self._stream_cursor
        if cursor is None or cursor.position() != self.document().characterCount() - 1:
            cursor = self._stream_cursor = self._end_cursor()
        cursor.insertText(shown)
        if follow:
            self._scroll_to_end()

    def finish_answer(
        self, text: str, status: str, error: str | None = None, footer: str = "", lead: str = ""
    ) -> None:
        """Replace the streamed plain text with the rendered answer (this answer only).

        A long answer is rendered a part at a time over the next event-loop turns (see the
        module's notes); ``finish_rendering`` completes it at once.
        """
        if self._answer_start is None:
            return
        if self._pending:  # the last slices of a huge piece go in first
            self._pending_finish = (text, status, error, footer)
            return
        start = self._answer_start
        self._answer_start = None
        self._answer_id = None
        self._stream_cursor = None
        tail = _status_note(status, error) + footer
        if self._thinking_at is not None:
            # The "Thinking…" placeholder goes; the thinking line (lead) takes its place.
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._thinking_at)
            cursor.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            start, self._thinking_at = self._thinking_at, None
        if lead:
            cursor = QTextCursor(self.document())
            cursor.setPosition(start)
            cursor.insertHtml(lead)
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            start = cursor.position()
        if oversized(text):
            self._finish_oversized(start, text, tail)
            return
        parts = (
            markdown_parts(text, RENDER_PART_CHARS)
            if len(text) > PROGRESSIVE_RENDER_CHARS
            else [text]
        )
        # Part by part, each replaces its own plain text: only when the view shows exactly
        # the text being rendered (else the positions would not match).
        if len(parts) > 1 and self._shown_from(start) == text:
            self._rendering = _Rendering(start, deque(parts), tail)
            # From the next event-loop turn: this one has just taken the answer's last piece.
            QTimer.singleShot(0, self, self._render_some)
            return
        follow = self._at_bottom()
        cursor = self._end_cursor()
        cursor.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cursor.insertHtml((markdown_to_html(text) if text else "") + tail)
        if follow:
            self._scroll_to_end()

    def _finish_oversized(self, start: int, text: str, tail: str) -> None:
        """Keep the streamed plain text (it is what formatting would freeze on), add a note."""
        follow = self._at_bottom()
        shown = shown_text(text)
        if self._shown_from(start) != shown:  # e.g. the text was cut at a stop string
            cursor = self._end_cursor()
            cursor.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            cursor.insertText(shown)
        self._insert_html_at_end(_oversize_note(text) + tail)
        if follow:
            self._scroll_to_end()

    @property
    def rendering(self) -> bool:
        """True while a finished long answer is still being rendered, or a huge streamed
        piece still being inserted."""
        return self._rendering is not None or bool(self._pending) or bool(self._fills)

    def finish_rendering(self) -> None:
        """Render what is left of a finished answer now (before the document changes)."""
        if self._fills:
            self._fill_some(until=None)
        if self._pending:
            self._drain(until=None)
        while self._rendering is not None:
            self._render_some(until=None)

    def _defer(self, shown: str) -> str:
        """For message_html: an oversized answer's place, marked; its text goes in later."""
        if FILL_MARK in shown:  # could not be found again reliably: in at once
            return plain_to_html(shown)
        self._fills_waiting.append(shown)
        return FILL_MARK

    def _start_fills(self) -> None:
        """Find the marks message_html left (in document order, as registered), and start
        filling each with its text from the next event-loop turn."""
        waiting, self._fills_waiting = self._fills_waiting, []
        document = self.document()
        after = QTextCursor(document)
        for shown in waiting:
            found = document.find(FILL_MARK, after)
            if found.isNull():
                continue
            found.removeSelectedText()
            # Each line becomes a block with this one's format: without paragraph margins,
            # or the lines would be spaced like paragraphs.
            tight = found.blockFormat()
            tight.setTopMargin(0)
            tight.setBottomMargin(0)
            found.setBlockFormat(tight)
            size = FILL_SLICE_CHARS
            self._fills.append(
                (found, deque(shown[i : i + size] for i in range(0, len(shown), size)))
            )
            after = QTextCursor(found)
        if self._fills:
            QTimer.singleShot(0, self, self._fill_some)

    def _fill_some(self, until: float | None = RENDER_SLICE_S) -> None:
        """Insert waiting slices of oversized answers until ``until`` seconds have gone."""
        # The view keeps to its target (the end, or a search hit) as the document grows: see
        # _on_range_changed.
        deadline = time.perf_counter() + until if until is not None else None
        while self._fills:
            cursor, slices = self._fills[0]
            # Line breaks as new blocks (as a streamed answer has them): Qt lays out a block
            # in time that grows faster than its length, so one block for all would freeze.
            cursor.insertText(slices.popleft())
            if not slices:
                self._fills.popleft()
            if deadline is not None and time.perf_counter() >= deadline:
                break
        if self._fills:
            QTimer.singleShot(0, self, self._fill_some)

    def _shown_from(self, start: int) -> str:
        cursor = self._end_cursor()
        cursor.setPosition(start, QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText().replace("\u2029", "\n")

    def _render_some(self, until: float | None = RENDER_SLICE_S) -> None:
        rendering = self._rendering
        if rendering is None:
            return
        follow = self._at_bottom()
        deadline = time.perf_counter() + until if until is not None else None
        while rendering.parts:
            self._render_part(rendering)
            if deadline is not None and time.perf_counter() >= deadline:
                break
        if follow:
            self._scroll_to_end()
        if rendering.parts:
            # The next parts after the events that queued meanwhile (input, paint). The view
            # as context: a view closed meanwhile drops the call.
            QTimer.singleShot(0, self, self._render_some)
        else:
            self._rendering = None

    def _render_part(self, rendering: _Rendering) -> None:
        part = rendering.parts.popleft()
        last = not rendering.parts
        # Not the last part: without the newline after its closing tag, which the HTML
        # import would keep as a space at the end of the part's last line.
        rendered = markdown_to_html(part)
        fragment = QTextDocumentFragment.fromHtml(
            rendered + rendering.tail if last else rendered.rstrip(), self.document()
        )
        cursor = QTextCursor(self.document())
        # One edit for Qt's layout, not five: each edit re-positions everything below it.
        cursor.beginEditBlock()
        cursor.setPosition(rendering.position)
        cursor.setPosition(
            rendering.position + _utf16_length(part), QTextCursor.MoveMode.KeepAnchor
        )
        cursor.removeSelectedText()
        if not last:
            # An empty block of its own for the part, ahead of the plain text still to go.
            cursor.insertBlock()
            cursor.movePosition(QTextCursor.MoveOperation.PreviousBlock)
        if not rendering.first:
            # A fragment's first block takes the format of the block it goes into: give that
            # block the format the whole render gives it (it would be a new block there).
            scratch = QTextDocument()
            QTextCursor(scratch).insertFragment(fragment)  # at 0, the first block's formats too
            block = scratch.firstBlock()
            if block.blockFormat().objectIndex() < 0:  # not in a list or table
                cursor.setBlockFormat(block.blockFormat())
                cursor.setBlockCharFormat(block.charFormat())
        cursor.insertFragment(fragment)
        cursor.endEditBlock()
        rendering.first = False
        rendering.position = cursor.position() + 1  # past the new block's separator

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_html_at_end(self, fragment: str) -> None:
        self.finish_rendering()
        follow = self._at_bottom()
        cursor = self._end_cursor()
        if self._placeholder_shown:
            self.clear()
            self._placeholder_shown = False
            cursor = self._end_cursor()
        elif not self.document().isEmpty():
            # insertHtml merges its first paragraph into the current block and drops that
            # paragraph's margin, so the gap between messages is set on the block itself.
            spaced = QTextBlockFormat()
            spaced.setTopMargin(MESSAGE_GAP_PX)
            cursor.insertBlock(spaced, QTextCharFormat())
        cursor.insertHtml(fragment)
        if follow:
            self._scroll_to_end()

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    @Slot()
    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
