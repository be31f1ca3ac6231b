"""The app's icons: our names (``"send"``, ``"models"``, …) drawn from one icon font (Material
Design Icons, through qtawesome), in the colours of the application palette, sharp at any
screen scale (a font glyph is drawn at the size asked for).

Give a button or an action its icon with ``set_icon``: the name is remembered on it, so
``refresh_icons`` (which Theme calls after a theme switch) draws every such icon again in the
new palette's colours::

    set_icon(self.send_button, "send")
    set_icon(menus.models_action, "models")

Icons follow the palette's ButtonText (the Disabled group's for a disabled control); an action's
icon is drawn in HighlightedText where its menu item is highlighted, and the default button's
(which the app stylesheet fills with the accent colour) in the accent's text colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QAbstractButton, QApplication, QPushButton

from desktop.ui.design import colours_for

#: Our icon names and their glyphs in Material Design Icons 6 (qtawesome's "mdi6" font).
ICONS: dict[str, str] = {
    "send": "send",
    "stop": "stop-circle-outline",
    "attach": "image-plus-outline",
    "copy": "content-copy",
    "edit": "pencil-outline",
    "regenerate": "refresh",
    "delete": "trash-can-outline",
    "previous": "chevron-left",
    "next": "chevron-right",
    "settings": "cog-outline",
    "presets": "tune-variant",
    "sidebar": "dock-left",
    "models": "cube-outline",
    "open": "folder-open-outline",
    "folder": "folder-open-outline",
    "unload": "eject-outline",
    "gpu": "chip",
    "compare": "compare-horizontal",
    "arena": "scale-balance",
    "leaderboard": "podium",
    "tools": "tools",
    "search": "magnify",
    "find": "text-search",
    "new_chat": "chat-plus-outline",
    "rename": "form-textbox",
    "pin": "pin-outline",
    "duplicate": "content-duplicate",
    "download": "tray-arrow-down",
    "export": "export-variant",
    "import": "import",
    "local": "laptop",
    "lock": "lock-outline",
    "cloud": "cloud-outline",
    "keys": "key-outline",
    "prices": "currency-usd",
    "offline": "cloud-off-outline",
    "privacy": "shield-lock-outline",
    "zoom_in": "magnify-plus-outline",
    "zoom_out": "magnify-minus-outline",
    "actual_size": "magnify-close",
    "theme": "theme-light-dark",
    "keyboard": "keyboard-outline",
    "about": "information-outline",
    "quit": "exit-to-app",
    "close": "close",
}

#: The dynamic property that remembers an object's icon name (read by ``refresh_icons``).
ICON_PROPERTY = "designIcon"


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def icon(
    name: str,
    palette: QPalette | None = None,
    *,
    on_accent: bool = False,
    in_menu: bool = False,
) -> QIcon:
    """Our icon ``name`` in the colours of ``palette`` (the application's by default).

    ``on_accent``: drawn on an accent-coloured surface (the default button). ``in_menu``: a
    highlighted menu item draws it in HighlightedText. Raises KeyError for a name not in
    ICONS.
    """
    # Imported here, after PySide6: qtpy (under qtawesome) uses the Qt binding already imported,
    # where another one installed (PyQt5) could otherwise be picked and crash the app.
    import qtawesome

    glyph = ICONS[name]
    palette = palette if palette is not None else QGuiApplication.palette()
    roles = QPalette.ColorRole
    normal = palette.color(roles.ButtonText)
    if on_accent:
        normal = QColor(colours_for(_is_dark(palette)).accent_text)
    disabled = palette.color(QPalette.ColorGroup.Disabled, roles.ButtonText)
    active = palette.color(roles.HighlightedText) if in_menu else normal
    result: QIcon = qtawesome.icon(
        f"mdi6.{glyph}",
        color=normal.name(),
        color_disabled=disabled.name(),
        color_active=active.name(),
        color_selected=palette.color(roles.HighlightedText).name(),
    )
    return result


def _draw(target: QObject, name: str) -> None:
    if isinstance(target, QAction):
        target.setIcon(icon(name, in_menu=True))
    elif isinstance(target, QAbstractButton):
        accent = isinstance(target, QPushButton) and target.isDefault()
        target.setIcon(icon(name, on_accent=accent))


def set_icon(target: QAbstractButton | QAction, name: str) -> None:
    """Give a button or an action our icon ``name``, and remember the name so that
    ``refresh_icons`` redraws it in a new theme's colours. Its text (and accessible name) stay:
    an icon-only button must still have a tooltip and an accessible name."""
    if name not in ICONS:
        raise KeyError(f"No icon named {name!r}; the names are in icon_set.ICONS")
    target.setProperty(ICON_PROPERTY, name)
    _draw(target, name)


def icon_name(target: QObject) -> str:
    """The name given with ``set_icon`` ("" when none)."""
    value = target.property(ICON_PROPERTY)
    return str(value) if value else ""


def refresh_icons(roots: Iterable[QObject] | None = None) -> int:
    """Draw every icon given with ``set_icon`` under ``roots`` (every top-level window by
    default) again in the application palette's colours; returns how many were redrawn."""
    if roots is None:
        app = QApplication.instance()
        roots = app.topLevelWidgets() if isinstance(app, QApplication) else []
    seen: set[int] = set()
    count = 0
    for root in roots:
        for target in [root, *root.findChildren(QObject)]:
            name = icon_name(target)
            if name and id(target) not in seen:
                seen.add(id(target))
                _draw(target, name)
                count += 1
    return count
