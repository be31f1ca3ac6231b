"""The main window: conversations on the left, the chat on the right, engine state below."""

from __future__ import annotations

import contextlib
import itertools

from PySide6.QtCore import QByteArray, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.core.chat_records import StoredMessage
from desktop.core.errors import LlamasideError
from desktop.services.chat import NEW_CHAT_TITLE, ChatService
from desktop.services.comparisons import Comparisons
from desktop.services.downloads import DownloadManager
from desktop.services.images import ImageService
from desktop.services.library import ChatLibrary
from desktop.services.tools import ToolsService
from desktop.services.turn import TurnStarted
from desktop.ui.backend_dialog import BackendDialog
from desktop.ui.chat_actions import ChatActions
from desktop.ui.chat_view import ChatView
from desktop.ui.compare_window import CompareWindow
from desktop.ui.composer import Composer
from desktop.ui.context_meter import ContextMeter
from desktop.ui.find_bar import install_find_bar
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.menus import Menus
from desktop.ui.message_copy import install_copy_menu
from desktop.ui.message_links import follow_message_link
from desktop.ui.model_bar import ModelBar
from desktop.ui.models_dialog import ModelsDialog
from desktop.ui.privacy_dialog import PrivacyDialog
from desktop.ui.providers_dialog import ProvidersDialog
from desktop.ui.screen_fit import fit_to_screen
from desktop.ui.sidebar import Sidebar
from desktop.ui.status_line import StatusLine
from desktop.ui.theme import Theme
from desktop.ui.tools_ui import ToolsUi
from desktop.ui.turns import Turns
from desktop.ui.welcome import welcome_html
from desktop.ui.widgets import ErrorBanner, UndoBar
from desktop.ui.window_dialogs import WindowDialogs, shortcut_list
from desktop.ui.window_extras import install_extras
from desktop.ui.zoom import Zoom


