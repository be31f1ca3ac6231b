"""Preferences (Ctrl+, ; on macOS in the app menu): one window for the app's settings, as LM
Studio's and Jan's users expect. A list of pages on the left (Appearance, Chat, Privacy,
Engine, Folders, Cloud keys), the page on the right. Every control applies and saves its
setting as it changes; there is no OK or Apply, and Esc (or Close) closes the window.

It installs itself (``install_preferences``): File → Preferences…, the engine and privacy
defaults handed to the chat service and the chat library at start, and Cloud → Cloud providers
and keys… opening the Cloud keys page here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMenu,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.design import SPACE, type_font
from desktop.ui.icon_set import icon, set_icon
from desktop.ui.prefs_engine import EnginePage, apply_engine_defaults
from desktop.ui.prefs_pages import (
    LOCK_NEW_CHATS,
    AppearancePage,
    ChatPage,
    FoldersPage,
    PrivacyPage,
    apply_new_chat_preset,
)
from desktop.ui.providers_dialog import ProvidersPage
from desktop.ui.screen_fit import fit_to_screen

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

#: The pages' keys, in the order the list shows them ("cloud" only with cloud models on).
PAGES = ("appearance", "chat", "privacy", "engine", "folders", "cloud")
#: Each page's icon (icon_set's names).
ICONS = {
    "appearance": "theme",
    "chat": "new_chat",
    "privacy": "privacy",
    "engine": "gpu",
    "folders": "folder",
    "cloud": "keys",
}
TITLES = {
    "appearance": "Appearance",
    "chat": "Chat",
    "privacy": "Privacy",
    "engine": "Engine",
    "folders": "Folders",
    "cloud": "Cloud keys",
}


class PreferencesDialog(QDialog):
    """Owns the pages and the list that switches between them.

    Attributes:
        pages: each page by its key (see PAGES).
    """

    def __init__(self, window: MainWindow, automatic_threads: int) -> None:
        super().__init__(window)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferencesDialog")
        self.pages: dict[str, QWidget] = {
            "appearance": AppearancePage(window, self),
            "chat": ChatPage(window, self),
            "privacy": PrivacyPage(window, self),
            "engine": EnginePage(window.chat, automatic_threads, self),
            "folders": FoldersPage(window, self),
        }
        if window.chat.cloud is not None:
            self.pages["cloud"] = ProvidersPage(window.chat.cloud, self)
        self.page_list = QListWidget(self)
        self.page_list.setAccessibleName("Preferences pages")
        self.page_list.setFixedWidth(170)
        self.page_list.setSpacing(SPACE.xs)
        self.stack = QStackedWidget(self)
        self.title = QLabel(self)
        self.title.setAccessibleName("Page title")
        self.title.setFont(type_font("heading"))
        for key, page in self.pages.items():
            self.page_list.addItem(TITLES[key])
            self.stack.addWidget(page)
        self.page_list.currentRowChanged.connect(self._on_row)
        right = QVBoxLayout()
        right.addWidget(self.title)
        right.addWidget(self.stack, 1)
        body = QHBoxLayout()
        body.setSpacing(SPACE.l)
        body.addWidget(self.page_list)
        body.addLayout(right, 1)
        note = QLabel("Changes apply at once and are saved.", self)
        note.setAccessibleName("How changes are applied")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(note, 1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(bottom)
        self._draw_icons()
        # Enter in a field must not press a button the page did not mean (Open, Add…).
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.page_list.setCurrentRow(0)
        fit_to_screen(self, 800, 600)

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch: the pages' icons are drawn again in the new palette's colours."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._draw_icons()

    def _draw_icons(self) -> None:
        for row, key in enumerate(self.pages):
            item = self.page_list.item(row)
            if item is not None:
                item.setIcon(icon(ICONS[key]))

    @Slot(int)
    def _on_row(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        self.title.setText(TITLES[list(self.pages)[row]])

    def show_page(self, key: str) -> None:
        """Switch to a page by its key (an unknown key leaves the page as it is)."""
        if key in self.pages:
            self.page_list.setCurrentRow(list(self.pages).index(key))

    @property
    def current_page(self) -> str:
        return list(self.pages)[self.stack.currentIndex()]


class Preferences(QObject):
    """Owns File → Preferences… (Ctrl+,) and the Preferences window, made on first use and
    kept; and, from start, hands the saved engine and privacy defaults to the services."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("preferences")
        self._window = window
        self.dialog: PreferencesDialog | None = None
        #: "Automatic" CPU threads: what the chat service chose at start (the physical cores).
        self.automatic_threads = window.chat.load_params.n_threads or 1
        apply_engine_defaults(window.chat, self.automatic_threads)
        window.library.lock_new_chats = bool(window.chat.settings.get(LOCK_NEW_CHATS, False))
        chat = window.chat
        window.library.prepare_new_chat = lambda chat_id: apply_new_chat_preset(chat, chat_id)
        self.action = QAction("&Preferences…", window)
        keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Preferences)
        self.action.setShortcuts(keys or [QKeySequence("Ctrl+,")])
        self.action.setMenuRole(QAction.MenuRole.PreferencesRole)
        set_icon(self.action, "settings")
        self.action.setStatusTip("Theme, text size, privacy, engine defaults, folders and keys")
        self.action.triggered.connect(lambda _checked=False: self.open())

    def open(self, page: str = "") -> PreferencesDialog:
        """Show the window (at ``page``, when given) and bring it to the front."""
        if self.dialog is None:
            self.dialog = PreferencesDialog(self._window, self.automatic_threads)
        if page:
            self.dialog.show_page(page)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog


def _file_menu(window: MainWindow) -> QMenu | None:
    """The menu holding File → Quit (Menus keeps no handle on it)."""
    quit_action = window.menus.quit_action
    for menu in window.menuBar().findChildren(QMenu):
        if quit_action in menu.actions():
            return menu
    return None


def install_preferences(window: MainWindow) -> Preferences:
    """File → Preferences… (Ctrl+,) above Quit; Cloud → Cloud providers and keys… opens its
    Cloud keys page (Ctrl+, was that item's; it is Preferences' now)."""
    existing = window.findChild(Preferences, "preferences")
    if isinstance(existing, Preferences):
        return existing
    preferences = Preferences(window)
    menu = _file_menu(window)
    quit_action = window.menus.quit_action
    if menu is not None:
        menu.insertAction(quit_action, preferences.action)
        menu.insertSeparator(quit_action)
    else:  # a menu bar laid out otherwise: the shortcut still works
        window.addAction(preferences.action)
    window.menus.providers_action.setShortcut(QKeySequence())
    window.dialogs.open_cloud_keys = lambda: preferences.open("cloud")
    return preferences
