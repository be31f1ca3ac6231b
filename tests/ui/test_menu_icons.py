"""Icons reach the controls that had none: Chat → Find in chat…, the sidebar's New chat, the
chat's Tools button, File → Preferences…, Model → Load settings for this model…; each drawn in
the palette's colours (and again after a theme switch, by icon_set.refresh_icons)."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from desktop.ui.icon_set import icon_name
from desktop.ui.main_window import MainWindow


def menu_action(window: MainWindow, menu_title: str, text: str) -> QAction:
    """The action ``text`` in the menu bar's menu ``menu_title``, as the user finds it."""
    menus = [a.menu() for a in window.menuBar().actions() if a.text() == menu_title]
    assert menus and isinstance(menus[0], QMenu), menu_title
    for action in menus[0].actions():
        if action.text() == text:
            return action
    raise AssertionError(f"{text!r} is not in {menu_title}")


def test_the_missing_icons_are_there(window: MainWindow) -> None:
    wanted = {
        menu_action(window, "&Chat", "&Find in chat…"): "find",
        menu_action(window, "&File", "&Preferences…"): "settings",
        menu_action(window, "&Model", "&Load settings for this model…"): "presets",
    }
    for action, name in wanted.items():
        assert icon_name(action) == name, action.text()
        assert not action.icon().isNull()
        assert action.text()  # the words stay beside the icon
    new_chat = window.sidebar.new_button
    assert window.tools_ui is not None
    tools = window.tools_ui.button
    for button, name in ((new_chat, "new_chat"), (tools, "tools")):
        assert icon_name(button) == name
        assert not button.icon().isNull()
        assert button.text() and button.accessibleName()


def test_every_menu_command_has_an_icon_or_a_check(window: MainWindow) -> None:
    """Every command in the menu bar has its icon; a check (View → Show Sidebar, a theme)
    shows its state with its check mark instead, and a submenu has none."""
    missing = []
    for top in window.menuBar().actions():
        menu = top.menu()
        assert isinstance(menu, QMenu)
        for action in menu.actions():
            if action.isSeparator() or action.menu() is not None or action.isCheckable():
                continue
            if action.icon().isNull():
                missing.append(f"{top.text()} → {action.text()}")
    assert missing == [], "\n".join(missing)
