"""Light, dark, or following the system: the app's colours, as View → Theme sets them (the
palettes and stylesheet of desktop/ui/design.py, the icons of desktop/ui/icon_set.py)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QApplication

from desktop.services.chat import ChatService
from desktop.ui.design import apply_palette, stylesheet
from desktop.ui.icon_set import refresh_icons
from desktop.ui.menus import Menus

SCHEMES = {
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
    "system": Qt.ColorScheme.Unknown,
}


class Theme(QObject):
    """Owns the theme in force: the "theme" setting, the colour scheme asked of Qt, the palette
    and app stylesheet set with it (and the icons redrawn in its colours), View → Theme's
    checks, and following the system's switches between light and dark while the app runs
    (until ``stop_following``)."""

    def __init__(self, chat: ChatService, menus: Menus) -> None:
        super().__init__(menus)
        self.chat = chat
        self.menus = menus
        #: Whether the dark colours are in force.
        self.dark = False
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.styleHints().colorSchemeChanged.connect(self._on_system_scheme)
        menus.theme_chosen.connect(self.set_theme)

    def stop_following(self) -> None:
        """The window closes: the app outlives it, and must not call back into it."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.styleHints().colorSchemeChanged.disconnect(self._on_system_scheme)

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
        theme = theme if theme in SCHEMES else "system"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            hints = app.styleHints()
            hints.setColorScheme(SCHEMES[theme])
            # Not every platform theme honours the request (a bare X server has none), and a
            # native palette differs from one system to the next: ours is set in both themes.
            scheme = system if system is not None else hints.colorScheme()
            dark = theme == "dark" or (theme == "system" and scheme == Qt.ColorScheme.Dark)
            self.dark = dark
            apply_palette(app, dark)
            _set_stylesheet(app, stylesheet(dark))
            refresh_icons()
        self.menus.show_theme(theme)
        if save:
            self.chat.settings.set("theme", theme)


def _set_stylesheet(app: QApplication, sheet: str) -> None:
    """The app stylesheet, keeping the fonts set on widgets: setting it while a window is being
    built (its restored theme) dropped the text zoom just given to the window's widgets."""
    if app.styleSheet() == sheet:
        return
    fonts = [
        (widget, widget.font())
        for widget in app.allWidgets()
        if widget.testAttribute(Qt.WidgetAttribute.WA_SetFont)
    ]
    app.setStyleSheet(sheet)
    for widget, font in fonts:
        if widget.font() != font:
            widget.setFont(font)
