"""Composition root of the desktop app: builds the services and hands them to the window."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop import APP_NAME, __version__
from desktop.backends.mcp_hub import McpHub
from desktop.backends.secrets import delete_secret, get_secret, set_secret
from desktop.core.errors import LlamasideError
from desktop.services.chat import ChatService
from desktop.services.cloud import CloudService
from desktop.services.comparisons import Comparisons
from desktop.services.downloads import DownloadManager
from desktop.services.engine_host import EngineHost
from desktop.services.images import ImageService
from desktop.services.library import ChatLibrary
from desktop.services.local_server import LocalServer
from desktop.services.tools import ToolsService
from desktop.storage.images import ImageStore
from desktop.storage.mcp_store import McpStore, SecretStore
from desktop.storage.models_folder import with_chosen_models
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.icons import app_icon
from desktop.ui.main_window import MainWindow
from desktop.ui.server_panel import install_server


def build_window(paths: AppPaths, engine_command: list[str] | None = None) -> MainWindow:
    """Everything the window needs, made here and passed down (no globals)."""
    paths.create()
    store = ChatStore(paths.database)
    settings = Settings(paths.settings)
    paths, models_note = with_chosen_models(paths, settings)
    engine = EngineHost(engine_command, paths.engine_log, modes_path=paths.engine_modes)
    # One network gate for the cloud and the hub: the offline switch and the privacy record.
    cloud = CloudService(store, settings, paths.pricing)
    hub = McpHub(cloud.network)
    secrets = SecretStore(get_secret, set_secret, delete_secret)
    tools = ToolsService(McpStore(paths.mcp_config, secrets), settings, hub)
    tools.load()
    pictures = ImageStore(paths.images)
    images = ImageService(pictures, store)
    chat = ChatService(
        store, settings, paths.models, engine, cloud=cloud, tools=tools, image_root=paths.images
    )
    downloads = DownloadManager(store, paths.models, network=cloud.network)
    downloads.job_finished.connect(lambda _job, _path: chat.refresh_models())
    cloud.offline_changed.connect(lambda offline: downloads.pause_all() if offline else None)
    downloads.restore()
    # A provider enabled from the command line has no model list yet: fetch it now.
    cloud.refresh_missing_models()
    library = ChatLibrary(store, pictures)
    window = MainWindow(
        chat,
        downloads,
        library=library,
        comparisons=Comparisons(store, image_root=paths.images),
        tools=tools,
        images=images,
    )
    for child in (engine, cloud, chat, downloads, tools, images):
        child.setParent(window)
    # The local OpenAI-compatible server, on the window's engine, off until switched on.
    install_server(
        window, LocalServer(chat, paths.served_log, parent=window, image_dir=paths.served_images)
    )
    if models_note:  # once the window is up, where the user looks
        QTimer.singleShot(0, window, lambda: window.statusBar().showMessage(models_note, 60_000))
    # Pictures no message names any more (a crash between a delete and its sweep).
    QTimer.singleShot(3000, window, library.sweep_images)  # dropped once the window is gone
    # The servers the user enabled start in the background (as Claude Desktop's do).
    tools.start_in_background()
    return window


def _close_on_sigterm(app: QApplication) -> None:
    """On SIGTERM (logout, `kill`), close windows the normal way: the answer on screen is saved
    as stopped and the engine is ended, instead of dying mid-write.

    Python runs signal handlers only between bytecodes; while Qt's event loop waits in C++ it
    would never get the chance, so a timer wakes the interpreter twice a second.
    """
    signal.signal(signal.SIGTERM, lambda _signum, _frame: app.closeAllWindows())
    waker = QTimer(app)
    waker.timeout.connect(lambda: None)
    waker.start(500)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(args)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("llamaside")
    app.setWindowIcon(app_icon())
    # One look on every OS: design.py's palettes are drawn as made by Fusion (the native styles
    # of Windows and macOS paint parts in colours of their own). High DPI needs nothing here:
    # Qt 6 passes fractional scales through, and the icons are font glyphs, sharp at any scale.
    app.setStyle("Fusion")
    try:
        window = build_window(AppPaths.from_env())
    except LlamasideError as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 1
    except OSError as exc:  # e.g. a data folder that cannot be created or written
        QMessageBox.critical(None, APP_NAME, f"Cannot use the data folder: {exc}")
        return 1
    window.show()
    _close_on_sigterm(app)
    code = app.exec()
    window.library.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
