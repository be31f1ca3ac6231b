"""LoRA adapters in the compare window, offscreen, driven as a user does: the same model in two
columns, one column's LoRA menu ticked (base vs fine-tune), one engine child answering both with
each column's adapters, the labels naming the fine-tune, the stored comparison, its reopening
and export; a blind vote between base and fine-tune counted for the variant on the leaderboard.
The answers come from the real engine child on the bundled SmolLM2 with an adapter written by
the tests (tests/lora_models.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from desktop.core.adapters import Adapter
from desktop.core.params import SamplingParams
from desktop.services.chat import ChatService
from desktop.services.comparisons import Comparisons
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.adapter_button import NO_ADAPTER, AdapterButton
from desktop.ui.compare_window import CompareWindow
from tests.lora_models import write_lora
from tests.ui.driving import (
    answer_modal,
    button_named,
    choose_compare_models,
    file_dialog_answer,
)

SMOL = "local:smollm2-135m-instruct"
TIMEOUT_MS = 120_000
PROMPT = "Name three colours."


@pytest.fixture
def tune(home: AppPaths) -> Path:
    """A fine-tune of SmolLM2 in the models folder, and one for another size beside it."""
    write_lora(home.models / "wide-lora.gguf", n_ff=1024)
    return write_lora(home.models / "my-tune.gguf")


@pytest.fixture
def chat(home: AppPaths, tune: Path) -> Iterator[ChatService]:
    store = ChatStore(home.database)
    service = ChatService(store, Settings(home.settings), home.models, EngineHost())
    service.sampling = SamplingParams(temperature=0.0, max_tokens=16)
    yield service
    service.shutdown()
    store.close()


@pytest.fixture
def window(chat: ChatService, qtbot: QtBot) -> Iterator[CompareWindow]:
    win = CompareWindow(chat, Comparisons(chat.store))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def tick_adapter(window: CompareWindow, qtbot: QtBot, slot: int, name: str) -> AdapterButton:
    """Click column ``slot``'s LoRA button; in its menu (which runs its own event loop while
    open), tick the adapter called ``name``, then close it."""
    button = window.lora.buttons[slot]
    assert button.isVisible()  # this machine has adapters: every column offers them
    assert button.isVisible() and button.isEnabled() and button.text() == NO_ADAPTER
    menu = button.menu()
    assert menu is not None
    seen: dict[str, bool] = {}
    tries = [0]

    def in_menu() -> None:
        tries[0] += 1
        if not menu.isVisible() and tries[0] < 200:
            QTimer.singleShot(20, in_menu)
            return
        seen.update({row.fit.file.name: row.isEnabled() for row in button.rows})
        for row in button.rows:
            if row.fit.file.name == name:
                row.check.click()
        menu.close()

    QTimer.singleShot(0, in_menu)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not menu.isVisible())
    # The fitting one first; the one made for another size greyed (its tooltip says why).
    assert seen == {"my-tune": True, "wide-lora": False}
    assert list(seen) == ["my-tune", "wide-lora"]
    return button


def send(window: CompareWindow, qtbot: QtBot, text: str) -> None:
    window.input_box.setFocus()
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)
    assert window.session is not None
    with qtbot.waitSignal(window.session.round_finished, timeout=TIMEOUT_MS):
        pass


def test_base_and_fine_tune_side_by_side_on_one_engine(
    window: CompareWindow, qtbot: QtBot, tune: Path, tmp_path: Path
) -> None:
    choose_compare_models(window, SMOL, SMOL)
    button = tick_adapter(window, qtbot, 1, "my-tune")
    assert button.text() == "+ my-tune"
    assert window.lora.buttons[0].text() == NO_ADAPTER
    send(window, qtbot, PROMPT)
    session = window.session
    assert session is not None
    base, tuned = session.results[0]
    assert base is not None and tuned is not None
    assert base.status == tuned.status == "complete" and base.text and tuned.text
    assert tuned.text != base.text  # the fine-tune changed the greedy answer
    assert (base.adapters, tuned.adapters) == ((), (Adapter(str(tune)),))
    # One engine child for the one model: loaded once, each answer with its column's adapters.
    share = session.columns[0].share
    assert share is not None and share is session.columns[1].share and share.source is not None
    name = window.chat.model_name(SMOL)
    assert [c.title.text() for c in window.columns] == [name, f"{name} + my-tune"]
    assert "+ my-tune" in window.columns[1].view.toPlainText()
    assert "my-tune" not in window.columns[0].view.toPlainText()
    assert not button.isEnabled()  # the choice stays while the comparison runs

    # Recorded on that column only, in the comparison and with each answer.
    cid = session.comparison_id
    assert cid is not None
    store = window.chat.store
    assert store.comparison(cid).adapters == ((), (Adapter(str(tune)),))
    answers = store.comparison_answers(cid)
    assert [(a.slot, a.adapters) for a in answers] == [(0, ()), (1, (Adapter(str(tune)),))]
    assert answers[1].content == tuned.text

    # The past comparisons' row names both columns as their titles do (it gave model ids).
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    window.history.refresh()
    tip = window.history.item(0).toolTip()
    assert f"{name}, {name} + my-tune" in tip and "local:" not in tip
    # Reopened: the labels and the LoRA buttons say so again; the export carries the adapters.
    window.open_past(cid)
    assert [c.title.text() for c in window.columns] == [name, f"{name} + my-tune"]
    assert [b.text() for b in window.lora.buttons[:2]] == [NO_ADAPTER, "+ my-tune"]
    target = tmp_path / "exported.json"
    failures = answer_modal(file_dialog_answer(target), QFileDialog)
    window.history.export(cid)
    assert not failures, failures
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["comparison"]["adapters"] == [[], [{"path": str(tune), "scale": 1.0}]]
    assert [a["adapters"] for a in data["answers"]] == [[], [{"path": str(tune), "scale": 1.0}]]


def test_a_blind_vote_between_base_and_fine_tune_counts_for_the_variant(
    window: CompareWindow, qtbot: QtBot, tune: Path
) -> None:
    window.blind_box.setChecked(True)
    window.rng = random.Random(5)
    choose_compare_models(window, SMOL, SMOL)
    tick_adapter(window, qtbot, 1, "my-tune")
    send(window, qtbot, PROMPT)
    session = window.session
    assert session is not None and session.blind
    assert [c.title.text() for c in window.columns] == ["Answer A", "Answer B"]
    shown = " ".join(c.view.toPlainText() for c in window.columns)
    assert "my-tune" not in shown and "LoRA" not in shown  # nothing tells them apart
    tuned_slot = next(s for s, a in enumerate(session.adapters) if a)
    window.vote_buttons["ab"[tuned_slot]].click()  # the fine-tune wins
    name = window.chat.model_name(SMOL)
    titles = [c.title.text() for c in window.columns]
    assert titles[tuned_slot] == f"{'AB'[tuned_slot]}: {name} + my-tune"
    assert titles[1 - tuned_slot] == f"{'AB'[1 - tuned_slot]}: {name}"
    assert f"{name} + my-tune" in window.vote_label.text()
    [vote] = window.chat.store.votes()
    assert vote.model_a == vote.model_b == SMOL
    assert (vote.adapters_a, vote.adapters_b) == tuple(session.adapters)
    assert vote.winner == "ab"[tuned_slot]

    qtbot.mouseClick(window.leaderboard_button, Qt.MouseButton.LeftButton)
    board = window.leaderboard
    board.flagged_box.setChecked(True)  # counted even if an answer named its model
    assert board.table.rowCount() == 2  # base and fine-tune are two contestants
    top, second = board.table.item(0, 1), board.table.item(1, 1)
    assert top is not None and second is not None
    assert (top.text(), second.text()) == (f"{name} + my-tune", name)
    assert top.toolTip() == f"{SMOL}\n{tune} × 1" and second.toolTip() == SMOL
    wins = board.table.item(0, 4)
    assert wins is not None and wins.text() == "1"


def test_a_batch_from_the_window_runs_each_column_with_its_adapters(
    window: CompareWindow, qtbot: QtBot, tune: Path, tmp_path: Path
) -> None:
    """Compare → Batch… with base and fine-tune columns: the batch asks the fine-tune column's
    model with its adapter, and the stored answers say so."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{PROMPT}\n")
    choose_compare_models(window, SMOL, SMOL)
    tick_adapter(window, qtbot, 1, "my-tune")
    qtbot.mouseClick(window.batch_button, Qt.MouseButton.LeftButton)
    dialog = window.batch_dialog
    qtbot.waitExposed(dialog)
    failures = answer_modal(file_dialog_answer(prompts), QFileDialog)
    qtbot.mouseClick(button_named(dialog, "Choose…"), Qt.MouseButton.LeftButton)
    assert not failures, failures
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    session = dialog.session
    assert session is not None
    with qtbot.waitSignal(session.batch_finished, timeout=TIMEOUT_MS):
        pass
    assert session.adapters == [(), (Adapter(str(tune)),)]
    [[base, tuned]] = session.results
    assert base is not None and tuned is not None and base.text != tuned.text
    assert session.comparison_id is not None
    stored = window.chat.store.comparison_answers(session.comparison_id)
    assert sorted((a.slot, a.adapters) for a in stored) == [(0, ()), (1, (Adapter(str(tune)),))]
    dialog.close()
