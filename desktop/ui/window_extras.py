"""The window's add-ons that install themselves (Preferences, hover actions, load progress…):
each feature lives in its own module and hooks into the window's menus and views from there, so
MainWindow stays a layout and the features stay small rooms.

Each ``install_*`` is idempotent: calling it on a window that has it returns what is there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop.ui.hover_actions import install_hover_actions
from desktop.ui.load_progress import install_load_progress
from desktop.ui.message_cards import install_cards
from desktop.ui.model_settings_dialog import install_model_settings
from desktop.ui.preferences import install_preferences
from desktop.ui.sidebar_toggle import install_sidebar_toggle

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


def install_extras(window: MainWindow) -> None:
    """Called once, at the end of MainWindow's construction. One line per feature."""
    install_sidebar_toggle(window)
    install_model_settings(window)
    install_load_progress(window)
    install_preferences(window)
    install_cards(window)
    install_hover_actions(window)
