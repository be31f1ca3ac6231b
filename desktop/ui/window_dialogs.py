"""The windows and dialogs the main window opens: models and downloads, GPU backend, compare,
leaderboard, cloud providers, privacy record, prices, About, the shortcut sheet, an answer's
thoughts, and the question before a link from an answer is opened."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.errors import LlamasideError
from desktop.services.chat import ChatService
from desktop.services.comparisons import Comparisons
from desktop.services.downloads import DownloadManager
from desktop.services.images import ImageService
from desktop.services.library import ChatLibrary
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.backend_dialog import BackendDialog
from desktop.ui.compare_window import CompareWindow
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.models_dialog import ModelsDialog
from desktop.ui.privacy_dialog import PrivacyDialog
from desktop.ui.providers_dialog import ProvidersDialog
from desktop.ui.thoughts_dialog import ThoughtsDialog
from desktop.ui.tool_blocks import details_text

#: The only link schemes an answer's link may open (after the user confirms).
WEB_SCHEMES = ("http", "https", "mailto")


def shortcut_list(window: QWidget) -> list[tuple[str, str]]:
    """Every action of the window with a shortcut, as (what, keys) for the shortcut sheet."""
    rows = []
    for action in window.findChildren(QAction):
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((action.text().replace("&", "").rstrip("…"), keys))
    rows.append(("Send the message", "Enter"))
    rows.append(("New line in the message", "Shift+Enter"))
    # The chat's own keys (hover_actions.py), handled by the view, not by actions.
    native = QKeySequence.SequenceFormat.NativeText
    rows.append(("Previous message in the chat", QKeySequence("Alt+Up").toString(native)))
    rows.append(("Next message in the chat", QKeySequence("Alt+Down").toString(native)))
    menu, shift_f10 = (QKeySequence(k).toString(native) for k in ("Menu", "Shift+F10"))
    rows.append(("The message's actions (in the chat)", f"{menu} or {shift_f10}"))
    return sorted(set(rows))


class WindowDialogs(QObject):
    """Owns the windows the main window opens, each made on first use and kept (one models
    window, whose downloads continue; one compare window, until it is closed), and the
    one-off dialogs shown over the main window.

    Signals:
        error(str): something could not be done; the words say why (for the banner).
    """

    error = Signal(str)

    def __init__(
        self,
        chat: ChatService,
        downloads: DownloadManager,
        window: QWidget,
        *,
        library: ChatLibrary,
        comparisons: Comparisons,
        images: ImageService | None = None,
    ) -> None:
        super().__init__(window)
        self.images = images
        self.chat = chat
        self.library = library
        self.comparisons = comparisons
        self.downloads = downloads
        self._window = window
        self.models_dialog: ModelsDialog | None = None
        self.backend_dialog: BackendDialog | None = None
        self.providers_dialog: ProvidersDialog | None = None
        self.compare_window: CompareWindow | None = None
        self.leaderboard_dialog: LeaderboardDialog | None = None
        self.privacy_dialog: PrivacyDialog | None = None
        #: Where the cloud keys open instead of their own dialog (Preferences sets it).
        self.open_cloud_keys: Callable[[], object] | None = None

    @Slot()
    def show_models(self) -> ModelsDialog:
        """The model manager (one window, kept while the app runs: downloads continue)."""
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.chat, self.downloads, self._window)
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    @Slot()
    def show_backend(self) -> BackendDialog:
        """What the engine runs on and how to use the GPU (asked again each time it opens)."""
        if self.backend_dialog is None:
            self.backend_dialog = BackendDialog(self.chat.models_dir, self._window)
            self.backend_dialog.fast_path_requested.connect(self._on_try_fast_path)
        self.backend_dialog.show_safe_mode(*self.chat.safe_mode()[1:])
        self.backend_dialog.refresh()
        self.backend_dialog.show()
        self.backend_dialog.raise_()
        return self.backend_dialog

    @Slot()
    def _on_try_fast_path(self) -> None:
        try:
            self.chat.try_fast_path()
        except LlamasideError as exc:
            self.error.emit(str(exc))

    @Slot(str, str, str)
    def show_safe_mode(self, _short: str, note: str, detail: str) -> None:
        if self.backend_dialog is not None:
            self.backend_dialog.show_safe_mode(note, detail)

    def show_compare(self, blind: bool = False) -> CompareWindow:
        """The compare window (one; closing it stops its streams and ends its engines)."""
        if self.compare_window is None:
            self.compare_window = CompareWindow(
                self.chat, self.comparisons, self._window, images=self.images
            )
            self.compare_window.closed.connect(self._on_compare_closed)
        if blind and self.compare_window.session is None:
            self.compare_window.blind_box.setChecked(True)
        self.compare_window.show()
        self.compare_window.raise_()
        return self.compare_window

    @Slot()
    def _on_compare_closed(self) -> None:
        if self.compare_window is not None:
            self.compare_window.deleteLater()
            self.compare_window = None

    def close_compare(self) -> None:
        if self.compare_window is not None:
            self.compare_window.close()  # its streams stop and are saved as shown

    @Slot()
    def show_leaderboard(self) -> None:
        if self.leaderboard_dialog is None:
            self.leaderboard_dialog = LeaderboardDialog(
                self.comparisons.leaderboard, self.chat.model_name, self._window
            )
        self.leaderboard_dialog.refresh()
        self.leaderboard_dialog.show()
        self.leaderboard_dialog.raise_()

    @Slot()
    def show_providers(self) -> None:
        if self.chat.cloud is None:
            return
        if self.open_cloud_keys is not None:
            self.open_cloud_keys()
            return
        if self.providers_dialog is None:
            self.providers_dialog = ProvidersDialog(self.chat.cloud, self._window)
        self.providers_dialog.show()
        self.providers_dialog.raise_()

    @Slot()
    def show_privacy(self) -> None:
        if self.chat.cloud is None:
            return
        if self.privacy_dialog is None:
            self.privacy_dialog = PrivacyDialog(self.chat.cloud, self._window)
        self.privacy_dialog.refresh()
        self.privacy_dialog.show()
        self.privacy_dialog.raise_()

    @Slot()
    def edit_prices(self) -> None:
        """Open the user's pricing.json (made from the shipped one) in their editor; the next
        answer uses what they saved."""
        cloud = self.chat.cloud
        if cloud is None:
            return
        try:
            path = cloud.user_pricing_file()
        except OSError as exc:
            self.error.emit(f"Cannot create {cloud.pricing_file}: {exc.strerror}")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.error.emit(f"Edit the prices in {path} (no editor could be opened).")

    @Slot()
    def show_about(self) -> AboutDialog:
        folders = {
            "History": str(self.library.path),
            "Models folder": str(self.chat.models_dir),
        }
        dialog = AboutDialog(self.chat.backend, folders, self._window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    @Slot()
    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td>{html.escape(what)}</td><td>&nbsp;&nbsp;<b>{html.escape(keys)}</b></td></tr>"
            for what, keys in shortcut_list(self._window)
        )
        box = QMessageBox(self._window)
        box.setObjectName("shortcutSheet")
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<table>{rows}</table>")
        box.open()  # not modal for the app: it can stay open while typing

    def show_thoughts(self, message_id: int) -> ThoughtsDialog:
        """An answer's thinking, in a window of its own."""
        message = self.library.message(message_id)
        dialog = ThoughtsDialog(
            self.chat.model_name(message.model), message.reasoning, self._window
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_tool_call(self, message_id: int, index: int) -> ThoughtsDialog:
        """One tool call of an answer with its whole arguments and result ("▸ details")."""
        message = self.library.message(message_id)
        title, text = details_text(message.parts, index)
        dialog = ThoughtsDialog(
            self.chat.model_name(message.model),
            text,
            self._window,
            title=title,
            accessible="The tool call and its result",
        )
        dialog.setObjectName("toolCallDialog")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    @Slot(QUrl)
    def open_link(self, url: QUrl) -> None:
        if url.scheme().lower() not in WEB_SCHEMES:
            # A model's answer can hold any link: javascript:, file:, smb:, a custom app
            # handler. Only web and mail addresses are ever offered to the system.
            self.error.emit(
                f"This link was not opened: {url.scheme() or 'relative'} links from an answer "
                f"are never opened. ({url.toString()[:200]})"
            )
            return
        answer = QMessageBox.question(
            self._window,
            "Open link",
            f"Open this address in your browser?\n\n{url.toString()}",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Open:
            QDesktopServices.openUrl(url)
