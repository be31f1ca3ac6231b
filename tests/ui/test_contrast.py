"""The light and dark palettes read well: every text colour on the surface it is drawn on meets
WCAG 2's AA contrast (4.5:1; 3:1 for disabled text, which WCAG exempts but must stay legible),
computed from the palettes the app sets (design.palette_for) and the tones of its stylesheet."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QMenu,
    QRadioButton,
    QStyle,
    QStyleOptionButton,
    QWidget,
)

from desktop.ui.design import TONES, colours_for, palette_for
from desktop.ui.main_window import MainWindow

Role = QPalette.ColorRole
DISABLED = QPalette.ColorGroup.Disabled

#: (text, background): each pair of roles drawn one on the other.
PAIRS = [
    (Role.Text, Role.Base),
    (Role.WindowText, Role.Window),
    (Role.ButtonText, Role.Button),
    (Role.HighlightedText, Role.Highlight),
    (Role.PlaceholderText, Role.Base),
    (Role.Link, Role.Base),
    (Role.LinkVisited, Role.Base),
    (Role.ToolTipText, Role.ToolTipBase),
    (Role.Text, Role.AlternateBase),
    (Role.Link, Role.Window),
]


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(c) for c in (colour.redF(), colour.greenF(), colour.blueF()))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: QColor, two: QColor) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_ratio_is_wcags() -> None:
    assert contrast(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert contrast(QColor("#777777"), QColor("white")) == pytest.approx(4.48, abs=0.01)
    # Qt's Fusion dark link (#2a82da, what the app's dark theme had before) on its dark base:
    # it fails, as a check must be able to.
    assert contrast(QColor("#2a82da"), QColor("#2d2d2d")) < 4.5


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0].name}-on-{p[1].name}")
def test_text_roles_read_on_their_backgrounds(dark: bool, pair: tuple[Role, Role]) -> None:
    palette = palette_for(dark)
    text, background = (palette.color(role) for role in pair)
    ratio = contrast(text, background)
    assert ratio >= 4.5, (text.name(), background.name(), round(ratio, 2))


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("surface", [Role.Base, Role.Window, Role.AlternateBase])
def test_every_tone_reads_on_base_and_window(dark: bool, tone: str, surface: Role) -> None:
    colour = QColor(colours_for(dark).tone(tone))  # type: ignore[arg-type]
    background = palette_for(dark).color(surface)
    ratio = contrast(colour, background)
    assert ratio >= 4.5, (tone, colour.name(), background.name(), round(ratio, 2))


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_surfaces_with_their_own_text(dark: bool) -> None:
    """The default button's text on the accent, the error banner's danger on its surface."""
    c = colours_for(dark)
    assert contrast(QColor(c.accent_text), QColor(c.accent)) >= 4.5
    assert contrast(QColor(c.danger), QColor(c.danger_surface)) >= 4.5


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize(
    "pair",
    [(Role.Text, Role.Base), (Role.WindowText, Role.Window), (Role.ButtonText, Role.Button)],
    ids=lambda p: f"{p[0].name}-on-{p[1].name}",
)
def test_disabled_text_stays_legible(dark: bool, pair: tuple[Role, Role]) -> None:
    palette = palette_for(dark)
    text, background = (palette.color(DISABLED, role) for role in pair)
    ratio = contrast(text, background)
    assert ratio >= 3.0, (text.name(), background.name(), round(ratio, 2))
    # Disabled is told apart from enabled: not the same colour.
    assert text != palette.color(pair[0])


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_role_is_set_in_every_group(dark: bool) -> None:
    """No role is left to Qt's defaults (white tooltips on a dark theme, black links)."""
    palette = palette_for(dark)
    roles = [
        Role.Window, Role.WindowText, Role.Base, Role.AlternateBase, Role.Text, Role.Button,
        Role.ButtonText, Role.BrightText, Role.Highlight, Role.HighlightedText, Role.Link,
        Role.LinkVisited, Role.PlaceholderText, Role.ToolTipBase, Role.ToolTipText, Role.Mid,
        Role.Midlight, Role.Dark, Role.Shadow, Role.Light, Role.Accent,
    ]  # fmt: skip
    groups = (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive, DISABLED)
    unset = [(g, r) for g in groups for r in roles if not palette.isBrushSet(g, r)]
    assert not unset
    for role in (Role.Window, Role.Base, Role.Link, Role.ToolTipBase):
        assert palette.color(DISABLED, role) == palette.color(role), role
    assert palette_for(True).color(Role.Window) != palette_for(False).color(Role.Window)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("badge", ["offline", "safe"])
