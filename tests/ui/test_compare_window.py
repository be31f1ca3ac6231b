"""The compare window, offscreen, with the real SmolLM2 engine and the real SDKs against our
loopback OpenAI and Anthropic servers: concurrent columns and their metrics, a failing column,
closing mid-stream, blind votes (seeded positions, hidden names, flagged self-naming answers),
the leaderboard, local models taking turns, a batch with a bad line, reopening; a model that
failed to load (marked, never chosen for the user, warned about); the history rows' own menus."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLineEdit,
    QListWidget,
    QMenu,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.core.models import LocalModel
from desktop.core.params import SamplingParams
from desktop.services.chat import ChatService
from desktop.services.cloud import CloudService
from desktop.services.compare import CompareSession
from desktop.services.comparisons import Comparisons
from desktop.services.engine_host import EngineHost
from desktop.services.model_settings import ModelSettings
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.batch_dialog import BatchDialog
from desktop.ui.compare_metrics import BEST_MARK, HIDDEN_TEXT, SHORT_MARK
from desktop.ui.compare_past import PAST_ID
from desktop.ui.compare_window import CompareWindow
from tests.cloudserver import CloudServer
from tests.ui.driving import (
    answer_modal,
    button_named,
    choose_compare_models,
    file_dialog_answer,
    pick_in_combo,
)

SMOL = "local:smollm2-135m-instruct"
GPT = "openai:gpt-4o"
CLAUDE = "anthropic:claude-sonnet-4-20250514"
TIMEOUT_MS = 60_000


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.models = ["gpt-4o", "claude-sonnet-4-20250514"]
        yield cloud


@pytest.fixture
def chat(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ChatService]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-compare-window")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-compare-window")
    store = ChatStore(home.database)
    settings = Settings(home.settings)
    cloud = CloudService(store, settings, home.pricing)
    for name, url in (("openai", server.base_url + "/v1"), ("anthropic", server.base_url)):
        cloud.set_base_url(name, url)
        with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS):
            cloud.set_enabled(name, True)
        cloud.grant_consent(name)
    service = ChatService(store, settings, home.models, EngineHost(), cloud=cloud)
    service.sampling = SamplingParams(temperature=0.0, max_tokens=24)
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


def type_and_send(qtbot: QtBot, window: CompareWindow, text: str) -> None:
    """The prompt typed into the compare window's box, then Enter (it sends to all)."""
    window.input_box.setFocus()
    window.input_box.clear()
    qtbot.keyClicks(window.input_box, text)
    qtbot.keyClick(window.input_box, Qt.Key.Key_Return)


def send(window: CompareWindow, qtbot: QtBot, text: str) -> None:
    type_and_send(qtbot, window, text)
    assert window.session is not None
    with qtbot.waitSignal(window.session.round_finished, timeout=TIMEOUT_MS):
        pass


def metric(window: CompareWindow, slot: int, label: str) -> str:
    """A row of a column's metrics strip as the user reads it ("First token": "0.18 s", with
    "★ best" after the best value); "" if the strip does not show that row."""
    strip = window.columns[slot].metrics
    assert strip.isVisibleTo(window), f"column {slot + 1} shows no metrics"
    for line in strip.shown_text().splitlines():
        name, _, value = line.partition(": ")
        if name == label:
            return value
    return ""


def plain(value: str) -> str:
    """A metric's value without its best mark (its words, or the star alone when narrow)."""
    return value.removesuffix(BEST_MARK).removesuffix(SHORT_MARK).strip()


def is_best(value: str) -> bool:
    return value.endswith((BEST_MARK, SHORT_MARK))


