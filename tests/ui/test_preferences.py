"""Preferences in the real window, offscreen, driven as a user drives it: Ctrl+, opens it; the
theme and the text size act as View's menu does (and the size holds after a restart); the
engine's context size and threads reach the next load of the bundled model; new chats follow
the model and the lock chosen there; the cloud keys page adds an endpoint through one form, and
Cloud → Cloud providers and keys… opens that page."""

from __future__ import annotations

import keyring
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMenu,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.backends.secrets import SERVICE
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.preferences import PreferencesDialog, install_preferences
from desktop.ui.prefs_endpoint import EndpointForm
from desktop.ui.prefs_engine import EnginePage
from desktop.ui.prefs_pages import AppearancePage, ChatPage, PrivacyPage
from desktop.ui.providers_dialog import ProvidersPage
from tests.ui.driving import answer_modal, button_named, pick_in_combo

CTRL = Qt.KeyboardModifier.ControlModifier
#: The widgets a keyboard or screen-reader user meets as controls.
CONTROLS = (QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit)
TIMEOUT_MS = 60_000


def open_preferences(window: MainWindow, qtbot: QtBot) -> PreferencesDialog:
    """Ctrl+, in the window, as the user presses it; the Preferences window that shows."""
    install_preferences(window)  # idempotent: the window installed it already
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.chat_view.setFocus()
    QTest.keyClick(window, Qt.Key.Key_Comma, CTRL)
    shown = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, PreferencesDialog) and w.isVisible() and w.parent() is window
    ]
    assert len(shown) == 1, "Ctrl+, showed no Preferences window"
    qtbot.waitExposed(shown[0])
    qtbot.waitUntil(shown[0].isActiveWindow)  # keys go to it now, not to the main window
    return shown[0]


def open_cloud_keys(window: MainWindow) -> ProvidersPage:
    """Cloud → Cloud providers and keys…, as the user opens it: Preferences, at Cloud keys (for
    the cloud tests, which used to get a providers dialog of its own)."""
    preferences = install_preferences(window)  # idempotent: the window installed it already
    window.providers_action.trigger()
    dialog = preferences.dialog
    assert dialog is not None and dialog.isVisible() and dialog.current_page == "cloud"
    page = dialog.pages["cloud"]
    assert isinstance(page, ProvidersPage) and page.isVisible()
    return page


