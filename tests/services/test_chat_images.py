"""A question with a picture through the real ChatService and engine child: the bundled SmolLM2
given a Llama 4 projector (random weights) answers it, the question is saved with its picture,
and a model that cannot see refuses before anything is saved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pytestqt.qtbot import QtBot

from desktop.core.messages import MessageStatus, Role
from desktop.core.parts import Image as ImagePart
from desktop.core.parts import Text
from desktop.services.chat import ChatService
from desktop.services.chat_images import CannotSeeImages, vision_note
from desktop.services.engine_host import EngineHost
from desktop.services.images import ImageService
from desktop.storage.images import ImageStore
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore
from tests.vision_models import write_llama4_projector

TIMEOUT_MS = 60_000


@pytest.fixture
def seeing_chat(
    home: AppPaths, qtbot: QtBot, smollm_path: str, tmp_path: Path
) -> Iterator[tuple[ChatService, ImageService]]:
    store = ChatStore(home.database)
    projector = write_llama4_projector(tmp_path / "mmproj-smol.gguf", 576)
    store.set_model_projector(smollm_path, str(projector))
    images = ImageService(ImageStore(home.images), store)
    service = ChatService(
        store, Settings(home.settings), home.models, EngineHost(), image_root=home.images
    )
    service.sampling = service.sampling.__class__(temperature=0.0, max_tokens=12)
    yield service, images
    service.shutdown()
    store.close()


def a_picture(tmp_path: Path) -> Path:
    path = tmp_path / "red-square.png"
    Image.new("RGB", (64, 64), (220, 20, 20)).save(path)
    return path


def test_a_question_with_a_picture_is_saved_with_it_and_answered(
    seeing_chat: tuple[ChatService, ImageService], qtbot: QtBot, tmp_path: Path
) -> None:
    chat, images = seeing_chat
    model = chat.default_model
    assert model is not None and model.mmproj.endswith("mmproj-smol.gguf")
    assert vision_note(model) == ""
    picture = images.store_file(a_picture(tmp_path))
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        assert chat.send(conv.id, "", images=[picture])
    assert finished.args is not None and finished.args[2] == "complete"
    question, answer = chat.store.messages(conv.id)
    assert question.role == Role.USER
    assert question.parts == (picture, Text(""))
    assert images.path_of(picture).is_file()
    assert answer.status == MessageStatus.COMPLETE and answer.content
    usage = answer.usage or {}
    # The picture's 16 tokens (one 64 px tile) went into the prompt.
    assert usage["prompt_tokens"] > 16
    assert chat.store.get_conversation(conv.id).title == "red-square.png"


def test_a_model_that_cannot_see_refuses_before_anything_is_saved(
    home: AppPaths, qtbot: QtBot, tmp_path: Path
) -> None:
    store = ChatStore(home.database)
    images = ImageService(ImageStore(home.images), store)
    chat = ChatService(store, Settings(home.settings), home.models, EngineHost())
    try:
        picture: ImagePart = images.store_file(a_picture(tmp_path))
        note = vision_note(chat.default_model)
        assert "cannot see images" in note and "SmolLM2" in note
        conv = store.create_conversation()
        with pytest.raises(CannotSeeImages, match="cannot see images"):
            chat.send(conv.id, "What is this?", images=[picture])
        assert store.messages(conv.id) == []
        assert not chat.busy
    finally:
        chat.shutdown()
        store.close()
