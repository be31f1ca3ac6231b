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
clicks "Show earlier messages", so a 5,000-message chat opens as fast as a short one. At a
search hit, a window around the hit opens, later messages rendered as the user scrolls down
(chat_paging.py); anything written at the end first brings the view to the chat's end.

A message's HTML is message_html.py's; the edits that put a long answer in a part at a time
are document_parts.py's. This module decides when each runs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from PySide6.QtCore import QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QGuiApplication, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

from desktop.core.chat_records import StoredMessage, Versions
from desktop.services.images import ImageService
from desktop.ui.chat_history_html import EARLIER, earlier_link, messages_html, pictures_asked
from desktop.ui.chat_paging import LATER, LATER_BATCH, Pages, insert_above, insert_below, later_link
from desktop.ui.document_parts import FILL_MARK, Rendering, render_part, take_fills
from desktop.ui.link_colours import LinkColours
from desktop.ui.message_html import (
    CUT_MARK,
    SHOWN_LIMIT,
    answer_header,
    break_long_lines,
    header_html,
    oversize_note,
    oversized,
    shown_text,
    status_note,
)
from desktop.ui.message_images import THUMB_SCHEME, thumbnail_image
from desktop.ui.render import (
    ACTION_SCHEME,
    COPY_SCHEME,
    copied_text,
    markdown_parts,
    markdown_to_html,
    parse_action,
    plain_to_html,
)
from desktop.ui.text_width import TextWidth
from desktop.ui.tone_colours import install_tone_colours, tone_css

