"""LoRA adapters in the window, offscreen, driven as a user does: Open GGUF with an adapter file,
the LoRA button's menu beside the model picker (a box and a scale per adapter), the answer's
label naming the fine-tune, and an adapter that does not fit greyed with its reason. The answers
come from the real engine child on the bundled SmolLM2 with adapters written by the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget
from pytestqt.qtbot import QtBot

from desktop.core.adapters import Adapter
from desktop.core.messages import Role
from desktop.core.params import SamplingParams
from desktop.storage.paths import AppPaths
from desktop.ui.adapter_button import NO_ADAPTER, AdapterRow
from desktop.ui.main_window import MainWindow
from tests.lora_models import write_lora
from tests.ui.driving import answer_modal, file_dialog_answer, when_shown

TIMEOUT_MS = 120_000


def in_adapter_menu(window: MainWindow, act: Callable[[QMenu], None]) -> None:
    """Click the LoRA button; while its menu (made again as it opens) shows, ``act`` on it,
    then the menu closes (as a click outside it would)."""
    button = window.model_bar.adapter_button
    menu = button.menu()
    assert menu is not None
    failures: list[str] = []

    def act_and_close(widget: QWidget) -> None:
        assert isinstance(widget, QMenu)
        try:
            act(widget)
        finally:
            widget.close()

    when_shown(lambda: menu if menu.isVisible() else None, act_and_close, failures)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)  # the menu's loop runs until it closes
    assert not failures, failures


def send(window: MainWindow, qtbot: QtBot, text: str) -> None:
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, text)
    with qtbot.waitSignal(window.chat.answer_finished, timeout=TIMEOUT_MS):
        qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def last_answer(window: MainWindow) -> tuple[str, tuple[Adapter, ...]]:
    assert window.conversation_id is not None
    answers = [
        m for m in window.chat.store.messages(window.conversation_id) if m.role == Role.ASSISTANT
    ]
    return answers[-1].content, answers[-1].adapters


def test_an_adapter_opened_like_a_model_is_chosen_and_answers_are_labelled_with_it(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    adapter = write_lora(tmp_path / "my-support-lora.gguf")
    window.chat.sampling = SamplingParams(temperature=0.0, max_tokens=16)  # greedy, short
    button = window.model_bar.adapter_button
    assert not button.isVisible()  # no adapter on this machine yet: the bar stays narrow
    send(window, qtbot, "Name three colours.")
    bare, bare_adapters = last_answer(window)
    assert bare_adapters == ()
    loads = []
    window.chat.engine.loaded.connect(lambda *args: loads.append(args))
    pid = window.chat.engine.pid

    failures = answer_modal(file_dialog_answer(adapter), QFileDialog)
    window.open_model_action.trigger()  # Model → Open GGUF file…, an adapter picked
    assert not failures, failures
    assert window.conversation_id is not None
    assert window.chat.chat_adapters(window.conversation_id) == (Adapter(str(adapter)),)
    assert button.isVisible() and button.text() == "+ my-support-lora"
    assert str(adapter) not in {m.path for m in window.chat.models}  # not offered as a model

    def set_scale(_menu: QMenu) -> None:
        rows = button.rows
        assert [row.fit.file.name for row in rows] == ["my-support-lora"]
        assert rows[0].check.isChecked()
        rows[0].scale.selectAll()
        QTest.keyClicks(rows[0].scale, "0.8")  # typed into the scale box beside its name

    in_adapter_menu(window, set_scale)
    assert window.chat.chat_adapters(window.conversation_id) == (Adapter(str(adapter), 0.8),)
    assert button.text() == "+ my-support-lora × 0.8"

    send(window, qtbot, "Name three colours.")
    tuned, tuned_adapters = last_answer(window)
    assert tuned_adapters == (Adapter(str(adapter), 0.8),)
    assert tuned != bare  # the fine-tune changed the greedy answer
    assert loads == [] and window.chat.engine.pid == pid  # same child, no reload
    html = window.chat_view.toHtml()
    assert "my-support-lora × 0.8" in html  # the answer's label names the fine-tune

    in_adapter_menu(window, lambda _menu: button.none_action.trigger())
    assert window.chat.chat_adapters(window.conversation_id) == ()
    assert button.text() == NO_ADAPTER


def test_an_adapter_for_another_size_is_greyed_with_its_reason_and_never_chosen(
    window: MainWindow, qtbot: QtBot, home: AppPaths
) -> None:
    wrong = write_lora(home.models / "wide-lora.gguf", n_ff=1024)
    fits = write_lora(home.models / "good-lora.gguf", seed=3)
    write_lora(home.models / "other-family-lora.gguf", architecture="qwen2")
    window.chat.refresh_models()  # the models folder is read again (as at each listing)
    assert {str(wrong), str(fits)}.isdisjoint(m.path for m in window.chat.models)
    seen: dict[str, AdapterRow] = {}

    def tick_the_good_one(_menu: QMenu) -> None:
        seen.update({row.fit.file.name: row for row in window.model_bar.adapter_button.rows})
        check = seen["good-lora"].check
        box = QPoint(10, check.height() // 2)  # on its box (the free width beside is no target)
        QTest.mouseClick(check, Qt.MouseButton.LeftButton, pos=box)

    in_adapter_menu(window, tick_the_good_one)
    rows = seen
    assert list(rows) == ["good-lora", "wide-lora"]  # fitting first; another family not at all
    assert rows["good-lora"].isEnabled()
    assert not rows["wide-lora"].isEnabled()
    assert "1024" in rows["wide-lora"].toolTip() and "wide-lora.gguf" in rows["wide-lora"].toolTip()
    assert window.conversation_id is not None
    assert window.chat.chat_adapters(window.conversation_id) == (Adapter(str(fits)),)


def test_the_model_manager_lists_adapters_and_imports_one(
    window: MainWindow, qtbot: QtBot, home: AppPaths, tmp_path: Path
) -> None:
    """ "On this computer": a downloaded adapter (in the models folder) is a row of its own,
    said to be a LoRA adapter; Import GGUF file… with an adapter adds it, and the chat's LoRA
    button offers it."""
    write_lora(home.models / "downloaded-lora.gguf")
    window.chat.refresh_models()
    window.models_action.trigger()
    dialog = window.models_dialog
    assert dialog is not None

    def rows() -> dict[str, str]:
        table = dialog.local_table
        cells = [(table.item(r, 0), table.item(r, 2)) for r in range(table.rowCount())]
        return {name.text(): kind.text() for name, kind in cells if name and kind}

    assert rows()["downloaded-lora"] == "LoRA adapter (llama)"
    mine = write_lora(tmp_path / "imported-lora.gguf", seed=5)
    failures = answer_modal(file_dialog_answer(mine), QFileDialog)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert not failures, failures
    assert dialog.import_note.text() == (
        "Added the LoRA adapter imported-lora: choose it beside a model."
    )
    assert rows()["imported-lora"] == "LoRA adapter (llama)"
    assert str(mine) not in {m.path for m in window.chat.models}
    seen: list[str] = []
    in_adapter_menu(
        window,
        lambda _m: seen.extend(r.fit.file.name for r in window.model_bar.adapter_button.rows),
    )
    assert seen == ["downloaded-lora", "imported-lora"]


def test_a_chosen_adapter_that_no_longer_fits_is_refused_with_its_name_and_nothing_is_lost(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """The file behind a chosen adapter was replaced by one for another size of model: Enter
    says so in the banner, saves nothing, and gives the words back."""
    adapter = tmp_path / "swapped-lora.gguf"
    write_lora(adapter)
    assert window.conversation_id is not None
    cid = window.conversation_id
    window.chat.set_chat_adapters(cid, [Adapter(str(adapter), 0.5)])
    write_lora(adapter, n_ff=1024)  # replaced since it was chosen
    before = window.chat.store.messages(cid)
    window.input_box.setFocus()
    QTest.keyClicks(window.input_box, "Hello there")
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert window.banner.isVisible()
    said = window.banner.label.text()
    assert "swapped-lora.gguf" in said and "1024×576" in said and "LoRA" in said
    assert window.chat.store.messages(cid) == before
    assert window.input_box.toPlainText() == "Hello there"
    assert not window.chat.busy