def go_to(dialog: PreferencesDialog, title: str) -> QWidget:
    """Click the page's entry in the list on the left; the page shown."""
    items = dialog.page_list.findItems(title, Qt.MatchFlag.MatchExactly)
    assert len(items) == 1, title
    rect = dialog.page_list.visualItemRect(items[0])
    QTest.mouseClick(dialog.page_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert dialog.title.text() == title
    page = dialog.stack.currentWidget()
    assert page is not None and page.isVisible()
    return page


def window_is_dark() -> bool:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def test_ctrl_comma_opens_preferences_from_the_file_menu_and_esc_closes_it(
    window: MainWindow, qtbot: QtBot
) -> None:
    preferences = install_preferences(window)
    assert install_preferences(window) is preferences  # installed once
    action = preferences.action
    assert action.menuRole() == QAction.MenuRole.PreferencesRole
    file_menu = next(
        m for m in window.menuBar().findChildren(QMenu) if window.menus.quit_action in m.actions()
    )
    assert action in file_menu.actions()
    # Ctrl+, is Preferences' alone (it was the providers item's).
    owners = [a for a in window.findChildren(QAction) if "Ctrl+," in a.shortcut().toString()]
    assert owners == [action]
    dialog = open_preferences(window, qtbot)
    assert dialog.width() <= 800 and dialog.height() <= 600
    assert [dialog.page_list.item(i).text() for i in range(dialog.page_list.count())] == [
        "Appearance",
        "Chat",
        "Privacy",
        "Engine",
        "Folders",
        "Cloud keys",
    ]
    QTest.keyClick(dialog.page_list, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_the_theme_chosen_there_recolours_the_app_as_view_theme_does(
    window: MainWindow, qtbot: QtBot
) -> None:
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Appearance")
    assert isinstance(page, AppearancePage)
    pick_in_combo(page.theme_combo, "dark")
    assert window_is_dark()
    assert window.theme_actions["dark"].isChecked()
    assert window.chat.settings.get("theme") == "dark"
    pick_in_combo(page.theme_combo, "light")
    assert not window_is_dark()
    # View → Theme, the other way in, shows in the page.
    window.theme_actions["dark"].trigger()
    assert page.theme_combo.currentData() == "dark"
    window.theme_actions["light"].trigger()


def test_the_text_size_there_sizes_the_chat_and_holds_after_a_restart(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    normal = window.chat_view.font().pointSizeF()
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Appearance")
    assert isinstance(page, AppearancePage)
    page.size_spin.setFocus()
    for _ in range(3):
        QTest.keyClick(page.size_spin, Qt.Key.Key_Up)
    assert window.chat_view.font().pointSizeF() == normal + 3
    assert window.input_box.font().pointSizeF() > 0
    window.close()

    again = build_window(home)
    qtbot.addWidget(again)
    try:
        # The size itself after a restart is test_zoom's (the same setting, the same Zoom).
        assert again.zoom.steps == 3
        again.show()
        qtbot.waitExposed(again)
        dialog = open_preferences(again, qtbot)
        page = go_to(dialog, "Appearance")
        assert isinstance(page, AppearancePage)
        assert page.size_spin.value() == 3
        page.size_spin.setFocus()
        QTest.keyClick(page.size_spin, Qt.Key.Key_Up)
        assert again.chat_view.font().pointSizeF() == normal + 4
    finally:
        again.close()
        again.chat.store.close()


def test_the_engine_context_size_and_threads_reach_the_next_load(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=4)
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Engine")
    assert isinstance(page, EnginePage)
    page.ctx_spin.setFocus()
    page.ctx_spin.selectAll()
    QTest.keyClicks(page.ctx_spin, "1536")
    QTest.keyClick(page.ctx_spin, Qt.Key.Key_Tab)
    page.threads_spin.setFocus()
    page.threads_spin.selectAll()
    QTest.keyClicks(page.threads_spin, "1")
    QTest.keyClick(page.threads_spin, Qt.Key.Key_Tab)
    assert "1k tokens" in page.kv_label.text()
    dialog.close()

    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, "Hi")
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.chat.n_ctx > 0 and not window.chat.busy, timeout=TIMEOUT_MS)
    assert window.chat.n_ctx == 1536  # what the engine said it loaded
    assert "1 threads" in window.engine_label.toolTip() + window.engine_label.text()
    window.close()

    again = build_window(home)  # the defaults are saved, and a restart loads with them
    qtbot.addWidget(again)
    try:
        install_preferences(again)  # as the window does at its start
        assert (again.chat.load_params.n_ctx, again.chat.load_params.n_threads) == (1536, 1)
    finally:
        again.close()
        again.chat.store.close()


def test_new_chats_follow_the_model_preset_and_lock_chosen_there(
    window: MainWindow, home: AppPaths, qtbot: QtBot, smollm_path: str
) -> None:
    (home.models / "second.gguf").symlink_to(smollm_path)
    window.chat.refresh_models()
    bundled, second = window.chat.models[0], window.chat.models[1]
    assert second.path.endswith("second.gguf")
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Chat")
    assert isinstance(page, ChatPage)
    assert page.last_radio.isChecked()
    qtbot.mouseClick(page.chosen_radio, Qt.MouseButton.LeftButton)
    assert page.chosen_radio.isChecked() and page.model_combo.isEnabled()
    pick_in_combo(page.model_combo, bundled.id)
    pick_in_combo(page.preset_combo, "Precise")
    privacy = go_to(dialog, "Privacy")
    assert isinstance(privacy, PrivacyPage)
    box = privacy.lock_box  # clicked on its box, at the left (the widget spans the page)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()
    dialog.close()

    # The user picks the second model in a chat; a new chat still starts on the chosen one.
    pick_in_combo(window.model_picker, second.id)
    window.new_action.trigger()
    chat_id = window.conversation_id
    assert chat_id is not None
    assert window.chat.model_of(chat_id) == bundled
    assert window.model_picker.currentData() == bundled.id
    conversation = window.library.conversation(chat_id)
    assert conversation.local_only
    assert window.lock_button.isChecked()
    assert conversation.preset == "Precise"
    assert conversation.system_prompt.startswith("Answer accurately")
    assert window.preset_picker.currentData() == "Precise"

    # Back to "the one used last": the new chat follows the picker again.
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Chat")
    assert isinstance(page, ChatPage)
    radio = page.last_radio
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))
    assert radio.isChecked()
    dialog.close()
    pick_in_combo(window.model_picker, second.id)
    assert window.chat.model_of(None) == second