MESSAGE_GAP_PX = 14
#: Where an answer will stream while its model thinks (one UTF-16 unit a character).
THINKING = "Thinking…"
#: Messages rendered when a conversation opens: enough to fill any window, few enough to
#: render in milliseconds (a 5,000-message chat whole takes seconds).
FIRST_RENDER = 50
#: Older messages rendered at a time when the user scrolls to the top or asks for them.
EARLIER_BATCH = 100
#: An answer longer than this (characters) is rendered a part at a time when it ends; a
#: shorter one renders whole within a couple of frames.
PROGRESSIVE_RENDER_CHARS = 4_000
#: A streamed piece longer than this goes in a slice per event-loop turn (~10-20 ms of layout
#: each), so that the window keeps painting and taking clicks meanwhile.
STREAM_SLICE_CHARS = 20_000
#: Characters of Markdown per part: about 10 ms to render, import and lay out.
RENDER_PART_CHARS = 2_000
#: Parts are rendered in one event-loop turn until this much time has gone (then Qt paints).
RENDER_SLICE_S = 0.008


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
        self.text_width = TextWidth(self)  # a readable line length in a wide window
        self.link_colours = LinkColours(self)  # links follow a theme switch
        self.tone_colours = install_tone_colours(self)  # and so do the tones written in HTML
        self._answer_start: int | None = None
        #: Where the streamed answer's whole region begins (a tool turn redraws from there).
        self._turn_start = 0
        #: Where the "Thinking…" placeholder of the streaming answer begins (None: none).
        self._thinking_at: int | None = None
        self._answer_id: int | None = None
        self._model_names: dict[str, str] = {}
        self._placeholder_shown = False
        #: The shown conversation's messages, and which of them are rendered.
        self._pages = Pages()
        #: The shown chat's questions with pictures: id → how many (their answers say so).
        self._asked: dict[int, int] = {}
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
        #: Where messages' thumbnails come from (set by the window; None: grey boxes).
        self.images: ImageService | None = None
        #: A long answer that ended and is being rendered a part at a time.
        self._rendering: Rendering | None = None
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
            if action[0] in (EARLIER, LATER):
                (self.show_earlier if action[0] == EARLIER else self.show_later)()
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

        Only its latest FIRST_RENDER messages are rendered (or a window around
        ``at_message``); the others wait above and below, rendered when the user scrolls to
        the top or bottom or clicks "Show earlier messages" or "Show later messages".
        """
        shown = list(messages)
        self._pages.open(shown, at_message, FIRST_RENDER)
        self._rendering = None  # the document is replaced whole
        self._pending.clear()
        self._fills.clear()
        self._fills_waiting.clear()
        self._pending_finish = None
        self._model_names = dict(model_names)
        self._versions = dict(versions or {})
        self._answer_start = self._thinking_at = self._answer_id = self._stream_cursor = None
        self._asked = pictures_asked(shown)
        body = self._html(self._pages.rendered) + later_link(self._pages.later_count)
        self._placeholder_shown = not body
        # Until the first scroll below, the view sits at the top only because it is new:
        # that must not count as the user scrolling up for earlier messages.
        self._settled, self._target = False, None
        self.setHtml(earlier_link(self.earlier_count) + body if body else self.placeholder_html)
        self.text_width.apply()  # setHtml reset the document's side margins
        self._start_fills()
        # The document is laid out lazily: scroll once Qt has measured it (on first show too),
        # so a reopened chat shows its latest messages. The view as context: a view closed
        # meanwhile drops the call.
        QTimer.singleShot(0, self, lambda: self._settle(at_message))

    @property
    def earlier_count(self) -> int:
        """Messages of the shown conversation above the rendered ones, not rendered yet."""
        return self._pages.earlier_count

    @property
    def later_count(self) -> int:
        """Messages of the shown conversation below the rendered ones, not rendered yet."""
        return self._pages.later_count

    def _html(self, messages: list[StoredMessage]) -> str:
        return messages_html(messages, self._model_names, self._versions, self._defer, self._asked)

    def show_earlier(self, count: int = EARLIER_BATCH) -> None:
        """Render up to ``count`` more of the older messages above the shown ones, keeping
        what the user is looking at in place."""
        if not self._pages.earlier_count:
            return
        self.finish_rendering()  # its positions would move with the insertion above
        self._target = None  # the user asked for older messages: stop holding the end
        batch = self._pages.take_earlier(count)
        added = insert_above(self.document(), earlier_link(self.earlier_count) + self._html(batch))
        self._start_fills()
        bar = self.verticalScrollBar()
        self._moving = True
        try:
            bar.setValue(bar.value() + round(added))
        finally:
            self._moving = False

    def show_later(self, count: int = LATER_BATCH) -> None:
        """Render up to ``count`` more of the later messages below the shown ones."""
        if not self._pages.later_count:
            return
        self.finish_rendering()
        batch = self._pages.take_later(count)
        first = messages_html(batch[:1], self._model_names, self._versions, str, self._asked)
        insert_below(self.document(), self._html(batch) + later_link(self.later_count), first)
        self._start_fills()

    def show_end(self) -> None:
        """With later messages not rendered (opened at an old hit), show the chat's end as a
        fresh opening does, scrolled there now; the messages above wait to be scrolled to."""
        if self._pages.later_count and self._answer_start is None:
            self.show_messages(self._pages.messages, self._model_names, 0, self._versions)
            self._settle(0)

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
        # At the top (bottom) of what is rendered, with more above (below): render more.
        # Deferred, so the document does not change inside the scroll bar's signal.
        bar, pages = self.verticalScrollBar(), self._pages
        if (pages.earlier_count and value == bar.minimum()) or (
            pages.later_count and value == bar.maximum()
        ):
            QTimer.singleShot(0, self, self._reveal_if_at_edge)

    def _reveal_if_at_edge(self) -> None:
        bar = self.verticalScrollBar()
        if self._pages.earlier_count and bar.value() == bar.minimum():
            self.show_earlier()
        elif bar.value() == bar.maximum():
            self.show_later()  # below: nothing on screen moves

    def append_user(self, text: str, controls: str = "", pictures: str = "") -> None:
        """The question just sent: its pictures (message_images.pictures_html) above its words."""
        words = f"<p>{plain_to_html(text)}</p>" if text else ""
        self._insert_html_at_end(header_html("You") + pictures + words + controls)

    def loadResource(self, kind: int, name: QUrl | str) -> object:
        """A message's thumbnail (the small file, via the image service); else Qt's own."""
        if QUrl(name).scheme() == THUMB_SCHEME:
            return thumbnail_image(self.images, QUrl(name))
        return super().loadResource(kind, name)

    def begin_answer(
        self,
        answer_id: int,
        who: str,
        model_id: str | None = None,
        *,
        marked: bool = True,
        pictures: int = 0,
    ) -> None:
        """``marked`` False leaves out the local/cloud mark (blind votes: it would tell);
        ``pictures``: how many its question carried (a cloud answer's mark says they went)."""
        self.finish_rendering()
        header = answer_header(who, model_id, pictures) if marked else header_html(who)
        self._insert_html_at_end(header)
        cursor = self._end_cursor()
        # A fresh, unformatted block: otherwise the answer inherits the header's bold colour.
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._answer_start = self._turn_start = cursor.position()
        self._thinking_at = None
        self._answer_id = answer_id
        self._stream_cursor = cursor
        self._line_run = 0
        self._stream_chars = 0
        self._stream_cut = False

    def show_steps(self, body: str) -> None:
        """A tool turn's steps so far (words and call blocks), in place of everything shown of
        this answer; the next step streams below them."""
        if self._answer_start is None or self._pending:
            return
        follow = self._at_bottom()
        cursor = self._end_cursor()
        cursor.setPosition(self._turn_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cursor.insertHtml(body)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._answer_start, self._stream_cursor = cursor.position(), cursor
        self._thinking_at, self._stream_chars, self._line_run = None, 0, 0
        if follow:
            self._scroll_to_end()

    def show_thinking(self) -> None:
        """A reasoning model thinks before it answers: say so where the answer will stream
        (the words go when the answer's text begins; the thinking line takes their place when
        it ends)."""
        if self._answer_start is None or self._stream_chars or self._thinking_at is not None:
            return
        cursor = self._end_cursor()
        self._thinking_at = self._answer_start
        cursor.insertHtml(f'<p style="color:{tone_css("muted")}"><i>{THINKING}</i></p>')
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
        tail = status_note(status, error) + footer
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
            self._rendering = Rendering(start, deque(parts), tail)
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
        self._insert_html_at_end(oversize_note(text) + tail)
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
        self._fills.extend(take_fills(self.document(), waiting))
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
            render_part(self.document(), rendering)
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

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_html_at_end(self, fragment: str) -> None:
        self.show_end()  # a new message follows the chat's last one, not a window's
        self.finish_rendering()
        follow = self._at_bottom()
        cursor = self._end_cursor()
        if self._placeholder_shown:
            self.clear()
            self.text_width.apply()
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
