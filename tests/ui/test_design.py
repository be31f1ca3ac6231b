"""View → Theme → Dark, from the window's own menu, switches the whole design: the app palette
is the dark one, the icons are drawn again in its colours (their pixels change), toned labels
take the dark tones, and the text zoom survives the switch; back to Light, all comes back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QAbstractButton, QApplication, QMenu, QWidget
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.storage.paths import AppPaths
from desktop.ui.design import colours_for, palette_for, set_tone, tone_of
from desktop.ui.icon_set import ICONS, icon, icon_name, set_icon
from desktop.ui.main_window import MainWindow

Role = QPalette.ColorRole


def ink(qicon: QIcon, mode: QIcon.Mode = QIcon.Mode.Normal) -> str:
    """The colour of an icon's glyph: its most common fully opaque pixel."""
    image = qicon.pixmap(32, 32, mode).toImage()
    seen = Counter(
        image.pixelColor(x, y).name()
        for x in range(image.width())
        for y in range(image.height())
        if image.pixelColor(x, y).alpha() == 255
    )
    assert seen, "the icon drew nothing"
    return seen.most_common(1)[0][0]


def text_colour(widget: QWidget) -> str:
    return widget.palette().color(widget.foregroundRole()).name()


def choose_theme(window: MainWindow, label: str) -> None:
    """View → Theme → ``label``, found in the menu bar as a user finds it."""
    view = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&View")
    themes = next(m for m in view.findChildren(QMenu) if m.title() == "&Theme")
    action = next(a for a in themes.actions() if a.text() == label)
    action.trigger()


@pytest.fixture
def light(window: MainWindow) -> Iterator[MainWindow]:
    choose_theme(window, "Light")
    yield window
    window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found


def test_dark_and_back_recolours_palette_icons_and_tones(light: MainWindow, qtbot: QtBot) -> None:
    window = light
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    lit = colours_for(dark=False)
    assert QGuiApplication.palette().color(Role.Window) == palette_for(False).color(Role.Window)
    button = window.models_button
    assert icon_name(button) == "download"
    assert ink(button.icon()) == lit.button_text
    # The disabled Stop button's icon in the Disabled group's colour, Send's on the accent.
    assert ink(window.stop_button.icon(), QIcon.Mode.Disabled) == lit.disabled_text
    assert ink(window.send_button.icon()) == lit.accent_text
    label = window.privacy_label
    assert tone_of(label) == "success"
    assert text_colour(label) == lit.success
    window.menus.zoom_in_action.trigger()
    zoomed = window.chat_view.font().pointSizeF()

    choose_theme(window, "Dark")
    dark = colours_for(dark=True)
    for role in (Role.Window, Role.Base, Role.Text, Role.Link, Role.ToolTipBase):
        assert QGuiApplication.palette().color(role) == palette_for(True).color(role), role
    assert app.styleSheet().count(dark.success) >= 1
    assert ink(button.icon()) == dark.button_text != lit.button_text
    assert ink(window.send_button.icon()) == dark.accent_text
    qtbot.waitUntil(lambda: text_colour(label) == dark.success)
    assert window.chat_view.font().pointSizeF() == zoomed  # the zoom outlives the switch
    assert window.theme_actions["dark"].isChecked()

    choose_theme(window, "Light")
    assert QGuiApplication.palette().color(Role.Base) == QColor(lit.base)
    assert ink(button.icon()) == lit.button_text
    qtbot.waitUntil(lambda: text_colour(label) == lit.success)
    window.menus.actual_size_action.trigger()


def test_a_tone_set_later_follows_the_theme_too(light: MainWindow, qtbot: QtBot) -> None:
    label = light.composer.edit_label
    set_tone(label, "danger")
    qtbot.waitUntil(lambda: text_colour(label) == colours_for(False).danger)
    choose_theme(light, "Dark")
    qtbot.waitUntil(lambda: text_colour(label) == colours_for(True).danger)
    set_tone(label, "")
    assert tone_of(label) == ""
    qtbot.waitUntil(lambda: text_colour(label) == colours_for(True).window_text)


def test_a_window_opened_under_the_theme_in_force_keeps_its_text_zoom(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    """A window opens zoomed in (the saved text zoom) while the app already has its theme: Qt drops
    the fonts set on widgets not yet shown when the app stylesheet is set again, and the
    window's restored theme undid its zoom."""
    window.menus.zoom_in_action.trigger()
    zoomed = window.chat_view.font().pointSizeF()
    choose_theme(window, "Follow the system")
    window.close()
    again = build_window(home)
    qtbot.addWidget(again)
    try:
        assert again.theme_actions["system"].isChecked()
        assert again.chat_view.font().pointSizeF() == zoomed
        assert again.input_box.font().pointSizeF() == window.input_box.font().pointSizeF()
        choose_theme(again, "Dark")
        assert again.chat_view.font().pointSizeF() == zoomed
        again.menus.actual_size_action.trigger()
        again.theme_actions["system"].trigger()
    finally:
        again.close()
        again.chat.store.close()


def test_every_iconed_control_is_named_and_menu_actions_have_icons(light: MainWindow) -> None:
    window = light
    buttons = [b for b in window.findChildren(QAbstractButton) if icon_name(b)]
    assert {window.send_button, window.stop_button, window.models_button} <= set(buttons)
    for button in buttons:
        assert button.accessibleName(), icon_name(button)
        if not button.text():  # icon only: the tooltip says what it does
            assert button.toolTip(), icon_name(button)
        assert not button.icon().isNull()
    actions = {a for a in window.findChildren(QAction) if icon_name(a)}
    menus = window.menus
    for action in (menus.new_action, menus.models_action, menus.compare_action,
                   menus.zoom_in_action, menus.quit_action):  # fmt: skip
        assert action in actions
        assert action.text()  # the words stay beside the icon


def test_an_unknown_icon_name_is_refused() -> None:
    with pytest.raises(KeyError):
        icon("no-such-icon")
    assert "send" in ICONS


def test_icons_are_sharp_on_a_high_dpi_screen(light: MainWindow) -> None:
    """A glyph drawn for the scale asked: 2x gives twice the pixels, not a blown-up 1x."""
    pixmap = light.send_button.icon().pixmap(light.send_button.iconSize(), 2.0)
    assert pixmap.width() == 2 * light.send_button.iconSize().width()
    assert pixmap.devicePixelRatio() == 2.0


def test_set_icon_on_a_new_action_is_redrawn_on_a_switch(light: MainWindow) -> None:
    action = QAction("Copy", light)
    set_icon(action, "copy")
    before = ink(action.icon())
    choose_theme(light, "Dark")
    assert ink(action.icon()) != before
    assert ink(action.icon()) == colours_for(True).button_text