class MainWindow(QMainWindow):
    """Lays out the sidebar, the model bar, the chat view, the banners, the composer and the
    status line, and wires them, the menus and the chat service together. It owns which chat
    is on screen (``conversation_id``, told to each part when it changes), moving between
    chats, the window's title and its saved geometry; what each part does is the part's own.

    The window's names for the parts' widgets and actions (``input_box``, ``model_picker``,
    ``offline_action``, ...) are the parts' own objects.
    """

    def __init__(
        self,
        chat: ChatService,
        downloads: DownloadManager,
        *,
        library: ChatLibrary,
        comparisons: Comparisons,
        tools: ToolsService | None = None,
        images: ImageService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        #: Pictures for messages (attach, paste, drop); None: this window takes none.
        self.images = images
        self.library = library
        self.downloads = downloads
        self._conversation_id: int | None = None
        self._shut_down = False
        self.setWindowTitle(APP_NAME)
        fit_to_screen(self, 1100, 720)
        self._build_widgets()
        self.menus = Menus(self)
        self._name_actions()
        self.theme = Theme(chat, self.menus)
        self.zoom = Zoom(chat, self.menus, (self.chat_view, self.input_box))
        self.dialogs = WindowDialogs(
            chat, downloads, self, library=library, comparisons=comparisons, images=images
        )
        self.turns = Turns(
            chat,
            library,
            composer=self.composer,
            chat_view=self.chat_view,
            banner=self.banner,
            parent=self,
        )
        self.chat_actions = ChatActions(
            chat,
            self,
            library=library,
            sidebar=self.sidebar,
            banner=self.banner,
            undo_bar=self.undo_bar,
            pin_action=self.pin_action,
        )
        self.tools_ui = ToolsUi(self, tools) if tools is not None else None
        self._connect()
        self.find_bar = install_find_bar(self)
        install_copy_menu(self)
        install_extras(self)
        self._refresh_models()
        self.library.purge_deleted()  # deletions left from a run that ended abruptly
        self._refresh_conversations()
        self._restore_state()
        corrupt = self.library.corrupt_copy
        if corrupt is not None:
            self.banner.show_message(
                f"The history database could not be read (it is damaged), so a new one was "
                f"started. The damaged file was kept as {corrupt}."
            )

    # -- construction -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.sidebar = Sidebar(self.library, self)
        self.conversation_list = self.sidebar.list
        self.new_button = self.sidebar.new_button
        self.undo_bar = UndoBar(self)
        self.model_bar = ModelBar(self.chat, self)
        self.model_picker = self.model_bar.picker
        self.open_model_button = self.model_bar.open_button
        self.models_button = self.model_bar.models_button
        self.privacy_label = self.model_bar.privacy_label
        self.lock_button = self.model_bar.lock_button
        self.chat_view = ChatView(self)
        self.chat_view.images = self.images  # a message's thumbnails come from the service
        self.banner = ErrorBanner(self)
        self.composer = Composer(self.chat, self.library, self, images=self.images)
        self.edit_label = self.composer.edit_label
        self.input_box = self.composer.input_box
        self.send_button = self.composer.send_button
        self.stop_button = self.composer.stop_button
        self.preset_picker = self.composer.preset_picker
        self.presets_button = self.composer.presets_button

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 8, 8, 8)
        right_layout.addWidget(self.model_bar)
        right_layout.addWidget(self.chat_view, 1)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.edit_label)
        right_layout.addWidget(self.undo_bar)
        right_layout.addWidget(self.composer)

        splitter = QSplitter(self)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        self.setCentralWidget(splitter)
        # The tab order of the window before the composer was a part: the preset comes after
        # the model bar, before the chat and the message box.
        chain = [self.lock_button, self.preset_picker, self.presets_button, self.chat_view]
        chain += [self.input_box, self.send_button, self.stop_button]
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)

        self.context_label = ContextMeter(self.chat, self.library, self)
        self.status_line = StatusLine(self.chat, self.statusBar(), self.context_label)
        self.engine_label = self.status_line.engine_label
        self.speed_label = self.status_line.speed_label
        self.offline_label = self.status_line.offline_label
        self.safe_mode_label = self.status_line.safe_mode_label

    def _name_actions(self) -> None:
        """The window's names for the menus' actions (the tests trigger them by these)."""
        menus = self.menus
        self.new_action, self.search_action = menus.new_action, menus.search_action
        self.export_action, self.export_all_action = menus.export_action, menus.export_all_action
        self.import_action, self.offline_action = menus.import_action, menus.offline_action
        self.rename_action, self.delete_action = menus.rename_action, menus.delete_action
        self.pin_action, self.duplicate_action = menus.pin_action, menus.duplicate_action
        self.next_chat_action = menus.next_chat_action
        self.open_model_action, self.models_action = menus.open_model_action, menus.models_action
        self.backend_action, self.compare_action = menus.backend_action, menus.compare_action
        self.leaderboard_action = menus.leaderboard_action
        self.providers_action, self.privacy_action = menus.providers_action, menus.privacy_action
        self.about_action, self.about_qt_action = menus.about_action, menus.about_qt_action
        self.theme_actions = menus.theme_actions

    def _connect(self) -> None:
        chat, menus, dialogs, turns, actions = (
            self.chat,
            self.menus,
            self.dialogs,
            self.turns,
            self.chat_actions,
        )
        # The menus.
        menus.quit_action.triggered.connect(self.close)
        menus.new_action.triggered.connect(self.new_conversation)
        menus.search_action.triggered.connect(self._focus_search)
        menus.export_action.triggered.connect(lambda: actions.export_chats(all_chats=False))
        menus.export_all_action.triggered.connect(lambda: actions.export_chats(all_chats=True))
        # triggered(bool)'s bool is dropped here: it once arrived as import_chats's path.
        menus.import_action.triggered.connect(lambda _checked=False: actions.import_chats())
        menus.stop_action.triggered.connect(self.composer.escape)
        menus.rename_action.triggered.connect(lambda _checked=False: actions.rename())
        menus.pin_action.toggled.connect(actions.pin_on_screen)
        menus.duplicate_action.triggered.connect(lambda _checked=False: actions.duplicate())
        menus.delete_action.triggered.connect(lambda _checked=False: actions.delete())
        self.conversation_list.addAction(menus.delete_action)  # Delete acts in the list only
        menus.local_only_action.toggled.connect(self._on_lock_toggled)
        menus.regenerate_action.triggered.connect(turns.regenerate_last)
        menus.focus_input_action.triggered.connect(self.input_box.setFocus)
        menus.next_chat_action.triggered.connect(lambda: self._step_chat(1))
        menus.previous_chat_action.triggered.connect(lambda: self._step_chat(-1))
        menus.open_model_action.triggered.connect(self.model_bar.open_model_file)
        menus.unload_action.triggered.connect(self._unload)
        menus.models_action.triggered.connect(dialogs.show_models)
        menus.backend_action.triggered.connect(dialogs.show_backend)
        menus.compare_action.triggered.connect(lambda: dialogs.show_compare(blind=False))
        menus.arena_action.triggered.connect(lambda: dialogs.show_compare(blind=True))
        menus.leaderboard_action.triggered.connect(dialogs.show_leaderboard)
        menus.providers_action.triggered.connect(dialogs.show_providers)
        menus.privacy_action.triggered.connect(dialogs.show_privacy)
        menus.prices_action.triggered.connect(dialogs.edit_prices)
        menus.shortcuts_action.triggered.connect(dialogs.show_shortcuts)
        menus.about_action.triggered.connect(dialogs.show_about)
        menus.about_qt_action.triggered.connect(QApplication.aboutQt)
        # The parts.
        self.sidebar.chosen.connect(self._on_conversation_chosen)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.sidebar.row_action.connect(self._on_row_action)
        self.model_bar.model_picked.connect(self._on_model_picked)
        self.model_bar.set_up_cloud.connect(self._on_set_up_cloud)
        self.open_model_button.clicked.connect(self.model_bar.open_model_file)
        self.model_bar.error.connect(self.banner.show_message)
        self.model_bar.status.connect(self.statusBar().showMessage)
        self.models_button.clicked.connect(dialogs.show_models)
        self.lock_button.toggled.connect(self._on_lock_toggled)
        self.composer.submitted.connect(turns.send)
        self.composer.stop_requested.connect(chat.stop)
        self.composer.error.connect(self.banner.show_message)
        self.chat_view.action_requested.connect(lambda *link: follow_message_link(self, *link))
        self.chat_view.link_requested.connect(dialogs.open_link)
        self.chat_view.copied.connect(
            lambda n: self.statusBar().showMessage(f"Copied {n:,} characters", 3000)
        )
        dialogs.error.connect(self.banner.show_message)
        turns.open_requested.connect(self.open_conversation)
        turns.new_chat_requested.connect(self.new_conversation)
        turns.status.connect(self.statusBar().showMessage)
        actions.open_requested.connect(self.open_conversation)
        actions.listing_changed.connect(self._refresh_conversations)
        actions.on_screen_deleted.connect(self._on_screen_deleted)
        actions.status.connect(self.statusBar().showMessage)
        cloud = chat.cloud
        if cloud is not None:
            menus.offline_action.setChecked(cloud.offline)
            menus.offline_action.toggled.connect(self._set_offline)
            cloud.offline_changed.connect(self._on_offline_changed)
            self._on_offline_changed(cloud.offline)
        else:
            for action in (menus.offline_action, menus.providers_action, menus.privacy_action):
                action.setEnabled(False)
        # The chat service.
        chat.models_changed.connect(self._refresh_models)
        chat.conversations_changed.connect(self._refresh_conversations)
        chat.engine_status.connect(self.status_line.show_engine)
        chat.answer_started.connect(turns.on_answer_started)
        chat.answer_started.connect(self._on_answer_started)
        chat.answer_delta.connect(turns.on_answer_delta)
        chat.answer_thinking.connect(turns.on_answer_thinking)
        chat.answer_finished.connect(turns.on_answer_finished)
        chat.tool_progress.connect(turns.on_tool_progress)
        chat.busy_changed.connect(self._on_busy)
        chat.speed.connect(self.status_line.show_speed)
        chat.usage_ready.connect(self.status_line.show_usage)
        chat.error.connect(self.banner.show_message)
        chat.rejected.connect(turns.on_rejected)
        chat.summarised.connect(turns.on_summarised)
        chat.outgrown.connect(turns.on_outgrown)
        chat.context_used.connect(self.context_label.show_used)
        chat.safe_mode_changed.connect(self.status_line.show_safe_mode)
        chat.safe_mode_changed.connect(dialogs.show_safe_mode)
        self.status_line.show_safe_mode(*chat.safe_mode())

    # -- the parts' state, under the window's names --------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The chat on screen; each part that acts on it is told when it changes."""
        return self._conversation_id

    @conversation_id.setter
    def conversation_id(self, conversation_id: int | None) -> None:
        self._conversation_id = conversation_id
        self.turns.conversation_id = conversation_id
        self.chat_actions.conversation_id = conversation_id
        self.composer.conversation_id = conversation_id

    @property
    def editing(self) -> StoredMessage | None:
        return self.composer.editing

    @property
    def models_dialog(self) -> ModelsDialog | None:
        return self.dialogs.models_dialog

    @property
    def backend_dialog(self) -> BackendDialog | None:
        return self.dialogs.backend_dialog

    @property
    def providers_dialog(self) -> ProvidersDialog | None:
        return self.dialogs.providers_dialog

    @property
    def privacy_dialog(self) -> PrivacyDialog | None:
        return self.dialogs.privacy_dialog

    @property
    def leaderboard_dialog(self) -> LeaderboardDialog | None:
        return self.dialogs.leaderboard_dialog

    @property
    def compare_window(self) -> CompareWindow | None:
        return self.dialogs.compare_window

    def shortcut_list(self) -> list[tuple[str, str]]:
        """Every action with a shortcut, as (what, keys) for the shortcut sheet."""
        return shortcut_list(self)

    # -- conversations ------------------------------------------------------------------------

    def _refresh_conversations(self) -> None:
        self.sidebar.current_id = self.conversation_id
        self.sidebar.refresh()
        self._show_title()

    def _show_title(self) -> None:
        """The window's title names the chat on screen (a first message retitles it)."""
        if self.conversation_id is None or not self.library.is_listed(self.conversation_id):
            self.setWindowTitle(APP_NAME)
            return
        title = self.library.conversation(self.conversation_id).title
        self.setWindowTitle(f"{title} — {APP_NAME}")

    @Slot()
    def new_conversation(self) -> None:
        if self.chat.busy:
            return
        current = self._empty_new_chat()
        if current is not None:
            # The chat on screen is already a new, empty one: it is reused (pressing New chat
            # twice left a row of empty "New chat"s), back on the default model.
            self.library.set_model(current, None)
            self.open_conversation(current, listing_changed=False)
        else:
            conversation = self.library.create()
            self._refresh_conversations()
            self.open_conversation(conversation.id)
        self.input_box.setFocus()

    def _empty_new_chat(self) -> int | None:
        """The chat on screen, if it is a new chat with nothing in it yet."""
        if self.conversation_id is None or not self.library.is_listed(self.conversation_id):
            return None
        conversation = self.library.conversation(self.conversation_id)
        if conversation.title != NEW_CHAT_TITLE or self.library.messages(conversation.id):
            return None
        return conversation.id

    def open_conversation(
        self, conversation_id: int, at_message: int = 0, *, listing_changed: bool = True
    ) -> None:
        """Show a chat (at a message, if given). ``listing_changed`` False: only moving between
        chats, nothing written that the sidebar shows, so it only selects the chat."""
        self.conversation_id = conversation_id
        self.chat_view.placeholder_html = welcome_html(self.chat, conversation_id)
        messages = self.library.messages(conversation_id)
        # Each model named once, not once per answer (5,000 in a long chat).
        models = {m.model for m in messages if m.model}
        names = {model: self.chat.model_name(model) for model in models}
        versions = self.library.versions(conversation_id)
        self.chat_view.show_messages(messages, names, at_message, versions)
        self.context_label.show_chat(conversation_id, messages)
        self.status_line.show_usage_of(messages)
        self.banner.chat_shown(conversation_id)
        self.composer.end_editing()
        if self.sidebar.searching:
            self.sidebar.current_id = conversation_id  # the hits stay listed
        elif listing_changed:
            self._refresh_conversations()
        else:
            self.sidebar.show_opened(conversation_id)
        conversation = self.library.conversation(conversation_id)
        self.chat_actions.show_pinned(conversation.pinned)
        self._show_title()
        self._show_locked(conversation.local_only)
        self._refresh_models()

    @Slot(int, int)
    def _on_conversation_chosen(self, conversation_id: int, message_id: int) -> None:
        if not self.library.is_listed(conversation_id):
            self._refresh_conversations()  # a stale hit of a chat deleted meanwhile
            return
        if self.chat.busy and (conversation_id != self.conversation_id or message_id):
            # Keep the answer visible while it streams; switching comes after Stop.
            self.sidebar.select(self.conversation_id)
            self.banner.show_message("Stop the answer being generated before switching chats.")
            return
        # The branch's ids only: the chat's text is read once, by open_conversation.
        switched = bool(message_id) and message_id not in set(
            self.library.branch_ids(conversation_id)
        )
        if switched:
            self.library.show_version(message_id)  # the hit is in another version
        if conversation_id != self.conversation_id or message_id:
            self.open_conversation(conversation_id, message_id, listing_changed=switched)

    @Slot()
    def _focus_search(self) -> None:
        self.sidebar.search_edit.setFocus()
        self.sidebar.search_edit.selectAll()

    @Slot(str, int)
    def _on_row_action(self, action: str, conversation_id: int) -> None:
        """An entry of a sidebar row's own menu: it acts on that row's chat."""
        if not self.library.is_listed(conversation_id):
            self._refresh_conversations()  # deleted meanwhile (a stale search hit)
            return
        if action == "open":
            self._on_conversation_chosen(conversation_id, 0)
        else:
            self.chat_actions.act_on_row(action, conversation_id)

    def _step_chat(self, step: int) -> None:
        """The next or previous chat in the sidebar's order."""
        if self.chat.busy:
            return
        ids = self.library.conversation_ids()
        if not ids:
            return
        index = ids.index(self.conversation_id) if self.conversation_id in ids else 0
        self.open_conversation(ids[(index + step) % len(ids)], listing_changed=False)

    @Slot()
    def _on_screen_deleted(self) -> None:
        self.conversation_id = None
        self._open_latest_or_new()

    def _open_latest_or_new(self) -> None:
        latest = self.library.latest()
        if latest is not None:
            self.open_conversation(latest.id)
        else:
            self.new_conversation()

    # -- models, the lock, offline -------------------------------------------------------------

    def _local_only(self) -> bool:
        if self.conversation_id is None:
            return False
        return self.library.conversation(self.conversation_id).local_only

    def _refresh_models(self) -> None:
        self.model_bar.show_chat(self.conversation_id, self._local_only())
        self.composer.refresh_presets()  # a Llama 4 model brings its recommended preset
        self.composer.refresh_vision()  # attaching pictures only to a model that sees

    @Slot(str)
    def _on_model_picked(self, model_id: str) -> None:
        self.chat.select_model(model_id, self.conversation_id)

    @Slot()
    def _on_set_up_cloud(self) -> None:
        self._refresh_models()  # back to the chat's model
        self.dialogs.show_providers()

    def _show_locked(self, locked: bool) -> None:
        for control in (self.lock_button, self.menus.local_only_action):
            control.blockSignals(True)
            control.setChecked(locked)
            control.blockSignals(False)
        if self.tools_ui is not None and self.conversation_id is not None:
            self.tools_ui.show_chat(self.conversation_id)  # a locked chat has no remote tools

    @Slot(bool)
    def _on_lock_toggled(self, locked: bool) -> None:
        if self.conversation_id is None:
            return
        try:
            self.chat.set_local_only(self.conversation_id, locked)
        except LlamasideError as exc:
            # Not saved, so not in force: the controls must not claim otherwise.
            self.banner.show_message(str(exc))
            locked = not locked
        self._show_locked(locked)
        if not locked:
            self.banner.end_topic("local-only")
        self._refresh_models()

    @Slot(bool)
    def _set_offline(self, offline: bool) -> None:
        assert self.chat.cloud is not None
        try:
            self.chat.cloud.set_offline(offline)
        except OSError as exc:  # it took effect; only remembering it failed
            self.banner.show_message(
                f"Could not save the offline setting ({exc.strerror or exc}); it applies until "
                f"Llamaside closes."
            )

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        self.offline_action.blockSignals(True)
        self.offline_action.setChecked(offline)
        self.offline_action.blockSignals(False)
        self.status_line.show_offline(offline)
        if not offline:
            self.banner.end_topic("offline")
        self.model_bar.show_chat(self.conversation_id, self._local_only())

    @Slot()
    def _unload(self) -> None:
        try:  # while a served request answers, once it ends
            self.chat.unload()
        except LlamasideError as exc:
            self.banner.show_message(str(exc))

    # -- an answer ----------------------------------------------------------------------------

    @Slot(int, int, object)
    def _on_answer_started(
        self, conversation_id: int, _answer_id: int, started: TurnStarted
    ) -> None:
        if conversation_id == self.conversation_id:
            self.status_line.show_answering(conversation_id, started.model_id)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        self.model_picker.setEnabled(not busy)
        self.status_line.show_busy(busy)

    # -- window state -------------------------------------------------------------------------

    def _restore_state(self) -> None:
        """Geometry, the last open chat and the theme, as the user left them."""
        geometry = self.chat.settings.get("window_geometry")
        if isinstance(geometry, str):
            with contextlib.suppress(ValueError):
                self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        self.theme.set_theme(str(self.chat.settings.get("theme", "system")), save=False)
        last = self.chat.settings.get("last_conversation")
        if isinstance(last, int) and self.library.is_listed(last):
            self.open_conversation(last)
        else:
            self._open_latest_or_new()

    def _save_state(self) -> None:
        with contextlib.suppress(OSError):  # not remembering the size is no reason to fail
            self.chat.settings.set(
                "window_geometry", bytes(self.saveGeometry().toBase64().data()).decode("ascii")
            )
            self.chat.settings.set("last_conversation", self.conversation_id)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._shut_down:  # closing twice (e.g. SIGTERM after Quit) does the work once
            super().closeEvent(event)
            return
        self._shut_down = True
        self.theme.stop_following()
        self._save_state()
        self.library.purge_deleted()  # Undo ends with the window
        self.dialogs.close_compare()
        self.downloads.shutdown()  # paused: the partial files resume at the next start
        self.chat.shutdown()
        if self.tools_ui is not None:
            self.tools_ui.tools.close()  # the tool servers' programs end with the window
        if self.images is not None:
            self.images.wait()  # a picture being read finishes, no thread is left behind
        super().closeEvent(event)
