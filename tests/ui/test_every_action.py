"""Every menu item of the main window, and every button of every window one of them opens, is
triggered the way a user triggers it, with the file dialogs and questions that follow answered
(cancelled) as a user would: none may raise, log an error or leave a question unanswerable.

File → Import once did nothing but log an AttributeError (its ``triggered(bool)`` arrived as a
path) while the tests, calling ``import_chats(path)`` directly, passed. This walk finds that
kind of fault in whatever menu item or button is added next, without a test written for it.

The app works offline for the walk (the first thing it does, through File → Work offline), so
no button reaches the network; the dialogs' own behaviour is tested in their own files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QTabWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.messages import MessageStatus, Role
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from desktop.ui.main_window import MainWindow

#: Buttons the walk leaves alone, each for a reason that is not "it might fail".
LEFT_ALONE: set[str] = set()


class Answerer(QObject):
    """Answers whatever question or dialog comes up modally: Cancel, No, Close, or reject;
    closes a context menu. Keeps a list of what it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: list[str] = []
        self.timer = QTimer(self)
        self.timer.setInterval(30)
        self.timer.timeout.connect(self.answer)
        self.timer.start()

    @Slot()
    def answer(self) -> None:
        popup = QApplication.activePopupWidget()
        if isinstance(popup, QMenu):
            self.answered.append(f"menu {popup.title()!r}")
            popup.close()
            return
        modal = QApplication.activeModalWidget()
        if modal is None:
            return
        self.answered.append(f"{type(modal).__name__} {modal.windowTitle()!r}")
        if isinstance(modal, QMessageBox):
            for role in (
                QMessageBox.ButtonRole.RejectRole,
                QMessageBox.ButtonRole.NoRole,
                QMessageBox.ButtonRole.DestructiveRole,
            ):
                button = next((b for b in modal.buttons() if modal.buttonRole(b) == role), None)
                if button is not None and role != QMessageBox.ButtonRole.DestructiveRole:
                    button.click()
                    return
            escape = modal.escapeButton()
            if escape is not None:
                escape.click()
                return
            modal.buttons()[0].click()  # an information box's only button: OK
        elif isinstance(modal, (QFileDialog, QInputDialog, QDialog)):
            modal.reject()
        else:
            modal.close()


class Opened(QObject):
    """Where QDesktopServices.openUrl would have sent the user (a file, a web page)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    store = ChatStore(home.database)  # a chat with history, so chat actions have work to do
    chat = store.create_conversation("Walked chat")
    question = store.add_message(chat.id, Role.USER, "A question")
    store.add_message(
        chat.id,
        Role.ASSISTANT,
        "An answer",
        model="local:smollm2-135m-instruct",
        status=MessageStatus.COMPLETE,
        parent_id=question.id,
    )
    store.close()
    win = build_window(home)
    qtbot.addWidget(win)
    win.resize(1100, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    win.chat.store.close()


def menu_actions(window: MainWindow) -> list[tuple[str, QAction]]:
    """Every item of every menu (submenus included), as "Menu → Item", in menu order."""
    found: list[tuple[str, QAction]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            label = f"{path} → {action.text().replace('&', '')}"
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                walk(submenu, label)
            else:
                found.append((label, action))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, top.text().replace("&", ""))
    return found


def other_windows(window: MainWindow) -> list[QWidget]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if w.isVisible() and w is not window and not isinstance(w, QMenu)
    ]


def buttons_of(widget: QWidget) -> list[QAbstractButton]:
    return [
        b
        for b in widget.findChildren(QAbstractButton)
        if b.isVisible() and b.isEnabled() and b.text().replace("&", "") not in LEFT_ALONE
    ]


def walk_window(
    qtbot: QtBot, opened: QWidget, walked: list[str], name: str, depth: int = 1
) -> None:
    """Click every button of a window the menu opened, on every tab (a button may close it)."""

    def gone() -> bool:
        return not shiboken6.isValid(opened) or not opened.isVisible()

    tabs = opened.findChildren(QTabWidget)
    pages: list[tuple[QTabWidget | None, int]] = [(t, i) for t in tabs for i in range(t.count())]
    for tab_widget, index in pages or [(None, 0)]:
        if gone():
            return
        if tab_widget is not None:
            tab_widget.setCurrentIndex(index)  # as clicking the tab does
            qtbot.wait(20)
        for button in buttons_of(opened):
            if gone():
                return
            if not shiboken6.isValid(button) or not button.isVisible() or not button.isEnabled():
                continue  # an earlier click changed the page
            label = button.text().replace("&", "") or button.toolTip() or button.objectName()
            before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
            button.click()
            walked.append(f"{name} / {label}")
            qtbot.wait(30)
            if depth < 2:  # a window that button opened (Batch…, Leaderboard…): its buttons too
                for new in QApplication.topLevelWidgets():
                    if id(new) not in before and new.isVisible() and not isinstance(new, QMenu):
                        walk_window(qtbot, new, walked, f"{name} / {label}", depth + 1)
                        if shiboken6.isValid(new) and new.isVisible():
                            new.close()


def test_every_menu_item_and_the_buttons_of_what_it_opens(
    window: MainWindow, qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    answerer = Answerer()
    opened = Opened()
    for scheme in ("file", "http", "https"):
        # PySide6 takes the slot's name as str; its stubs say bytes.
        QDesktopServices.setUrlHandler(scheme, opened, "open")  # type: ignore[arg-type]
    try:
        actions = menu_actions(window)
        labels = [label for label, _action in actions]
        # The walk covers the menus as they are: a menu item added later is walked too.
        assert "File → Import chats…" in labels and "Help → About Qt" in labels
        window.offline_action.trigger()  # first: nothing leaves the machine during the walk
        assert window.chat.cloud is not None and window.chat.cloud.offline
        walked: list[str] = []
        for label, action in actions:
            if label == "File → Quit":
                continue  # last, below
            if not action.isEnabled():
                continue
            before = set(map(id, other_windows(window)))
            action.trigger()
            if action.isCheckable():
                qtbot.wait(30)
                action.trigger()  # both ways: on and off again
            walked.append(label)
            qtbot.wait(50)
            for new in other_windows(window):
                if id(new) in before:
                    continue
                walk_window(qtbot, new, walked, label)
                if shiboken6.isValid(new) and new.isVisible():
                    new.close()
            qtbot.wait(30)
        assert window.isVisible()
        assert len(walked) > len(actions)  # the dialogs' buttons were walked too
        # The file dialogs and questions came up, and were answered.
        assert "QFileDialog 'Import chats'" in answerer.answered, answerer.answered
        assert any(url.endswith("/config/pricing.json") for url in opened.urls), opened.urls
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]

        quit_action = next(a for label, a in actions if label == "File → Quit")
        quit_action.trigger()
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    finally:
        answerer.timer.stop()
        for scheme in ("file", "http", "https"):
            QDesktopServices.unsetUrlHandler(scheme)
