"""The privacy dialog on a real history file: a request that carried pictures says how many
and how large beside its bytes, and in the summary; one without shows its bytes alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.backends.network import Outbound
from desktop.services.cloud import CloudService
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from desktop.ui.privacy_dialog import COLUMNS, PrivacyDialog


@pytest.fixture
def cloud(home: AppPaths) -> Iterator[CloudService]:
    store = ChatStore(home.database)
    yield CloudService(store, Settings(home.settings), home.pricing)
    store.close()


def test_requests_with_pictures_say_so(cloud: CloudService, qtbot: QtBot) -> None:
    dialog = PrivacyDialog(cloud)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(cloud.recorded):
        cloud.network.sent(Outbound("openai", "api.openai.com", "chat", "gpt-4o", None, 1_234))
    with qtbot.waitSignal(cloud.recorded):
        cloud.network.sent(
            Outbound(
                "anthropic",
                "api.anthropic.com",
                "chat",
                "claude-x",
                None,
                460_000,
                images=2,
                image_bytes=340_000,
            )
        )
    bytes_column = COLUMNS.index("Bytes sent")
    cells = [dialog.table.item(row, bytes_column) for row in range(2)]
    newest, oldest = (cell.text() if cell is not None else None for cell in cells)
    assert (newest, oldest) == ("460,000 (2 images, 340 KB)", "1,234")
    assert "2 images, 340 KB of pictures among them" in dialog.summary.text()