def test_cloud_keys_page_adds_an_endpoint_in_one_form_from_the_providers_item(
    window: MainWindow, qtbot: QtBot, secret_service: dict[str, str]
) -> None:
    install_preferences(window)
    window.providers_action.trigger()  # the item the providers dialog had
    dialogs = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, PreferencesDialog) and w.parent() is window
    ]
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    dialog = dialogs[0]
    assert dialog.current_page == "cloud" and dialog.title.text() == "Cloud keys"
    page = dialog.stack.currentWidget()
    assert isinstance(page, ProvidersPage)
    seen: dict[str, object] = {}

    def fill(widget: QWidget) -> None:
        assert isinstance(widget, EndpointForm)
        QTest.keyClicks(widget.name_edit, "my:vllm")
        seen["name problem"] = widget.name_problem.text()
        seen["add while wrong"] = widget.add_button.isEnabled()
        widget.name_edit.clear()
        QTest.keyClicks(widget.name_edit, "my-vllm")
        QTest.keyClicks(widget.url_edit, "gpu-box:8000/v1")
        seen["url problem"] = widget.url_problem.text()
        widget.url_edit.clear()
        QTest.keyClicks(widget.url_edit, "http://127.0.0.1:9/v1")
        seen["problems after"] = (widget.name_problem.isVisible(), widget.url_problem.isVisible())
        QTest.keyClicks(widget.key_edit, "sk-endpoint-KEY-123")
        seen["apis"] = [widget.api_combo.itemText(i) for i in range(widget.api_combo.count())]
        pick_in_combo(widget.api_combo, "openai")
        QTest.mouseClick(widget.add_button, Qt.MouseButton.LeftButton)

    failures = answer_modal(fill, EndpointForm)
    add = next(b for b in page.findChildren(QPushButton) if b.text() == "Add endpoint…")
    qtbot.mouseClick(add, Qt.MouseButton.LeftButton)
    assert failures == []
    assert "No colons" in str(seen["name problem"]) and seen["add while wrong"] is False
    assert "http://" in str(seen["url problem"])
    assert seen["problems after"] == (False, False)
    assert any("OpenAI-compatible" in str(api) for api in seen["apis"])  # type: ignore[attr-defined]
    cloud = window.chat.cloud
    assert cloud is not None
    config = cloud.provider("my-vllm")
    assert (config.api, config.base_url) == ("openai", "http://127.0.0.1:9/v1")
    assert keyring.get_password(SERVICE, "my-vllm") == "sk-endpoint-KEY-123"
    assert page.selected == "my-vllm"
    assert button_named(page, "Remove the endpoint or reset the provider").text() == "Remove"


def test_every_page_names_its_controls(window: MainWindow, qtbot: QtBot) -> None:
    dialog = open_preferences(window, qtbot)
    for row in range(dialog.page_list.count()):
        page = go_to(dialog, dialog.page_list.item(row).text())
        missing = [
            f"{type(w).__name__} on {dialog.title.text()}"
            for w in page.findChildren(QWidget)
            if isinstance(w, CONTROLS)
            and w.isVisibleTo(page)
            and not isinstance(w.parent(), QAbstractSpinBox)
            and not w.objectName().startswith("qt_")
            and not (w.accessibleName() or (isinstance(w, QAbstractButton) and w.text()))
        ]
        assert missing == []


def test_the_offline_switch_there_is_file_work_offline(window: MainWindow, qtbot: QtBot) -> None:
    cloud = window.chat.cloud
    assert cloud is not None and not cloud.offline
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Privacy")
    assert isinstance(page, PrivacyPage)
    box = page.offline_box
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert cloud.offline and window.menus.offline_action.isChecked()
    assert window.offline_label.isVisibleTo(window)
    window.menus.offline_action.trigger()  # File → Work offline, the other way in
    assert not cloud.offline and not box.isChecked()


def test_speculative_decoding_chosen_there_goes_with_the_next_load_and_a_restart(
    window: MainWindow, home: AppPaths, qtbot: QtBot
) -> None:
    dialog = open_preferences(window, qtbot)
    page = go_to(dialog, "Engine")
    assert isinstance(page, EnginePage)
    assert page.speculative_combo.currentData() == "auto"
    assert window.chat.load_params.speculative == "auto"
    pick_in_combo(page.speculative_combo, "lookup")
    assert window.chat.load_params.speculative == "lookup"  # the next load carries it
    params, _advice = window.chat.load_params_for(window.chat.models[0])
    assert params.speculative == "lookup"
    dialog.close()
    window.close()

    again = build_window(home)
    qtbot.addWidget(again)
    try:
        install_preferences(again)
        assert again.chat.load_params.speculative == "lookup"
    finally:
        again.close()
        again.chat.store.close()
