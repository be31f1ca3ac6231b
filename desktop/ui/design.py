"""The app's small design system: spacing, type and corner tokens, the light and dark palettes
(plain data, hand-tuned for WCAG AA contrast, checked by tests/ui/test_contrast.py), the
QPalette and app stylesheet built from them, and semantic tones for labels.

Use the tokens instead of numbers and hex colours::

    layout.setContentsMargins(SPACE.m, SPACE.s, SPACE.m, SPACE.s)
    title.setFont(type_font("title"))
    set_tone(warning_label, "danger")  # the theme's danger colour, in light and dark

A toned widget is coloured by the app stylesheet (``*[tone="danger"] { color: ... }``), so a
theme switch recolours it with no code of its own. Theme (desktop/ui/theme.py) applies
``palette_for`` and ``stylesheet`` to the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

Tone = Literal["accent", "danger", "warning", "success", "muted"]
#: The tones ``set_tone`` takes; "" (or None) takes a tone away.
TONES: tuple[Tone, ...] = ("accent", "danger", "warning", "success", "muted")

TypeLevel = Literal["caption", "body", "title", "heading"]


@dataclass(frozen=True)
class Spacing:
    """The spacing scale in pixels, for margins, layout spacing and padding."""

    xs: int = 4
    s: int = 8
    m: int = 12
    l: int = 16  # noqa: E741 (the scale's own name)
    xl: int = 24


SPACE = Spacing()
#: Corner radius of buttons, fields and panels, in pixels.
RADIUS = 6
#: Each text level as a factor of the application font's size (so text zoom and the system's
#: font size carry over).
TYPE_SCALE: dict[TypeLevel, float] = {"caption": 0.87, "body": 1.0, "title": 1.15, "heading": 1.4}


@dataclass(frozen=True)
class Colours:
    """One theme's colours as hex strings: a colour per QPalette role (Active and Inactive
    groups), the Disabled group's text colours, and the semantic tones."""

    window: str
    window_text: str
    base: str
    alternate_base: str
    text: str
    button: str
    button_text: str
    bright_text: str
    light: str
    midlight: str
    mid: str
    dark: str
    shadow: str
    highlight: str
    highlighted_text: str
    link: str
    link_visited: str
    placeholder: str
    tooltip_base: str
    tooltip_text: str
    #: Text, window text and button text of disabled widgets.
    disabled_text: str
    #: A disabled selection: still visible, not inviting.
    disabled_highlight: str
    #: Where a control's surface goes under the mouse, and a border.
    hover: str
    border: str
    #: The error banner's surface and border (its text is in the danger tone).
    danger_surface: str
    danger_border: str
    #: The tones (see ``TONES``); ``accent_text`` is written on an accent background.
    accent: str
    accent_text: str
    danger: str
    warning: str
    success: str
    muted: str
    #: The Window role given to check boxes and radio buttons, from which Fusion derives their
    #: indicator's outline (see ``indicator_palette``).
    indicator: str

    def tone(self, name: Tone) -> str:
        return str(getattr(self, name))


LIGHT = Colours(
    window="#f5f6f8",
    window_text="#1c2024",
    base="#ffffff",
    alternate_base="#f2f4f7",
    text="#1c2024",
    button="#ffffff",
    button_text="#1c2024",
    bright_text="#ffffff",
    light="#ffffff",
    midlight="#eceef2",
    mid="#c4c9d1",
    dark="#8d949e",
    shadow="#5b626c",
    highlight="#2458d6",
    highlighted_text="#ffffff",
    link="#1d4fc4",
    link_visited="#6a2fc0",
    placeholder="#697080",
    tooltip_base="#262a30",
    tooltip_text="#f5f6f8",
    disabled_text="#858b96",
    disabled_highlight="#c4c9d1",
    hover="#eceef2",
    border="#d3d7de",
    danger_surface="#fdeceb",
    danger_border="#f1b8b3",
    accent="#2458d6",
    accent_text="#ffffff",
    danger="#b42318",
    warning="#8f5200",
    success="#11703d",
    muted="#5d6470",
    indicator="#9aa1ab",
)

