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
from desktop.core.params import LoadParams, SamplingParams
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
from tests.vision_models import write_llama4_projector

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


# -- a question that outgrew the context goes again with its pictures ---------------------------


@pytest.fixture
def seeing_chat(
    home: AppPaths, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> Iterator[tuple[ChatService, ImageService]]:
    """SmolLM2 with a tiny projector (it can see), in a 256-token context."""
    store = ChatStore(home.database)
    projector = write_llama4_projector(tmp_path / "mmproj-smol.gguf", 576)
    store.set_model_projector(smollm_path, str(projector))
    service = ChatService(
        store, Settings(home.settings), home.models, EngineHost(), image_root=home.images
    )
    service.load_params = LoadParams(n_ctx=256, n_threads=2)
    service.sampling = SamplingParams(temperature=0.0, max_tokens=12)
    yield service, ImageService(ImageStore(home.images), store)
    service.shutdown()
    store.close()


def long_chat(chat: ChatService) -> int:
    conv = chat.store.create_conversation("Long one")
    for i in range(8):
        chat.store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        chat.store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model=LOCAL
        )
    return conv.id


def outgrow_with(
    chat: ChatService, qtbot: QtBot, conv: int, picture: Image
) -> tuple[int, int, int, tuple[Image, ...]]:
    """Send a question with a picture to the outgrown chat: it comes back with the picture."""
    with qtbot.waitSignal(chat.outgrown, timeout=TIMEOUT_MS) as outgrown:
        assert chat.send(conv, "And this one?", images=[picture])
    assert outgrown.args is not None
    conversation, text, n_tokens, limit, after, images = outgrown.args
    assert (conversation, text) == (conv, "And this one?")
    assert images == (picture,)
    assert len(chat.store.messages(conv)) == 16  # taken back: nothing was sent
    return n_tokens, limit, after, images


def sent_again(chat: ChatService, qtbot: QtBot, conv: int, images: tuple[Image, ...]) -> None:
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv, "And this one?", images=images)
    assert finished.args is not None and finished.args[2] == "complete"
    question, answer = chat.store.messages(conv)[-2:]
    assert question.parts == (*images, Text("And this one?"))
    assert (answer.usage or {}).get("prompt_tokens", 0) > 16  # the picture's tokens went in


def test_a_question_resent_after_dropping_the_oldest_turns_keeps_its_picture(
    seeing_chat: tuple[ChatService, ImageService], qtbot: QtBot, tmp_path: Path
) -> None:
    chat, store = seeing_chat
    picture = store.store_file(a_picture(tmp_path))
    conv = long_chat(chat)
    n_tokens, limit, _after, images = outgrow_with(chat, qtbot, conv, picture)
    assert chat.drop_oldest(conv, n_tokens, limit, "And this one?") > 0
    sent_again(chat, qtbot, conv, images)


def test_a_question_resent_after_the_summary_keeps_its_picture(
    seeing_chat: tuple[ChatService, ImageService], qtbot: QtBot, tmp_path: Path
) -> None:
    chat, store = seeing_chat
    picture = store.store_file(a_picture(tmp_path))
    conv = long_chat(chat)
    n_tokens, limit, after, images = outgrow_with(chat, qtbot, conv, picture)
    with qtbot.waitSignal(chat.summarised, timeout=TIMEOUT_MS) as done:
        assert chat.summarise_oldest(conv, n_tokens, limit, "And this one?", after, images=images)
    assert done.args == [conv, "And this one?", after, (picture,)]
    assert chat.store.get_conversation(conv).context_summary.strip()
    sent_again(chat, qtbot, conv, done.args[3])