def test_status_badges_read(dark: bool, badge: str) -> None:
    """The status bar's OFFLINE and "Safe mode" badges (white on red and black on yellow in
    both themes before): their words on their surface (4.5:1), and their outline against the
    status bar (3:1, WCAG non-text)."""
    from desktop.ui.status_line import badge_colours

    text, surface, border = (QColor(x) for x in badge_colours(colours_for(dark))[badge])
    assert contrast(text, surface) >= 4.5, (badge, text.name(), surface.name())
    window = palette_for(dark).color(Role.Window)
    assert contrast(border, window) >= 3.0, (badge, border.name(), window.name())


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_accent_marks_a_chart_on_the_window(dark: bool) -> None:
    """The leaderboard's intervals and points are drawn in Accent on Window (3:1, non-text)."""
    palette = palette_for(dark)
    assert contrast(palette.color(Role.Accent), palette.color(Role.Window)) >= 3.0


def indicator_border(box: QWidget) -> QColor:
    """The drawn outline of a check box's square (a radio button's circle): the pixel of the
    indicator's left edge, on the row through its middle, farthest from the page's colour."""
    image = box.grab().toImage()
    window = QApplication.palette().color(Role.Window)
    option = QStyleOptionButton()
    option.initFrom(box)
    element = (
        QStyle.SubElement.SE_RadioButtonIndicator
        if isinstance(box, QRadioButton)
        else QStyle.SubElement.SE_CheckBoxIndicator
    )
    rect = box.style().subElementRect(element, option, box)
    y = rect.center().y()
    edge = [image.pixelColor(x, y) for x in range(rect.left(), rect.left() + 3)]
    return max(edge, key=lambda colour: contrast(colour, window))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_check_and_radio_indicators_stand_out(window: MainWindow, theme: str) -> None:
    """The compare window's "Blind A/B" square (and a radio button's circle) is outlined at
    3:1 against the window (WCAG non-text contrast): a dark square on the dark page before."""
    window.theme_actions[theme].trigger()
    try:
        window.compare_action.trigger()
        compare = window.compare_window
        assert compare is not None
        blind = next(b for b in compare.findChildren(QCheckBox) if b.text() == "Blind A/B")
        radio = QRadioButton("One", compare)
        radio.show()
        QApplication.processEvents()
        page = QApplication.palette().color(Role.Window)
        assert page.name() == colours_for(theme == "dark").window
        for box in (blind, radio):
            border = indicator_border(box)
            ratio = contrast(border, page)
            assert ratio >= 3.0, (type(box).__name__, border.name(), page.name(), round(ratio, 2))
    finally:
        window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_menus_tick_boxes_stand_out(window: MainWindow, theme: str) -> None:
    """A checkable menu entry's square (the Tools button's servers, the LoRA menu) is outlined
    at 3:1 against the menu: Fusion draws it in the menu's Window darker by 140 %, a dark square
    on the dark menu before."""
    window.theme_actions[theme].trigger()
    try:
        menu = QMenu(window)
        action = menu.addAction("toolbox  (8 tools)")
        action.setCheckable(True)
        menu.popup(window.mapToGlobal(window.rect().center()))
        QApplication.processEvents()
        image = menu.grab().toImage()
        row = menu.actionGeometry(action)
        y = row.center().y()
        # The menu's own colour beside the entry, left of its text.
        background = image.pixelColor(row.left() + 2, row.top() + 2)
        first_text_x = row.left() + menu.fontMetrics().height() * 2
        outline = max(
            (image.pixelColor(x, y) for x in range(row.left(), first_text_x)),
            key=lambda colour: contrast(colour, background),
        )
        ratio = contrast(outline, background)
        assert ratio >= 3.0, (outline.name(), background.name(), round(ratio, 2))
        menu.close()
    finally:
        window.theme_actions["system"].trigger()  # the app outlives the test: leave it as found
