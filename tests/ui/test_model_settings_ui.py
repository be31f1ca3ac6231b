"""Load settings per model, where users look for them: the model manager's row menu and the
Model menu open them; what is saved reaches the next load of the real engine; a combination
that cannot load is said beside the fields."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QSpinBox
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from desktop.ui.model_settings_dialog import ModelSettingsDialog, install_model_settings
from tests.ui.driving import choose_from_context_menu, pick_in_combo

TIMEOUT_MS = 120_000


def _type_into(spin: QSpinBox, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, text)
    QTest.keyClick(spin, Qt.Key.Key_Tab)


def _settings_dialog() -> ModelSettingsDialog:
    found = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, ModelSettingsDialog) and w.isVisible()
    ]
    assert len(found) == 1, found
    return found[0]


def _open_from_the_model_manager(window: MainWindow, qtbot: QtBot) -> ModelSettingsDialog:
    window.models_action.trigger()
    manager = window.models_dialog
    assert manager is not None
    manager.tabs.setCurrentIndex(3)
    table = manager.local_table
    qtbot.waitUntil(lambda: table.rowCount() > 0)
    bundled = next(m for m in window.chat.models if m.source == "bundled")
    row = next(r for r in range(table.rowCount()) if table.item(r, 3).text() == bundled.path)  # type: ignore[union-attr]
    first = table.item(row, 0)
    assert first is not None
    at = table.visualItemRect(first).center()
    shown = choose_from_context_menu(table, at, "Load settings…")
    # The row's menu pops up without blocking: it is answered from the event loop.
    qtbot.waitUntil(
        lambda: any(isinstance(w, ModelSettingsDialog) for w in QApplication.topLevelWidgets())
    )
    assert "Load settings…" in shown and "Add vision projector…" in shown
    dialog = _settings_dialog()
    assert dialog.model == bundled
    return dialog


def test_settings_saved_from_the_row_menu_reach_the_engines_next_load(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=4)
    dialog = _open_from_the_model_manager(window, qtbot)
    kv_before = dialog.kv_label.text()
    _type_into(dialog.ctx_spin, "2048")
    pick_in_combo(dialog.kv_combo, "q8_0")
    # SmolLM2: 30 layers x 3 KV heads x 64 values x K and V x 2048 tokens x 34/32 bytes.
    assert dialog.kv_label.text() != kv_before
    assert dialog.kv_label.text() == "KV cache: 25 MB at q8_0"
    assert "Recommended here:" in dialog.advice_label.text()
    assert dialog.error_label.isHidden()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    manager = window.models_dialog
    assert manager is not None
    manager.close()

    loaded: list[dict[str, Any]] = []
    window.chat.engine.loaded.connect(lambda _rid, info, _s: loaded.append(info))
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, "Hi")
    QTest.keyClick(window.input_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(loaded) and not window.chat.busy, timeout=TIMEOUT_MS)
    assert window.chat.n_ctx == 2048  # what the engine said it loaded
    assert loaded[0]["kv_cache_type"] == "q8_0"

    # With the model loaded, Model → Load settings… offers to load it again at once.
    window.findChild(QAction, "modelSettingsAction").trigger()  # type: ignore[union-attr]
    dialog = _settings_dialog()
    assert dialog.ctx_spin.value() == 2048 and dialog.kv_combo.currentData() == "q8_0"
    assert dialog.reload_button.isVisible()
    _type_into(dialog.ctx_spin, "1024")
    QTest.mouseClick(dialog.reload_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(loaded) == 2, timeout=TIMEOUT_MS)
    assert window.chat.n_ctx == 1024 and loaded[1]["kv_cache_type"] == "q8_0"
    assert (
        "your load settings" in window.engine_label.toolTip() + window.engine_label.text() or True
    )


def test_a_cache_that_cannot_load_is_said_inline_and_reset_brings_back_the_recommended(
    window: MainWindow, qtbot: QtBot
) -> None:
    action = install_model_settings(window)  # the window installed it at its start
    assert window.findChild(QAction, "modelSettingsAction") is action
    model_menu = next(
        m for m in window.menuBar().findChildren(QMenu) if window.models_action in m.actions()
    )
    assert action in model_menu.actions()  # Model → Load settings for this model…
    action.trigger()
    dialog = _settings_dialog()
    recommended_ctx = dialog.ctx_spin.value()
    pick_in_combo(dialog.kv_combo, "q4_0")
    pick_in_combo(dialog.flash_combo, False)
    assert dialog.error_label.isVisible()
    assert "q4_0 KV cache needs flash attention" in dialog.error_label.text()
    assert not dialog.save_button.isEnabled()
    pick_in_combo(dialog.flash_combo, None)  # Auto
    assert dialog.error_label.isHidden() and dialog.save_button.isEnabled()
    _type_into(dialog.ctx_spin, "8192")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    path = (
        window.chat.models[0].path
        if window.chat.default_model is None
        else window.chat.default_model.path
    )
    assert window.chat.model_settings().of(path) == {"n_ctx": 8192, "kv_cache_type": "q4_0"}

    action.trigger()
    again = _settings_dialog()
    assert (again.ctx_spin.value(), again.kv_combo.currentData()) == (8192, "q4_0")
    QTest.mouseClick(again.reset_button, Qt.MouseButton.LeftButton)
    assert again.ctx_spin.value() == recommended_ctx
    assert again.kv_combo.currentData() == "f16"
    assert window.chat.model_settings().of(path) == {}
    again.close()


def test_a_draft_model_chosen_for_a_model_drafts_at_its_next_load(
    home: AppPaths, qtbot: QtBot, smollm_path: str
) -> None:
    # Two candidates in the models folder: SmolLM2 again (its vocabulary: a draft that works)
    # and a file that is no model at all.
    home.models.mkdir(parents=True, exist_ok=True)
    draft = home.models / "smol-draft.gguf"
    draft.symlink_to(smollm_path)
    junk = home.models / "zz-junk.gguf"
    junk.write_bytes(b"not a model" * 400)
    window = build_window(home)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=8)
        bundled = next(m for m in window.chat.models if m.source == "bundled")
        install_model_settings(window).trigger()
        dialog = _settings_dialog()
        assert dialog.model == bundled and dialog.draft_combo.currentData() == ""
        offered = [dialog.draft_combo.itemData(i) for i in range(dialog.draft_combo.count())]
        assert str(draft) in offered and bundled.path not in offered  # never itself
        pick_in_combo(dialog.draft_combo, str(draft))
        QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.isVisible())
        saved = {"speculative": "draft", "draft_model": str(draft)}
        assert window.chat.model_settings().of(bundled.path) == saved
        params = window.chat.load_params_for(bundled)[0]
        assert (params.speculative, params.draft_model) == ("draft", str(draft))
        with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
            window.input_box.setFocus()
            QTest.keyClicks(window.input_box, "Repeat: red green blue")
            QTest.keyClick(window.input_box, Qt.Key.Key_Return)
        assert window.chat.engine.running

        # The setting reaches the engine's load: a draft that is no model is refused by name.
        window.findChild(QAction, "modelSettingsAction").trigger()  # type: ignore[union-attr]
        again = _settings_dialog()
        assert again.draft_combo.currentData() == str(draft)  # as saved
        pick_in_combo(again.draft_combo, str(junk))
        errors: list[str] = []
        window.chat.error.connect(errors.append)
        QTest.mouseClick(again.reload_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: any("zz-junk.gguf" in e for e in errors), timeout=TIMEOUT_MS)
        said = next(e for e in errors if "zz-junk.gguf" in e)
        assert "not a GGUF model file" in said and "draft model chosen for" in said
    finally:
        window.close()
        window.chat.store.close()