DARK = Colours(
    window="#1c1e22",
    window_text="#e4e6ea",
    base="#141518",
    alternate_base="#1f2226",
    text="#e4e6ea",
    button="#292c32",
    button_text="#e4e6ea",
    bright_text="#ffffff",
    light="#3a3e45",
    midlight="#31343a",
    mid="#24272c",
    dark="#0f1012",
    shadow="#000000",
    highlight="#2a5fd8",
    highlighted_text="#ffffff",
    link="#7cb4ff",
    link_visited="#c3a6ff",
    placeholder="#8e95a0",
    tooltip_base="#30343a",
    tooltip_text="#e4e6ea",
    disabled_text="#747b86",
    disabled_highlight="#3a3e45",
    hover="#33373e",
    border="#3a3e45",
    danger_surface="#3b1f1e",
    danger_border="#6e3431",
    accent="#6ea6ff",
    accent_text="#0d1524",
    danger="#ff8a80",
    warning="#f0b45a",
    success="#5ccf8b",
    muted="#a0a7b2",
    indicator="#b8bec8",
)


def colours_for(dark: bool) -> Colours:
    return DARK if dark else LIGHT


def palette_for(dark: bool) -> QPalette:
    """Every QPalette role in every group (Active, Inactive, Disabled) from the theme's colours."""
    c = colours_for(dark)
    roles = QPalette.ColorRole
    groups = QPalette.ColorGroup
    palette = QPalette()
    normal = {
        roles.Window: c.window,
        roles.WindowText: c.window_text,
        roles.Base: c.base,
        roles.AlternateBase: c.alternate_base,
        roles.Text: c.text,
        roles.Button: c.button,
        roles.ButtonText: c.button_text,
        roles.BrightText: c.bright_text,
        roles.Light: c.light,
        roles.Midlight: c.midlight,
        roles.Mid: c.mid,
        roles.Dark: c.dark,
        roles.Shadow: c.shadow,
        roles.Highlight: c.highlight,
        roles.HighlightedText: c.highlighted_text,
        roles.Link: c.link,
        roles.LinkVisited: c.link_visited,
        roles.PlaceholderText: c.placeholder,
        roles.ToolTipBase: c.tooltip_base,
        roles.ToolTipText: c.tooltip_text,
        roles.Accent: c.accent,
    }
    for group in (groups.Active, groups.Inactive, groups.Disabled):
        for role, colour in normal.items():
            palette.setColor(group, role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText, roles.PlaceholderText):
        palette.setColor(groups.Disabled, role, QColor(c.disabled_text))
    palette.setColor(groups.Disabled, roles.Highlight, QColor(c.disabled_highlight))
    palette.setColor(groups.Disabled, roles.Accent, QColor(c.disabled_highlight))
    return palette


#: The widgets whose indicator (a check box's square, a radio button's circle, a checkable menu
#: entry's square) Fusion outlines in a shade of their palette's Window role. A menu paints its
#: surface in Base; Window gives only its border, which the indicator colour darkens to a line.
INDICATOR_CLASSES = ("QCheckBox", "QRadioButton", "QMenu")


def indicator_palette(dark: bool) -> QPalette:
    """The theme's palette with Window set to ``indicator``, for INDICATOR_CLASSES. Fusion
    outlines the indicator in Window darker by 140 %: on the page's own Window that was a dark
    square on the dark page (1.1:1); this outline meets 3:1 against the page in both themes
    (tests/ui/test_contrast.py measures the drawn pixels). Its fill stays Base, its check
    mark Text; a check box paints no Window of its own."""
    palette = palette_for(dark)
    colour = QColor(colours_for(dark).indicator)
    groups = QPalette.ColorGroup
    for group in (groups.Active, groups.Inactive, groups.Disabled):
        palette.setColor(group, QPalette.ColorRole.Window, colour)
    return palette