def test_three_columns_stream_at_once_with_metrics(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.delay_s = 0.03
    choose_compare_models(window, SMOL, GPT, CLAUDE)
    order: list[int] = []
    type_and_send(qtbot, window, "Name a fruit.")
    session = window.session
    assert session is not None
    session.column_delta.connect(lambda slot, _text: order.append(slot))
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        pass
    assert set(order) == {0, 1, 2}
    # Interleaved: some column's piece came between two pieces of another.
    assert any(order[i] != order[i + 1] for i in range(len(order) - 1))
    assert [c.title.text() for c in window.columns] == [m.name for m in session.models]
    texts = [c.view.toPlainText() for c in window.columns]
    assert "Hello from the cloud." in texts[1] and "Hello from the cloud." in texts[2]
    for slot in range(3):  # each column's own numbers, in the strip under it
        assert plain(metric(window, slot, "First token")).endswith(" s")
        tokens = plain(metric(window, slot, "Tokens"))
        assert tokens.endswith(" out") and tokens.split(" · ")[1] != "– out"
    assert plain(metric(window, 0, "Cost")) == "free · local"
    assert "$" in metric(window, 1, "Cost")
    # The cheapest is marked in the cost row: the local model, and only it.
    assert is_best(metric(window, 0, "Cost"))
    assert not any(is_best(metric(window, s, "Cost")) for s in (1, 2))
    # Saved, and the model set is remembered for next time.
    [saved] = window.chat.store.comparisons()
    assert saved.models == (SMOL, GPT, CLAUDE)
    answers = window.chat.store.comparison_answers(saved.id)
    assert [a.status for a in answers] == ["complete"] * 3
    assert window.chat.settings.get("compare_models") == [SMOL, GPT, CLAUDE]

    # A follow-up goes to every column, each continuing its own thread.
    send(window, qtbot, "And another?")
    body = server.state.requests[-1]["body"]
    history = body.get("messages")
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["content"] == "Hello from the cloud."


def test_a_failing_column_shows_its_error_and_the_others_finish(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    choose_compare_models(window, SMOL, GPT)
    server.state.statuses = [401]
    send(window, qtbot, "Name a fruit.")
    assert "rejected the API key (401)" in window.columns[1].view.toPlainText()
    assert window.columns[0].view.toPlainText().count("You") == 1
    session = window.session
    assert session is not None
    local, cloud = session.results[0]
    assert local is not None and local.status == "complete" and local.text
    assert cloud is not None and cloud.status == "failed"


def test_closing_mid_stream_saves_what_was_shown(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    server.state.endless = True
    server.state.delay_s = 0.02
    choose_compare_models(window, GPT, CLAUDE)
    type_and_send(qtbot, window, "Go on forever.")
    session = window.session
    assert session is not None
    shown: dict[int, list[str]] = {0: [], 1: []}
    session.column_delta.connect(lambda slot, text: shown[slot].append(text))
    qtbot.waitUntil(lambda: len(shown[0]) >= 3 and len(shown[1]) >= 3, timeout=TIMEOUT_MS)
    window.close()
    answers = window.chat.store.comparison_answers(session.comparison_id or 0)
    assert [a.status for a in answers] == ["stopped", "stopped"]
    for answer in answers:
        assert answer.content == "".join(shown[answer.slot])


def test_each_column_is_on_disk_while_it_streams(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    """As a chat's answer: a crash mid-comparison loses at most a second of each column."""
    server.state.endless = True
    server.state.delay_s = 0.02
    choose_compare_models(window, GPT, CLAUDE)
    type_and_send(qtbot, window, "Go on forever.")
    session = window.session
    assert session is not None
    shown: dict[int, list[str]] = {0: [], 1: []}
    session.column_delta.connect(lambda slot, text: shown[slot].append(text))
    store = window.chat.store

    def kept() -> list[str]:
        return [a.content for a in store.comparison_answers(session.comparison_id or 0)]

    qtbot.waitUntil(lambda: all(kept()) and len(kept()) == 2, timeout=TIMEOUT_MS)
    answers = store.comparison_answers(session.comparison_id or 0)
    assert [a.status for a in answers] == ["streaming", "streaming"]
    for answer in answers:
        assert "".join(shown[answer.slot]).startswith(answer.content)
    window.close()


def test_stop_one_column(window: CompareWindow, qtbot: QtBot, server: CloudServer) -> None:
    server.state.endless = True
    server.state.delay_s = 0.02
    choose_compare_models(window, SMOL, GPT)
    type_and_send(qtbot, window, "Count slowly.")
    session = window.session
    assert session is not None
    shown: list[str] = []
    session.column_delta.connect(lambda slot, text: shown.append(text) if slot == 1 else None)
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        window.columns[1].stop_button.click()
    cloud = session.results[0][1]
    assert cloud is not None and cloud.status == "stopped" and cloud.text


def test_blind_positions_names_vote_and_leaderboard(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    orders = set()
    for seed in range(8):
        trial = CompareSession(
            window.chat.store,
            [window.chat.all_models[0], *window.chat.cloud_models[:1]],
            cloud=window.chat.cloud,
            sampling=window.chat.sampling,
            blind=True,
            rng=random.Random(seed),
        )
        orders.add(tuple(m.id for m in trial.models))
        trial.close()
    assert len(orders) == 2  # both placements happen across seeds

    server.state.reply = ["As Claude, I", " like", " mangoes."]
    window.blind_box.setChecked(True)
    window.rng = random.Random(1)
    choose_compare_models(window, SMOL, GPT)
    send(window, qtbot, "Name a fruit.")
    session = window.session
    assert session is not None and session.blind
    before = [c.title.text() for c in window.columns]
    assert before == ["Answer A", "Answer B"]
    visible = " ".join(c.view.toPlainText() for c in window.columns)
    assert "SmolLM2" not in visible and "gpt-4o" not in visible and "local" not in visible
    # Speed and cost would tell: each strip says they wait for the vote, and the chart too.
    assert [c.metrics.shown_text() for c in window.columns] == [HIDDEN_TEXT] * 2
    assert not window.chart.isVisible()
    assert window.vote_bar.isVisible()
    cloud_slot = [m.id for m in session.models].index(GPT)
    winner = "ab"[1 - cloud_slot]  # the local answer wins
    window.vote_buttons[winner].click()
    after = [c.title.text() for c in window.columns]
    assert after[cloud_slot] == f"{'AB'[cloud_slot]}: gpt-4o · OpenAI"
    assert "stays out of the leaderboard" in window.vote_label.text()
    assert all(plain(metric(window, s, "First token")).endswith(" s") for s in (0, 1))
    assert window.chart.isVisible()
    [vote] = window.chat.store.votes()
    assert (vote.model_a, vote.model_b) == tuple(m.id for m in session.models)
    assert vote.winner == winner and "As Claude" in vote.flagged

    qtbot.mouseClick(window.leaderboard_button, Qt.MouseButton.LeftButton)
    board = window.leaderboard
    assert board.table.rowCount() == 0  # the flagged vote is left out by default
    board.flagged_box.setChecked(True)
    assert board.table.rowCount() == 2
    top = board.table.item(0, 1)
    assert top is not None and top.text() == window.chat.model_name(SMOL)
    assert top.toolTip() == SMOL


def test_focus_gives_one_column_the_width(window: CompareWindow, qtbot: QtBot) -> None:
    choose_compare_models(window, GPT, CLAUDE)
    send(window, qtbot, "Hi")
    window.columns[1].focus_button.click()
    sizes = window.splitter.sizes()
    assert sizes[0] == 0 and sizes[1] > 0
    window.columns[1].focus_button.click()
    assert min(window.splitter.sizes()) > 0


def test_local_models_take_turns_when_memory_is_short(
    chat: ChatService, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> None:
    copy = tmp_path / "second-smol.gguf"
    copy.symlink_to(smollm_path)
    models = [LocalModel.for_file(smollm_path, "bundled"), LocalModel.for_file(str(copy))]
    session = CompareSession(
        chat.store, list(models), cloud=None, sampling=chat.sampling, ram_available=1
    )
    notices: list[str] = []
    session.notice.connect(notices.append)
    with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
        session.send("Name a fruit.")
    assert notices and "one after the other" in notices[0]
    assert all(r is not None and r.status == "complete" and r.text for r in session.results[0])
    session.close()


def test_batch_with_a_bad_line_and_exports(chat: ChatService, qtbot: QtBot, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a fruit."}\n{oops\n"Name a colour."\n')
    gpt = next(m for m in chat.cloud_models if m.id == GPT)
    # As Batch… opens it for them.
    dialog = BatchDialog(chat, Comparisons(chat.store), [chat.all_models[0], gpt])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.file_edit, str(prompts))
    dialog.per_month.setValue(1000)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None
    with qtbot.waitSignal(dialog.session.batch_finished, timeout=TIMEOUT_MS):
        pass
    assert "line 2: not JSON" in dialog.problems.text()
    assert dialog.results.rowCount() == 2 and dialog.progress.value() == 2
    report = dialog.report
    assert report is not None
    local, cloud = report["summary"]
    assert local["cost_per_month_usd"] == 0
    assert cloud["cost_per_month_usd"] == pytest.approx(1000 * (11 * 2.5 + 5 * 10) / 1e6)
    for suffix in ("md", "csv", "json"):  # each Export … button, its save dialog answered
        failures = answer_modal(file_dialog_answer(tmp_path / f"out.{suffix}"), QFileDialog)
        qtbot.mouseClick(
            button_named(dialog, f"Export {suffix.upper()}…"), Qt.MouseButton.LeftButton
        )
        assert not failures, failures
    assert "| Model | Answers |" in (tmp_path / "out.md").read_text()
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("prompt_index,prompt")
    assert json.loads((tmp_path / "out.json").read_text())["per_month"] == 1000

    # Blind votes over the results: both prompts, names hidden, votes in the leaderboard.
    qtbot.mouseClick(dialog.vote_button, Qt.MouseButton.LeftButton)
    voting = dialog.vote_dialog
    assert voting is not None
    shown = voting.answer_a.text() + voting.answer_b.text()
    assert "gpt-4o" not in shown and "SmolLM2" not in shown
    for _ in range(2):
        qtbot.mouseClick(button_named(voting, "Tie"), Qt.MouseButton.LeftButton)
    assert "Done: 2 votes" in voting.prompt_label.text()
    votes = chat.store.votes()
    assert len(votes) == 2 and {v.model_a for v in votes} <= {SMOL, GPT}
    dialog.close()


def test_reopen_a_past_comparison(window: CompareWindow, qtbot: QtBot) -> None:
    choose_compare_models(window, GPT, CLAUDE)
    send(window, qtbot, "Remember me")
    comparison_id = window.session.comparison_id if window.session else None
    assert comparison_id is not None
    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    # The past comparison's row in the history, chosen, then Enter (it reopens).
    history = window.history
    row = next(r for r in range(history.count()) if history.item(r).data(PAST_ID) == comparison_id)
    rect = history.visualItemRect(history.item(row))
    qtbot.mouseClick(history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert history.currentRow() == row
    qtbot.keyClick(history, Qt.Key.Key_Return)
    assert len(window.columns) == 2
    assert "Remember me" in window.columns[0].view.toPlainText()
    assert "Hello from the cloud." in window.columns[1].view.toPlainText()
    assert "$" in metric(window, 0, "Cost")  # the cost of the reopened answers


def test_a_long_past_title_ends_in_an_ellipsis_not_a_scroll_bar(
    window: CompareWindow, qtbot: QtBot
) -> None:
    choose_compare_models(window, GPT, CLAUDE)
    long_prompt = "Name three animals that live high in the Andes, with a line on each of them"
    send(window, qtbot, long_prompt)
    history = window.history
    qtbot.waitUntil(lambda: history.count() > 0)
    item = history.item(0)
    assert history.fontMetrics().horizontalAdvance(item.text()) > history.viewport().width()
    qtbot.wait(100)  # the list lays its items out after the event loop turns
    assert not history.horizontalScrollBar().isVisible()
    assert long_prompt[:40] in item.toolTip()  # the whole title, in the row's tooltip


def test_batch_from_a_saved_list(chat: ChatService, qtbot: QtBot) -> None:
    chat.settings.set("prompt_lists", {"fruits": ["Name a fruit.", "Name a berry."]})
    gpt = next(m for m in chat.cloud_models if m.id == GPT)
    claude = next(m for m in chat.cloud_models if m.id == "anthropic:claude-sonnet-4-20250514")
    # As Batch… opens it for them.
    dialog = BatchDialog(chat, Comparisons(chat.store), [gpt, claude])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    pick_in_combo(dialog.saved_picker, "fruits")
    assert dialog.saved_picker.currentText() == "fruits (2)"
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None
    with qtbot.waitSignal(dialog.session.batch_finished, timeout=TIMEOUT_MS):
        pass
    assert dialog.results.rowCount() == 2
    assert dialog.report is not None and dialog.report["source"] == "fruits"
    dialog.close()


def test_blind_hides_errors_refuses_unfair_votes_and_reshuffles_after_a_vote(
    window: CompareWindow, qtbot: QtBot, server: CloudServer
) -> None:
    window.blind_box.setChecked(True)
    window.rng = random.Random(3)
    choose_compare_models(window, GPT, CLAUDE)
    server.state.statuses = [401]
    send(window, qtbot, "Name a fruit.")
    shown = " ".join(c.view.toPlainText() for c in window.columns)
    assert "OpenAI" not in shown and "Anthropic" not in shown and "this answer failed" in shown
    window.vote_buttons["a"].click()
    assert "nothing fair to vote on" in window.notice.text()
    assert window.chat.store.votes() == []

    qtbot.mouseClick(window.new_button, Qt.MouseButton.LeftButton)
    send(window, qtbot, "Name a fruit.")
    first = window.session
    assert first is not None
    window.vote_buttons["tie"].click()
    # The names are known now: this starts a new blind comparison.
    type_and_send(qtbot, window, "And a vegetable?")
    assert window.session is not first and window.session is not None
    with qtbot.waitSignal(window.session.round_finished, timeout=TIMEOUT_MS):
        pass
    assert [c.title.text() for c in window.columns] == ["Answer A", "Answer B"]


# -- a model that failed to load; the history's row menus ----------------------------------------

BROKEN_REASON = "llama.cpp could not read x.gguf: not a GGUF file (bad magic)"


def add_broken_model(chat: ChatService, folder: Path) -> LocalModel:
    """A file of random bytes in the models folder, marked failed as a load attempt marks it;
    named to sort right after the bundled model, where the old default picked it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "x.gguf"
    path.write_bytes(random.Random(7).randbytes(4096))
    chat.store.set_model_error(str(path), BROKEN_REASON)
    chat.refresh_models()
    return next(m for m in chat.models if m.path == str(path))


def open_window(chat: ChatService, qtbot: QtBot) -> CompareWindow:
    win = CompareWindow(chat, Comparisons(chat.store))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_a_failed_model_is_marked_never_chosen_for_the_user_and_warned_about(
    chat: ChatService, qtbot: QtBot, home: AppPaths, smollm_path: str
) -> None:
    broken = add_broken_model(chat, home.models)
    # A healthy second local model, sorted after the broken one.
    (home.models / "y.gguf").symlink_to(smollm_path)
    chat.refresh_models()
    healthy = next(m for m in chat.models if m.path == str(home.models / "y.gguf"))
    window = open_window(chat, qtbot)
    first, second, third = window.pickers[:3]
    assert [first.currentData(), second.currentData()] == [SMOL, healthy.id]
    at = first.findData(broken.id)
    assert first.itemText(at) == "x · ⚠ failed to load"
    assert BROKEN_REASON in str(first.itemData(at, Qt.ItemDataRole.ToolTipRole))
    assert not any(w.isVisible() for w in window.warnings)

    # A third column: no healthy local model is left, and a cloud model (agreed to, so it
    # would be sent to without a question) is not chosen for the user either.
    window.add_button.click()
    assert third.isVisible() and third.currentIndex() == -1
    assert third.currentText() == "" and third.placeholderText() == "Choose a model…"
    window.input_box.setPlainText("Name a fruit.")
    window.send_button.click()
    assert window.session is None
    assert window.notice.text() == "Choose a model for column 3."
    window.remove_button.click()

    # The user chooses the broken model on purpose, with the keyboard: it is warned about.
    second.setFocus()
    for _ in range(second.count()):
        if second.currentData() == broken.id:
            break
        qtbot.keyClick(second, Qt.Key.Key_Up)
    assert second.currentData() == broken.id
    warning = window.warnings[1]
    assert warning.isVisible() and BROKEN_REASON in warning.text()
    assert warning.geometry().top() >= second.geometry().bottom()  # right under its picker
    assert BROKEN_REASON in second.toolTip()
    window.batch_button.click()
    batch = window.batch_dialog
    assert "x · ⚠ failed to load" in batch.models_label.text()
    assert BROKEN_REASON in batch.models_label.toolTip()
    assert batch.failed_warning.isVisible() and BROKEN_REASON in batch.failed_warning.text()
    batch.close()
    # Their choice stays through a new comparison.
    window.new_button.click()
    assert second.currentData() == broken.id and warning.isVisible()
    window.close()

    # Remembered from an earlier comparison, it is still not chosen when the window opens.
    chat.settings.set("compare_models", [SMOL, broken.id])
    again = open_window(chat, qtbot)
    assert [p.currentData() for p in again.pickers[:2]] == [SMOL, healthy.id]
    assert "“x” failed to load last time" in again.notice.text()
    assert not again.warnings[1].isVisible()
    again.close()


def test_with_no_second_healthy_model_the_second_picker_waits_for_the_user(
    chat: ChatService, qtbot: QtBot, home: AppPaths
) -> None:
    broken = add_broken_model(chat, home.models)
    window = open_window(chat, qtbot)
    # The old default was the second model listed: the broken one.
    assert window.pickers[0].currentData() == SMOL
    assert window.pickers[1].currentIndex() == -1
    assert broken.id not in [p.currentData() for p in window.pickers]
    # Marked failed while the window is open (its load failed in the main window): the
    # picker that held it by default lets it go and says so; the list marks it.
    chat.store.set_model_error(smol_path(chat), "it crashed the engine")
    chat.refresh_models()
    first = window.pickers[0]
    assert first.currentIndex() == -1
    assert "“SmolLM2 135M Instruct (bundled)” failed to load last time" in window.notice.text()
    marked = first.itemText(first.findData(SMOL))
    assert marked == "SmolLM2 135M Instruct (bundled) · ⚠ failed to load"
    window.close()


def smol_path(chat: ChatService) -> str:
    return next(m.path for m in chat.models if m.id == SMOL)


def add_comparison(chat: ChatService, title: str, prompts: list[str]) -> int:
    comparison_id = chat.store.create_comparison(title, "compare", [SMOL, GPT])
    for round_index, prompt in enumerate(prompts):
        for slot, model in enumerate((SMOL, GPT)):
            chat.store.save_comparison_answer(
                comparison_id,
                round_index=round_index,
                slot=slot,
                model=model,
                prompt=prompt,
                content=f"{title} answer {round_index}.{slot}",
                status="complete",
            )
    return comparison_id


def right_click(
    qtbot: QtBot, view: QListWidget, row: int | None, choose: str | None = None
) -> list[str] | None:
    """Right-click a row (None: empty space under the rows) as a user does, and choose an
    action of the menu that opens. Returns the menu's action texts; None when none opened."""
    seen: list[list[str] | None] = []

    def answer() -> None:
        popup = QApplication.activePopupWidget()
        if not isinstance(popup, QMenu):
            seen.append(None)
            return
        actions = {a.text(): a for a in popup.actions()}
        seen.append(list(actions))
        if choose not in actions:
            popup.close()
            return
        where = popup.actionGeometry(actions[choose]).center()
        QTest.mouseClick(popup, Qt.MouseButton.LeftButton, pos=where)

    viewport = view.viewport()
    if row is None:
        pos = QPoint(viewport.width() // 2, viewport.height() - 4)
        assert view.itemAt(pos) is None
    else:
        item = view.item(row)
        assert item is not None
        pos = view.visualItemRect(item).center()
    QTimer.singleShot(50, answer)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    qtbot.waitUntil(lambda: bool(seen), timeout=5_000)
    return seen[0]


def answer_save_dialog(parent: QWidget, target: Path) -> list[str]:
    """Name the file in the save dialog that opens next; returns its title once answered."""
    titles: list[str] = []
    timer = QTimer(parent)
    timer.setInterval(50)

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QFileDialog):
            timer.stop()
            titles.append(dialog.windowTitle())
            name = dialog.findChild(QLineEdit, "fileNameEdit")
            assert isinstance(name, QLineEdit)
            name.clear()
            QTest.keyClicks(name, str(target))  # the user types where it goes
            QTest.keyClick(name, Qt.Key.Key_Return)

    timer.timeout.connect(poll)
    timer.start()
    return titles


# A menu grabs the keyboard when it pops up, which the offscreen platform cannot do.
@pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard")
def test_history_rows_have_their_own_menu(chat: ChatService, qtbot: QtBot, tmp_path: Path) -> None:
    add_comparison(chat, "Fruits", ["Name a fruit."])
    add_comparison(chat, "Colours", ["Name a colour.", "And another?"])
    add_comparison(chat, "Rivers", ["Name a river."])
    window = open_window(chat, qtbot)
    history = window.history
    assert [history.item(r).text().split(" · ")[0] for r in range(3)] == [
        "Rivers",
        "Colours",
        "Fruits",
    ]
    history.setCurrentRow(0)

    # Right-click a row that is not the selected one: the menu is that row's.
    assert right_click(qtbot, history, 2, "Open") == ["Open", "Export as JSON…"]
    assert history.currentRow() == 2
    assert "Name a fruit." in window.columns[0].view.toPlainText()
    assert "Fruits answer 0.1" in window.columns[1].view.toPlainText()
    assert "Reopened “Fruits”" in window.notice.text()

    # Export the middle row while the last one is selected: it says where and how much.
    target = tmp_path / "colours.json"
    titles = answer_save_dialog(window, target)
    right_click(qtbot, history, 1, "Export as JSON…")
    assert titles == ["Export the comparison"]
    assert history.currentRow() == 1
    data = json.loads(target.read_text(encoding="utf-8"))
    # The stored rows' keys, in the table's order.
    assert list(data["comparison"]) == ["id", "created", "title", "kind", "models", "tag"]
    assert list(data["answers"][0]) == [
        "id",
        "comparison_id",
        "round",
        "slot",
        "model",
        "prompt",
        "content",
        "status",
        "error",
        "usage",
        "created",
        "parts",
        "prompt_parts",
    ]
    assert data["answers"][0]["parts"] == []  # text alone: no parts beside it
    assert data["comparison"]["title"] == "Colours"
    assert [a["content"] for a in data["answers"]][-1] == "Colours answer 1.1"
    assert window.notice.text() == (f"Exported “Colours” (2 prompt(s), 4 answers) to {target}.")
    # What was open stays open: exporting is not opening.
    assert "Name a fruit." in window.columns[0].view.toPlainText()

    # Empty space under the rows: no menu, and the selection stays.
    assert right_click(qtbot, history, None, "Open") is None
    assert history.currentRow() == 1
    window.close()


def test_no_lora_buttons_until_this_machine_has_an_adapter(window: CompareWindow) -> None:
    # As in the main window: a LoRA button shows once there is an adapter to pick.
    assert window.lora.buttons and not any(b.isVisible() for b in window.lora.buttons)
    assert all(p.isVisible() for p in window.pickers[:2])


def test_a_local_column_loads_its_model_as_the_app_does(
    chat: ChatService, window: CompareWindow, qtbot: QtBot, smollm_path: str
) -> None:
    # The user's load settings for the file (Model → Load settings for this model…): the
    # column's engine loads with them, as the main window would, not with the defaults.
    ModelSettings(chat.settings).save(smollm_path, {"n_ctx": 1024})
    choose_compare_models(window, SMOL, GPT)
    send(window, qtbot, "Name a colour.")
    assert window.session is not None
    local = next(r for r in window.session.results[0] if r is not None and r.local)
    assert local.n_ctx == 1024  # what the engine reports it loaded, not 4096
    assert local.answer.status.value == "complete"
