"""View → Show Sidebar (Ctrl+Shift+B): the chat list folds away and comes back. The splitter's
handle does the same (dragged to the window's edge it folds the list; dragged out it brings it
back), and the menu's check follows either way. The choice is the "sidebar_visible" setting,
so a window opens as the last one was left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QSplitter, QWidget

from desktop.services.chat import ChatService

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

SETTING = "sidebar_visible"
SHORTCUT = "Ctrl+Shift+B"
#: The sidebar's width when it comes back and no earlier width is known.
DEFAULT_WIDTH = 240


class SidebarToggle(QObject):
    """Owns whether the sidebar is folded: View → Show Sidebar (checkable), the splitter's
    sizes that fold it (the sidebar collapsed to no width, its handle left to drag it back),
    the width it comes back at, and the "sidebar_visible" setting."""

    def __init__(
        self, chat: ChatService, splitter: QSplitter, sidebar: QWidget, focus_back: QWidget
    ) -> None:
        super().__init__(splitter)
        self.chat = chat
        self.splitter = splitter
        self.sidebar = sidebar
        self.focus_back = focus_back
        self._width = DEFAULT_WIDTH
        self.action = QAction("Show &Sidebar", splitter.window(), checkable=True)
        self.action.setObjectName("showSidebarAction")
        self.action.setShortcut(QKeySequence(SHORTCUT))
        self.action.setStatusTip("Show or hide the list of chats")
        saved = chat.settings.get(SETTING, True)
        self.action.setChecked(saved is not False)
        self.action.toggled.connect(self._on_toggled)
        splitter.splitterMoved.connect(self._on_moved)
        if not self.action.isChecked():
            self._fold()
            self._reachable(False)

    @property
    def shown(self) -> bool:
        """Whether the chat list has room on screen (not folded by the menu or the handle)."""
        return self.splitter.sizes()[self._index()] > 0

    def show_sidebar(self) -> None:
        """Bring the chat list back (as Ctrl+K does before searching)."""
        self.action.setChecked(True)

    def _reachable(self, shown: bool) -> None:
        # Tab skips a folded list: it passed through its hidden, zero-width controls.
        self.sidebar.setEnabled(shown)

    def _index(self) -> int:
        return self.splitter.indexOf(self.sidebar)

    @Slot(bool)
    def _on_toggled(self, checked: bool) -> None:
        if checked:
            self._unfold()
        else:
            if self.sidebar.isAncestorOf(self.sidebar.focusWidget() or self.sidebar):
                # Keys typed next must not go into a list no one sees.
                self.focus_back.setFocus(Qt.FocusReason.OtherFocusReason)
            self._fold()
        self._reachable(checked)
        self.chat.settings.set(SETTING, checked)

    def _fold(self) -> None:
        sizes = self.splitter.sizes()
        index = self._index()
        if sizes[index] > 0 and self.splitter.isVisible():  # not yet laid out: a guess
            self._width = sizes[index]
        total = sum(sizes)
        self.splitter.setSizes([0 if i == index else total for i in range(len(sizes))])

    def _unfold(self) -> None:
        if self.shown:
            return
        sizes = self.splitter.sizes()
        index = self._index()
        total = sum(sizes)
        width = min(self._width, max(total // 2, 1))
        rest = max(total - width, 1)
        self.splitter.setSizes([width if i == index else rest for i in range(len(sizes))])

    @Slot(int, int)
    def _on_moved(self, _pos: int, _index: int) -> None:
        """The handle was dragged: the check (and the setting) follow what is on screen."""
        shown = self.shown
        self._reachable(shown)
        if shown:
            self._width = self.splitter.sizes()[self._index()]
        if shown != self.action.isChecked():
            blocked = self.action.blockSignals(True)
            self.action.setChecked(shown)
            self.action.blockSignals(blocked)
            self.chat.settings.set(SETTING, shown)


def _view_menu(window: MainWindow) -> QMenu | None:
    # The menu objects themselves: PySide 6.8's QAction.menu() hands back a deleted QMenu.
    for menu in window.menuBar().findChildren(QMenu):
        if menu.title().replace("&", "") == "View":
            return menu
    return None


def install_sidebar_toggle(window: MainWindow) -> SidebarToggle:
    """View → Show Sidebar on the window, its check and the splitter kept together; Ctrl+K
    (search all chats) brings a folded sidebar back first."""
    existing = getattr(window, "sidebar_toggle", None)
    if isinstance(existing, SidebarToggle):
        return existing
    splitter = window.sidebar.parentWidget()
    assert isinstance(splitter, QSplitter), "the sidebar sits in the window's splitter"
    toggle = SidebarToggle(window.chat, splitter, window.sidebar, window.input_box)
    menu = _view_menu(window)
    if menu is not None:
        entries = menu.actions()
        if entries:  # first, above Theme: it is the View menu's biggest change to the window
            menu.insertAction(entries[0], toggle.action)
            menu.insertSeparator(entries[0])
        else:
            menu.addAction(toggle.action)
    search = window.sidebar.search_edit

    def search_all() -> None:  # the list back first: its search box takes the focus again
        toggle.show_sidebar()
        search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        search.selectAll()

    window.menus.search_action.triggered.connect(lambda _checked=False: search_all())
    window.sidebar_toggle = toggle  # type: ignore[attr-defined]
    return toggle
