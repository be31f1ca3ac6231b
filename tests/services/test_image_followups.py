"""Pictures in a chat's later life, through the real ChatService: the history consent counts the
pictures that go with the earlier messages (the real OpenAI SDK against our loopback server), and
a question that came back because the chat outgrew SmolLM2's context is sent again with its
pictures after the oldest turns are dropped or summarised (the real engine, a tiny projector)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Image, Text
from desktop.services.chat import ChatService, HistoryConsentRequired
from desktop.services.cloud import CloudService
from desktop.services.engine_host import EngineHost
from desktop.services.images import ImageService
from desktop.storage.images import ImageStore
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer

KEY = "sk-test-image-followups-7c1d"
TIMEOUT_MS = 60_000
LOCAL = "local:smollm2-135m-instruct"


def a_picture(folder: Path, name: str = "red-square.png", size: int = 64) -> Path:
    path = folder / name
    PILImage.new("RGB", (size, size), (220, 20, 20)).save(path)
    return path


# -- the history consent names the pictures -----------------------------------------------------


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        cloud.state.models.append("gpt-3.5-turbo")  # a model that takes no pictures
        yield cloud


@pytest.fixture
def cloud_chat(
    home: AppPaths, qtbot: QtBot, server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ChatService, ImageService]]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    store = ChatStore(home.database)
    settings = Settings(home.settings)
    cloud = CloudService(store, settings, home.pricing)
    cloud.timeout_s = 2.0
    cloud.set_base_url("openai", server.base_url + "/v1")
    service = ChatService(
        store, settings, home.models, EngineHost(), cloud=cloud, image_root=home.images
    )
    service.sampling = SamplingParams(temperature=0.0, max_tokens=100)
    with qtbot.waitSignal(cloud.checked, timeout=TIMEOUT_MS) as checked:
        cloud.set_enabled("openai", True)
    assert checked.args is not None and checked.args[2], checked.args
    cloud.grant_consent("openai")
    yield service, ImageService(ImageStore(home.images), store)
    service.shutdown()
    store.close()


def local_chat_with_pictures(chat: ChatService, pictures: list[Image]) -> int:
    """A chat answered on this computer: a question with two pictures, its answer, then a
    question with one picture and its answer (3 pictures in 4 messages)."""
    store = chat.store
    conv = store.create_conversation(model=LOCAL)
    parent = None
    for text, shown in (("What are these?", pictures[:2]), ("And this one?", pictures[2:])):
        question = store.add_message(
            conv.id, Role.USER, text, parent_id=parent, parts=(*shown, Text(text))
        )
        answer = store.add_message(
            conv.id,
            Role.ASSISTANT,
            "Red squares.",
            model=LOCAL,
            status=MessageStatus.COMPLETE,
            parent_id=question.id,
        )
        parent = answer.id
    return conv.id


def test_the_history_consent_says_how_many_pictures_go_too(
    cloud_chat: tuple[ChatService, ImageService], server: CloudServer, tmp_path: Path
) -> None:
    chat, images = cloud_chat
    pictures = [images.store_file(a_picture(tmp_path, f"square-{i}.png")) for i in range(3)]
    conv = local_chat_with_pictures(chat, pictures)
    chat.select_model("openai:gpt-4o", conv)
    before = server.connections
    with pytest.raises(HistoryConsentRequired) as asked:
        chat.send(conv, "Which is the reddest?")
    assert asked.value.share.pictures == 3
    port = server.base_url.rsplit(":", 1)[1]
    assert str(asked.value) == (
        "4 earlier messages and 3 pictures, answered on this computer, will be sent to gpt-4o "
        f"at 127.0.0.1:{port} (OpenAI) with your message."
    )
    assert chat.unshared_history(conv) == asked.value.share  # what the window's dialog shows
    assert server.connections == before  # nothing left yet

    # A model that takes no pictures is sent the words only: the sentence says no pictures.
    chat.select_model("openai:gpt-3.5-turbo", conv)
    share = chat.unshared_history(conv)
    assert share is not None and share.pictures == 0
    assert share.describe().startswith("4 earlier messages, answered on this computer,")

    # One picture: said in the singular. Only what has not gone there yet counts.
    chat.select_model("openai:gpt-4o", conv)
    first_answer = chat.store.messages(conv)[1].id
    share = chat.unshared_history(conv, after=first_answer)
    assert share is not None and (share.count, share.pictures) == (2, 2)
    chat.store.add_message(conv, Role.USER, "Only one?", parts=(pictures[0], Text("Only one?")))
    chat.store.add_message(
        conv, Role.ASSISTANT, "Yes.", model="openai:gpt-4o", status=MessageStatus.COMPLETE
    )
    chat.store.add_message(conv, Role.USER, "This?", parts=(pictures[1], Text("This?")))
    chat.store.add_message(conv, Role.ASSISTANT, "Red.", model=LOCAL, status=MessageStatus.COMPLETE)
    share = chat.unshared_history(conv)
    assert share is not None and (share.count, share.pictures) == (2, 1)
    assert share.describe().startswith("2 earlier messages and 1 picture, answered on this")
