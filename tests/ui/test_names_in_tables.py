"""Names, not ids, in every table (issue 22): the leaderboard names a local and a cloud model
as the chat does (the id in a tooltip) and its chart has a labelled rating axis; a batch cell
shows an answer's Markdown as plain text, and Enter on it opens the whole answer rendered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import SamplingParams
from desktop.services.chat import ChatService
from desktop.services.cloud import CloudService
from desktop.services.comparisons import Comparisons
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.batch_dialog import BatchDialog
from desktop.ui.leaderboard_dialog import LeaderboardDialog
from desktop.ui.main_window import MainWindow
from tests.cloudserver import CloudServer

SMOL = "local:smollm2-135m-instruct"
FAKEBOX = "fakebox:gpt-4o-mini"
GPT = "openai:gpt-4o"
CLAUDE = "anthropic:claude-sonnet-4-20250514"
TIMEOUT_MS = 60_000
#: A cloud answer in Markdown, longer than a cell shows.
ANSWER = [
    "**Paris** is the *capital* of [France](https://example.org/fr).\n\n",
    "It has been since the Middle Ages, through kings, empires and five republics, ",
    "and it is also the largest city of the country by far.\n\n",
    "```python\nprint('Bonjour')\n```\n",
]


def open_leaderboard(window: MainWindow, qtbot: QtBot) -> LeaderboardDialog:
    """Votes between the bundled local model and a cloud model no longer listed, then View →
    Leaderboard, as the user opens it."""
    for winner in ("a", "a", "b"):
        window.dialogs.comparisons.add_vote(model_a=SMOL, model_b=FAKEBOX, winner=winner)
    window.leaderboard_action.trigger()
    board = window.leaderboard_dialog
    assert board is not None
    qtbot.waitExposed(board)
    return board


def test_the_leaderboard_names_models_as_the_chat_does(window: MainWindow, qtbot: QtBot) -> None:
    smol_name = window.chat.model_name(SMOL)
    assert smol_name != SMOL and "SmolLM2" in smol_name  # the bundled model, as the chat names it
    board = open_leaderboard(window, qtbot)
    table = board.table
    items = [table.item(row, 1) for row in range(table.rowCount())]
    shown = {item.text(): item.toolTip() for item in items if item is not None}
    assert shown == {smol_name: SMOL, "gpt-4o-mini · fakebox": FAKEBOX}
    assert not any("local:" in name or "fakebox:" in name for name in shown)
    assert smol_name in board.chart.accessibleDescription()  # the chart's rows too
    board.close()


def test_the_rating_chart_has_a_labelled_value_axis(window: MainWindow, qtbot: QtBot) -> None:
    board = open_leaderboard(window, qtbot)
    # The chart: names at its rows, and under them a value axis with its title and round ticks.
    chart = board.chart
    assert "Rating" in chart.axis_title
    assert chart.accessibleDescription().startswith(chart.axis_title)
    image = chart.grab().toImage()
    assert chart.ticks and all(t % 5 == 0 for t in chart.ticks)
    ratings = [r.rating for r in board.ratings]
    assert min(chart.ticks) <= max(ratings) and max(chart.ticks) >= min(ratings)
    # Something is drawn below the last row (the axis line, tick labels and title).
    background = QColor(image.pixel(2, image.height() - 2))
    below_rows = [
        QColor(image.pixel(x, y))
        for y in range(20 + 26 * 2, image.height())
        for x in range(270, image.width() - 20, 3)
    ]
    assert any(c != background for c in below_rows)
    board.close()


@pytest.fixture
def chat(home: AppPaths, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatService]:
    """The chat service with OpenAI and Anthropic on our loopback server, answering Markdown."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-names-in-tables")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-names-in-tables")
    with CloudServer() as server:
        server.state.models = ["gpt-4o", "claude-sonnet-4-20250514"]
        server.state.reply = list(ANSWER)
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


def test_a_batch_cell_shows_plain_text_and_enter_opens_the_whole_answer(
    chat: ChatService, qtbot: QtBot, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is the capital of France?\n")
    models: list[LocalModel | CloudModel] = [
        next(m for m in chat.cloud_models if m.id == i) for i in (GPT, CLAUDE)
    ]
    dialog = BatchDialog(chat, Comparisons(chat.store), models)  # as Batch… opens it
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.file_edit, str(prompts))
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None
    with qtbot.waitSignal(dialog.session.batch_finished, timeout=TIMEOUT_MS):
        pass
    item = dialog.results.item(0, 0)
    assert item is not None
    text = item.text()
    assert text.startswith("Paris is the capital of France. It has been since")
    assert not any(mark in text for mark in ("**", "*capital*", "```", "](", "https://"))
    assert text.endswith("…") and len(text) <= 160  # cut, as one or two lines
    # The summary names the models as the chat does, the ids in tooltips.
    first = dialog.summary.item(0, 0)
    assert first is not None and first.text() == chat.model_name(GPT) and first.toolTip() == GPT

    # The keyboard: focus the table, move to the first answer, Enter opens it whole, rendered.
    dialog.results.setFocus()
    dialog.results.setCurrentCell(0, 0)
    qtbot.keyClick(dialog.results, Qt.Key.Key_Return)
    shown = dialog.answer_dialog
    assert shown is not None and shown.isVisible()
    assert dialog.session is not None and len(dialog.session.batch_rows) == 1  # no second run
    whole = shown.browser.toPlainText()
    assert "Paris is the capital of France." in whole
    assert "the largest city of the country by far." in whole and "print('Bonjour')" in whole
    assert "**" not in whole and "```" not in whole
    assert "What is the capital of France?" in shown.prompt_label.text()
    assert chat.model_name(GPT) in shown.windowTitle()
    qtbot.keyClick(shown.browser, Qt.Key.Key_Escape)
    assert not shown.isVisible()

    # A double-click on the other model's answer opens that one.
    second = dialog.results.item(0, 1)
    assert second is not None
    rect = dialog.results.visualItemRect(second)
    # A press first, as a mouse sends it: the view opens only what was pressed.
    qtbot.mouseClick(dialog.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(dialog.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    other = dialog.answer_dialog
    assert other is not None and other is not shown and other.isVisible()
    assert chat.model_name(CLAUDE) in other.windowTitle()
    dialog.close()
