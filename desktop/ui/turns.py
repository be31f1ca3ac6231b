"""A turn of the chat on screen, from the user's side: what is sent, and what the chat view
shows of the question and the answer while it streams."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from desktop.core.adapters import with_adapters
from desktop.core.chat_records import AT_LEAF
from desktop.core.errors import LlamasideError, Offline
from desktop.core.parts import Image, images_of
from desktop.services.chat import ChatService, LocalOnlyRefused
from desktop.services.library import ChatLibrary
from desktop.services.turn import TurnStarted
from desktop.ui.chat_view import ChatView
from desktop.ui.cloud_consent import cloud_decision
from desktop.ui.composer import Composer
from desktop.ui.context_meter import ask_outgrown
from desktop.ui.message_html import answer_footer, message_controls, thinking_line
from desktop.ui.message_images import pictures_html
from desktop.ui.render import markdown_to_html
from desktop.ui.tool_blocks import has_tools, parts_body_html
from desktop.ui.widgets import ErrorBanner


class Turns(QObject):
    """Owns sending in the chat on screen (``conversation_id``, set by the window): the
    composer's text after the cloud question, a new version of a question (edit) or of an
    answer (regenerate), the question and the streaming answer in the chat view, and a
    message that comes back unsent (refused, or longer than the context: the user chooses).

    Signals:
        open_requested(int): show this chat as stored (after what was shown was cut or undone).
        new_chat_requested(): open a new chat; a message is sent there next.
        status(str, int): a passing line for the status bar, for so many ms (0: until replaced).
    """

    open_requested = Signal(int)
    new_chat_requested = Signal()
    status = Signal(str, int)

    def __init__(
        self,
        chat: ChatService,
        library: ChatLibrary,
        *,
        composer: Composer,
        chat_view: ChatView,
        banner: ErrorBanner,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        self.library = library
        self.composer = composer
        self.chat_view = chat_view
        self.banner = banner
        self._parent = parent  # the questions asked are the window's
        self.conversation_id: int | None = None
        #: Whether the question just sent is still to be shown (when its answer starts).
        self._pending_question = False
        #: The pictures of each chat's last message sent, until it is answered or given back.
        self._sent_pictures: dict[int, tuple[Image, ...]] = {}

    def _local_only(self) -> bool:
        if self.conversation_id is None:
            return False
        return self.library.conversation(self.conversation_id).local_only

    def _reopen(self) -> None:
        assert self.conversation_id is not None
        self.open_requested.emit(self.conversation_id)

    # -- sending ------------------------------------------------------------------------------

    @Slot()
    def send(self) -> None:
        box = self.composer.input_box
        text = box.toPlainText()
        pictures = self.composer.pictures()
        if not (text.strip() or pictures) or self.chat.busy or self.conversation_id is None:
            return
        if self.composer.preparing():  # the message goes with its pictures, not without
            names = ", ".join(self.composer.preparing())
            self.status.emit(f"Still preparing {names}: send when it shows above the box.", 5000)
            return
        self.banner.hide()
        editing = self.composer.editing
        decision = cloud_decision(
            self._parent,
            self.chat,
            self.conversation_id,
            local_only=self._local_only(),
            after=editing.parent_id if editing else AT_LEAF,
        )
        if decision == "cancel":
            return  # the text stays in the box, nothing was sent
        if decision == "new":
            self.composer.end_editing()
            box.clear()
            self._send_in_new_chat(text)
            return
        if editing is not None:
            # A new version of that question: the chat shows the branch up to where it
            # goes, then the new text; the old version and its answers stay browsable.
            self._show_branch_before(editing.id)
        # Shown when the answer starts (with its Edit link, now that it has an id).
        self._pending_question = True
        if not self.chat.settings.get("welcomed"):
            self.chat.settings.set("welcomed", True)  # the welcome has done its job
        box.clear()
        try:
            after: int | None = AT_LEAF
            if editing is not None:
                self.composer.end_editing()
                after = editing.parent_id
            sent = self.chat.send(
                self.conversation_id,
                text,
                after=after,
                share_history=decision == "share",
                images=pictures,
            )
            if sent:
                self.composer.clear_pictures()
                # Given back with its words if the model refuses the message (too long...).
                self._sent_pictures[self.conversation_id] = pictures
        except LlamasideError as exc:
            # e.g. the chat is local only, the app is offline, the disk is full
            self._show_refusal(exc)
            sent = False
        if not sent:
            self._pending_question = False
            # Not sent (e.g. no model): show the chat as stored and give the text back.
            self._reopen()
            box.setPlainText(text)

    def _show_refusal(self, exc: LlamasideError) -> None:
        """Why nothing was sent, in this chat; a refusal for a state (offline, the lock) goes
        away when that state ends."""
        topic = "offline" if isinstance(exc, Offline) else ""
        topic = "local-only" if isinstance(exc, LocalOnlyRefused) else topic
        self.banner.show_message(str(exc), topic=topic, conversation_id=self.conversation_id)

    def _send_in_new_chat(self, text: str) -> None:
        """A new chat on the same model, with just this message (the chat before is kept)."""
        model = self.chat.model_of(self.conversation_id)
        box = self.composer.input_box
        draft = box.toPlainText()
        self.new_chat_requested.emit()
        if model is not None and self.conversation_id is not None:
            self.chat.select_model(model.id, self.conversation_id)
        box.setPlainText(text)
        self.send()
        if draft != text:
            box.setPlainText(draft)  # anything else typed is kept

    # -- versions: a new answer to the same question ------------------------------------------

    @Slot()
    def regenerate_last(self) -> None:
        if self.conversation_id is None or self.chat.busy:
            return
        path = self.library.messages(self.conversation_id)
        answers = [m for m in path if m.role.value == "assistant"]
        if answers:
            self.regenerate(answers[-1].id)

    def regenerate(self, answer_id: int) -> None:
        if self.conversation_id is None or self.chat.busy:
            return
        self.composer.end_editing()
        answer = self.library.message(answer_id)
        if answer.parent_id is None:
            return
        decision = cloud_decision(
            self._parent,
            self.chat,
            self.conversation_id,
            local_only=self._local_only(),
            answer_id=answer_id,
        )
        if decision == "cancel":
            return
        if decision == "new":
            self._send_in_new_chat(self.library.message(answer.parent_id).content)
            return
        self._show_branch_before(answer_id)
        try:
            started = self.chat.regenerate(
                self.conversation_id, answer_id, share_history=decision == "share"
            )
        except LlamasideError as exc:
            self._show_refusal(exc)
            started = False
        if not started:
            self._reopen()

    def _show_branch_before(self, message_id: int) -> None:
        """The chat on screen cut just before a message (a new version of it follows)."""
        assert self.conversation_id is not None
        path = self.library.messages(self.conversation_id)
        kept = []
        for message in path:
            if message.id == message_id:
                break
            kept.append(message)
        names = {m.model: self.chat.model_name(m.model) for m in kept if m.model}
        versions = self.library.versions(self.conversation_id)
        self.chat_view.show_messages(kept, names, versions=versions)

    # -- the answer as it streams -------------------------------------------------------------

    @Slot(int, int, object)
    def on_answer_started(self, conversation_id: int, answer_id: int, started: TurnStarted) -> None:
        if conversation_id != self.conversation_id:
            return
        if self._pending_question:
            self._pending_question = False
            question = started.question
            controls = message_controls(question, started.question_versions)
            pictures = pictures_html(question.parts, question.id)
            self.chat_view.append_user(question.content, controls, pictures)
        model_id = started.model_id
        sent = len(images_of(started.question.parts))
        who = with_adapters(self.chat.model_name(model_id), started.adapters)
        self.chat_view.begin_answer(answer_id, who, model_id, pictures=sent)

    @Slot(int, int)
    def on_answer_thinking(self, conversation_id: int, _answer_id: int) -> None:
        if conversation_id == self.conversation_id:
            self.chat_view.show_thinking()

    @Slot(int, int, str)
    def on_answer_delta(self, conversation_id: int, _answer_id: int, text: str) -> None:
        if conversation_id == self.conversation_id:
            self.chat_view.append_answer_text(text)

    @Slot(int, int, object)
    def on_tool_progress(self, conversation_id: int, answer_id: int, parts: object) -> None:
        """A step called tools, or a call ended: the steps so far, redrawn above the next."""
        if conversation_id == self.conversation_id and isinstance(parts, tuple):
            self.chat_view.show_steps(parts_body_html(parts, answer_id, markdown_to_html))

    @Slot(int, int, str)
    def on_answer_finished(self, conversation_id: int, answer_id: int, status: str) -> None:
        if conversation_id != self.conversation_id or status == "rejected":
            return
        message = self.library.message(answer_id)
        versions = self.library.versions(conversation_id).get(answer_id)
        text = message.content
        if message.stored_parts and has_tools(message.parts):
            # The turn's words and calls, in order; nothing then streams below them.
            self.chat_view.show_steps(parts_body_html(message.parts, answer_id, markdown_to_html))
            text = ""
        self.chat_view.finish_answer(
            text,
            status,
            message.error,
            answer_footer(message) + message_controls(message, versions),
            lead=thinking_line(message),
        )

    # -- a message that came back unsent ------------------------------------------------------

    @Slot(int, str, int, int, int, object)
    def on_outgrown(  # noqa: PLR0917 (a slot: Qt passes the signal's arguments by position)
        self,
        conversation_id: int,
        text: str,
        n_tokens: int,
        limit: int,
        after: int,
        images: tuple[Image, ...] = (),
    ) -> None:
        """The chat no longer fits the model's context: the user chooses, nothing is lost
        (the message goes again with its pictures)."""
        if conversation_id == self.conversation_id:
            self.open_requested.emit(conversation_id)
        choice = ask_outgrown(self._parent, n_tokens, limit)
        box = self.composer.input_box
        if choice == "summarise":
            # Asynchronous: on_summarised sends the text, or on_rejected gives it back.
            self._sent_pictures[conversation_id] = images
            if self.chat.summarise_oldest(
                conversation_id, n_tokens, limit, text, after, images=images
            ):
                self.status.emit("Summarising the oldest messages… (Esc stops)", 0)
            # else: it said why (rejected), and the text is back in the box
        elif choice == "drop":
            self.chat.drop_oldest(conversation_id, n_tokens, limit, text)
            self._send_again(conversation_id, text, after, images)
        elif choice == "new":
            draft, draft_pictures = box.toPlainText(), self.composer.pictures()
            self.new_chat_requested.emit()
            self.composer.clear_pictures()
            self.composer.give_back_pictures(images)
            box.setPlainText(text)
            self.send()
            box.setPlainText(draft)  # anything typed meanwhile is kept, with its pictures
            self.composer.give_back_pictures(draft_pictures)
        else:
            self.composer.give_back(text, images)

    @Slot(int, str, int, object)
    def on_summarised(
        self, conversation_id: int, text: str, after: int, images: tuple[Image, ...] = ()
    ) -> None:
        """The oldest turns are summarised: the message that waited goes now."""
        self.status.emit("The oldest messages are summarised", 5000)
        if conversation_id == self.conversation_id:
            self.open_requested.emit(conversation_id)
        self._send_again(conversation_id, text, after, images)

    def _send_again(
        self, conversation_id: int, text: str, after: int, images: tuple[Image, ...] = ()
    ) -> None:
        """Send a message that came back unsent, as it was meant: after the same message (an
        edit stays an edit; 0 means "first"), with its pictures."""
        self._pending_question = True
        try:
            after_id = None if after == 0 else after
            self.chat.send(conversation_id, text, after=after_id, images=images)
        except LlamasideError as exc:
            self._pending_question = False
            self.banner.show_message(str(exc))
            self.composer.input_box.setPlainText(text)
            self.composer.give_back_pictures(images)

    @Slot(int, str, str)
    def on_rejected(self, conversation_id: int, text: str, reason: str) -> None:
        # Nothing was sent: show the chat as it was, and give the text back.
        if conversation_id == self.conversation_id:
            self.open_requested.emit(conversation_id)
        # Anything typed while the engine was checking stays too, after the returned text.
        self.composer.give_back(text, self._sent_pictures.pop(conversation_id, ()))
        self.banner.show_message(reason)
