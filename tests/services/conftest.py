"""A real ChatService: real store, real settings file, real engine child."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.services.chat import ChatService
from desktop.services.engine_host import EngineHost
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


@pytest.fixture
def chat(home: AppPaths, qtbot: QtBot) -> Iterator[ChatService]:
    store = ChatStore(home.database)
    service = ChatService(store, Settings(home.settings), home.models, EngineHost())
    service.sampling = service.sampling.__class__(temperature=0.0, max_tokens=24)
    yield service
    service.shutdown()
    store.close()