def apply_palette(app: QApplication, dark: bool) -> None:
    """Give the application the theme's palette, and its check boxes and radio buttons theirs
    (``indicator_palette``): a class's palette is kept across app palette changes, so both are
    set together."""
    app.setPalette(palette_for(dark))
    for name in INDICATOR_CLASSES:
        # The stubs ask for bytes, which PySide6 refuses at run time; a str works.
        app.setPalette(indicator_palette(dark), name)  # type: ignore[arg-type]


def stylesheet(dark: bool) -> str:
    """The app stylesheet: rounded controls with the scale's padding, an accent focus ring, the
    default button in the accent colour, and the tones. Sizes stay close to Fusion's, so
    layouts measured against it still fit."""
    c = colours_for(dark)
    r = RADIUS
    # A focused control's border grows by 1 px and its padding shrinks by 1 px: same size.
    tones = "\n".join(f'*[tone="{name}"] {{ color: {c.tone(name)}; }}' for name in TONES)
    return f"""
QPushButton {{
    background: {c.button}; color: {c.button_text};
    border: 1px solid {c.border}; border-radius: {r}px; padding: 4px {SPACE.m}px;
}}
QPushButton:hover {{ background: {c.hover}; }}
QPushButton:pressed, QPushButton:checked {{ background: {c.midlight}; }}
QPushButton:focus {{ border: 2px solid {c.accent}; padding: 3px {SPACE.m - 1}px; }}
QPushButton:default {{
    background: {c.accent}; color: {c.accent_text}; border-color: {c.accent};
}}
QPushButton:disabled {{
    background: {c.window}; color: {c.disabled_text}; border-color: {c.border};
}}
QToolButton {{
    background: {c.button}; color: {c.button_text};
    border: 1px solid {c.border}; border-radius: {r}px; padding: 3px {SPACE.s - 2}px;
}}
QToolButton:hover {{ background: {c.hover}; }}
QToolButton:pressed, QToolButton:checked {{ background: {c.midlight}; }}
QToolButton:focus {{ border: 2px solid {c.accent}; padding: 2px {SPACE.s - 3}px; }}
QToolButton:disabled {{ background: {c.window}; color: {c.disabled_text}; }}
QToolButton:checked {{ border-color: {c.accent}; }}
QToolButton[popupMode="2"] {{ padding-right: {SPACE.l}px; }}
QLineEdit, QPlainTextEdit#inputBox {{
    background: {c.base}; color: {c.text};
    border: 1px solid {c.border}; border-radius: {r}px; padding: 3px {SPACE.s - 2}px;
}}
QLineEdit:focus, QPlainTextEdit#inputBox:focus {{
    border: 2px solid {c.accent}; padding: 2px {SPACE.s - 3}px;
}}
#errorBanner {{ background: {c.danger_surface}; border: 1px solid {c.danger_border};
    border-radius: {r}px; }}
QToolTip {{ background: {c.tooltip_base}; color: {c.tooltip_text}; border: 1px solid {c.border};
    border-radius: 4px; padding: 4px; }}
{tones}
"""


def set_tone(widget: QWidget, tone: Tone | Literal[""] | None) -> None:
    """Colour a widget's text with a semantic tone ("danger", "warning", "success", "accent",
    "muted"), or take its tone away ("" or None). The app stylesheet holds the colours, so a
    theme switch recolours the widget by itself."""
    value = tone or ""
    if widget.property("tone") == value:
        return
    widget.setProperty("tone", value)
    # A dynamic property's selector is matched at polish time: polish again to apply it.
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def tone_of(widget: QWidget) -> str:
    """The tone set with ``set_tone`` ("" when none)."""
    value = widget.property("tone")
    return str(value) if value else ""


def type_font(level: TypeLevel, base: QFont | None = None) -> QFont:
    """The application font (or ``base``) at a level of the type scale; title and heading are
    also bold."""
    font = QFont(base if base is not None else QApplication.font())
    size = font.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * TYPE_SCALE[level])
    else:  # a font sized in pixels
        font.setPixelSize(max(1, round(font.pixelSize() * TYPE_SCALE[level])))
    if level in ("title", "heading"):
        font.setWeight(QFont.Weight.DemiBold)
    return font
