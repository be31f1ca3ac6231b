"""The main window's menu bar: File, Chat, Model, Compare, Cloud, View and Help, with their
actions and shortcuts."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from desktop import APP_NAME
from desktop.ui.icon_set import set_icon

#: The View → Theme entries: the setting's value and its label.
THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))

#: Each action's icon (icon_set's names). Checkable actions have none: a menu shows their
#: state with its check mark, which an icon would replace.
ACTION_ICONS = {
    "new_action": "new_chat",
    "search_action": "search",
    "export_action": "export",
    "export_all_action": "export",
    "import_action": "import",
    "quit_action": "quit",
    "focus_input_action": "edit",
    "stop_action": "stop",
    "rename_action": "rename",
    "duplicate_action": "duplicate",
    "delete_action": "delete",
    "regenerate_action": "regenerate",
    "next_chat_action": "next",
    "previous_chat_action": "previous",
    "models_action": "models",
    "open_model_action": "open",
    "unload_action": "unload",
    "backend_action": "gpu",
    "compare_action": "compare",
    "arena_action": "arena",
    "leaderboard_action": "leaderboard",
    "providers_action": "keys",
    "privacy_action": "privacy",
    "prices_action": "prices",
    "zoom_in_action": "zoom_in",
    "zoom_out_action": "zoom_out",
    "actual_size_action": "actual_size",
    "shortcuts_action": "keyboard",
    "about_action": "about",
    "about_qt_action": "about",
}


class Menus(QObject):
    """Owns the menu bar's menus and QActions (their texts, shortcuts and order); the window
    connects each action to what it does. The actions are the window's children, so their
    shortcuts work anywhere in it.

    Signals:
        theme_chosen(str): View → Theme → an entry ("system", "light" or "dark").
    """

    theme_chosen = Signal(str)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._build_file(window)
        self._build_chat(window)
        self._build_model(window)
        self._build_compare(window)
        self._build_cloud(window)
        self._build_view(window)
        self._build_help(window)
        for attribute, name in ACTION_ICONS.items():
            set_icon(getattr(self, attribute), name)

    def _build_file(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("&File")
        self.new_action = QAction(
            "&New chat", window, shortcut=QKeySequence(QKeySequence.StandardKey.New)
        )
        self.quit_action = QAction(
            "&Quit", window, shortcut=QKeySequence(QKeySequence.StandardKey.Quit)
        )
        self.offline_action = QAction(
            "Work &offline", window, shortcut=QKeySequence("Ctrl+Shift+O"), checkable=True
        )
        self.offline_action.setToolTip("Block all network use: the hub and every cloud provider")
        self.search_action = QAction("&Search all chats", window, shortcut=QKeySequence("Ctrl+K"))
        self.export_action = QAction("&Export this chat…", window)
        self.export_all_action = QAction("Export &all chats…", window)
        self.import_action = QAction("&Import chats…", window)
        menu.addAction(self.new_action)
        menu.addAction(self.search_action)
        menu.addSeparator()
        menu.addActions([self.export_action, self.export_all_action, self.import_action])
        menu.addSeparator()
        menu.addAction(self.offline_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)

    def _build_chat(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("&Chat")
        #: Kept for the windows' own additions (PySide 6.8's QAction.menu() gives a dead one).
        self.chat_menu = menu
        self.stop_action = QAction("&Stop generating", window, shortcut=QKeySequence("Esc"))
        self.rename_action = QAction("&Rename…", window, shortcut=QKeySequence("F2"))
        self.delete_action = QAction(
            "&Delete…", window, shortcut=QKeySequence(QKeySequence.StandardKey.Delete)
        )
        self.local_only_action = QAction("&Local only (this chat)", window, checkable=True)
        self.pin_action = QAction("&Pin to the top", window, checkable=True)
        self.duplicate_action = QAction("D&uplicate", window)
        menu.addActions(
            [
                self.stop_action,
                self.rename_action,
                self.pin_action,
                self.duplicate_action,
                self.delete_action,
            ]
        )
        menu.addSeparator()
        menu.addAction(self.local_only_action)
        self.regenerate_action = QAction(
            "Re&generate the last answer", window, shortcut=QKeySequence("Ctrl+R")
        )
        self.focus_input_action = QAction(
            "&Focus the message box", window, shortcut=QKeySequence("Ctrl+L")
        )
        self.next_chat_action = QAction("Ne&xt chat", window, shortcut=QKeySequence("Ctrl+PgDown"))
        self.previous_chat_action = QAction(
            "Pre&vious chat", window, shortcut=QKeySequence("Ctrl+PgUp")
        )
        menu.addSeparator()
        menu.addActions(
            [
                self.regenerate_action,
                self.focus_input_action,
                self.next_chat_action,
                self.previous_chat_action,
            ]
        )
        # Delete in the input box deletes characters, not the chat: the window gives this
        # action to the chat list only.
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _build_model(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("&Model")
        self.open_model_action = QAction(
            "&Open GGUF file…", window, shortcut=QKeySequence(QKeySequence.StandardKey.Open)
        )
        self.unload_action = QAction("&Unload model", window)
        self.models_action = QAction(
            "&Models and downloads…", window, shortcut=QKeySequence("Ctrl+M")
        )
        self.backend_action = QAction("GPU &backend…", window)
        self.backend_action.setStatusTip(
            "What the local engine runs on (CPU, CUDA, Metal, Vulkan) and how to use your GPU"
        )
        menu.addActions(
            [self.models_action, self.open_model_action, self.unload_action, self.backend_action]
        )

    def _build_compare(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("Com&pare")
        self.compare_action = QAction(
            "&Compare models side by side…", window, shortcut=QKeySequence("Ctrl+Shift+M")
        )
        self.arena_action = QAction("&Blind A/B arena…", window)
        self.leaderboard_action = QAction("&Leaderboard…", window)
        menu.addActions([self.compare_action, self.arena_action, self.leaderboard_action])

    def _build_cloud(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("C&loud")
        self.providers_action = QAction(
            "Cloud &providers and keys…", window, shortcut=QKeySequence("Ctrl+,")
        )
        self.privacy_action = QAction(
            "&Privacy record…", window, shortcut=QKeySequence("Ctrl+Shift+P")
        )
        self.prices_action = QAction("Edit &prices…", window)
        menu.addActions([self.providers_action, self.privacy_action, self.prices_action])

    def _build_view(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("&View")
        theme_menu = menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        for key, label in THEMES:
            action = QAction(label, window, checkable=True)
            action.triggered.connect(lambda _checked=False, k=key: self.theme_chosen.emit(k))
            theme_menu.addAction(action)
            self.theme_actions[key] = action
        menu.addSeparator()
        self.zoom_in_action = QAction("Zoom &In", window)
        # Ctrl+= first: it is the key without Shift on most layouts, and the one menus show.
        self.zoom_in_action.setShortcuts([QKeySequence("Ctrl+="), QKeySequence("Ctrl++")])
        self.zoom_out_action = QAction("Zoom &Out", window, shortcut=QKeySequence("Ctrl+-"))
        self.actual_size_action = QAction("&Actual Size", window, shortcut=QKeySequence("Ctrl+0"))
        menu.addActions([self.zoom_in_action, self.zoom_out_action, self.actual_size_action])

    def _build_help(self, window: QMainWindow) -> None:
        menu = window.menuBar().addMenu("&Help")
        self.shortcuts_action = QAction(
            "&Keyboard shortcuts", window, shortcut=QKeySequence("Ctrl+/")
        )
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        self.about_action = QAction(f"&About {APP_NAME}", window)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_qt_action = QAction("About &Qt", window)
        self.about_qt_action.setMenuRole(QAction.MenuRole.AboutQtRole)
        menu.addActions([self.about_action, self.about_qt_action])

    def show_theme(self, theme: str) -> None:
        """Check the theme in force, uncheck the others."""
        for key, action in self.theme_actions.items():
            action.setChecked(key == theme)
