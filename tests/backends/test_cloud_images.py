"""Pictures sent to cloud models through the real openai and anthropic SDKs against servers of
ours on 127.0.0.1: each API's image blocks before the question's text, the bytes intact (or
scaled within the API's limit, and still a picture), the privacy record's count of them, and a
picture that cannot be read failing the answer with a sentence, before anything is sent."""

from __future__ import annotations

import argparse
import base64
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from desktop.backends.cloud import AnthropicProvider, OpenAIProvider, Provider
from desktop.backends.network import Network, Outbound
from desktop.cli.cloud import cmd_privacy
from desktop.core.answer import Answer, Prompt, PromptMessage
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import SamplingParams
from desktop.core.parts import Image, Part, Text, ToolCall, ToolResult
from desktop.core.tools import ToolSpec
from desktop.core.vision import ANTHROPIC_LIMIT, COMPATIBLE_LIMIT, OPENAI_LIMIT, UploadLimit
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cloudserver import CloudServer

KEY = "sk-test-0123456789abcdef"
PARAMS = SamplingParams(temperature=0.5, max_tokens=100)


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


OPEN: list[Provider] = []


@pytest.fixture(autouse=True)
def _close_providers() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def openai(server: CloudServer, network: Network | None = None) -> Provider:
    provider = OpenAIProvider("openai", server.base_url + "/v1", KEY, network=network)
    OPEN.append(provider)
    return provider


def compatible(server: CloudServer, network: Network | None = None) -> Provider:
    """An OpenAI-compatible host (Together, Groq, Fireworks serve Llama 4, which sees)."""
    provider = OpenAIProvider(
        "together", server.base_url + "/v1", KEY, label="Together", network=network
    )
    OPEN.append(provider)
    return provider


def anthropic(server: CloudServer, network: Network | None = None) -> Provider:
    provider = AnthropicProvider("anthropic", server.base_url, KEY, network=network)
    OPEN.append(provider)
    return provider


Make = Callable[..., Provider]
ALL_KINDS = [openai, compatible, anthropic]
LIMITS = {openai: OPENAI_LIMIT, compatible: COMPATIBLE_LIMIT, anthropic: ANTHROPIC_LIMIT}


def picture(folder: Path, name: str, size: tuple[int, int], kind: str = "PNG") -> Image:
    """A picture file in ``folder`` (a pattern, so that scaling has something to keep) and its
    part, named as the store names it (relative to the prompt's image root)."""
    width, height = size
    image = PILImage.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 30, 30), (width // 4, height // 4, width // 2, height // 2))
    suffix = ".png" if kind == "PNG" else ".jpg"
    path = folder / f"{name}{suffix}"
    image.save(path, kind)
    media_type = "image/png" if kind == "PNG" else "image/jpeg"
    return Image(media_type, path.name, alt=f"{name}{suffix}", width=width, height=height)


def question(*images: Image, text: str = "What is in these?") -> PromptMessage:
    return PromptMessage(Role.USER, (*images, Text(text)))


def ask(provider: Provider, root: Path, *messages: PromptMessage, **extra: Any) -> Answer:
    prompt = Prompt(messages, PARAMS, "Be brief.", image_root=str(root), **extra)
    answer = Answer()
    for event in provider.events(prompt, "model-x"):
        answer.add(event)
    return answer


def last_user_content(server: CloudServer) -> list[dict[str, Any]]:
    """The content blocks of the last user message the SDK sent."""
    body = server.state.bodies()[-1]
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    assert isinstance(content, list)
    return content


def sent_pictures(content: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """Each picture block's media type and bytes, in order, in either API's shape."""
    found: list[tuple[str, bytes]] = []
    for block in content:
        if block["type"] == "image_url":
            head, data = block["image_url"]["url"].split(",", 1)
            assert head.startswith("data:") and head.endswith(";base64")
            found.append((head.removeprefix("data:").removesuffix(";base64"), b64(data)))
        elif block["type"] == "image":
            assert set(block) == {"type", "source"}  # no path or name of ours goes along
            source = block["source"]
            assert source["type"] == "base64"
            found.append((source["media_type"], b64(source["data"])))
    return found


def b64(data: str) -> bytes:
    return base64.b64decode(data, validate=True)


def kinds(content: list[dict[str, Any]]) -> list[str]:
    return [block["type"] for block in content]


# -- the pictures arrive -----------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_picture_arrives_intact_before_the_text(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    cat = picture(tmp_path, "cat", (64, 48))
    answer = ask(make(server), tmp_path, question(cat, text="What is this?"))
    assert answer.status == MessageStatus.COMPLETE and answer.text == "Hello from the cloud."
    content = last_user_content(server)
    image_kind = "image" if make is anthropic else "image_url"
    assert kinds(content) == [image_kind, "text"]
    assert content[-1]["text"] == "What is this?"
    assert sent_pictures(content) == [("image/png", (tmp_path / "cat.png").read_bytes())]


@pytest.mark.parametrize("make", ALL_KINDS)
def test_two_pictures_keep_their_order(server: CloudServer, make: Make, tmp_path: Path) -> None:
    first = picture(tmp_path, "first", (40, 30))
    second = picture(tmp_path, "second", (30, 40), kind="JPEG")
    ask(make(server), tmp_path, question(first, second))
    content = last_user_content(server)
    assert kinds(content)[-1] == "text" and len(content) == 3
    assert sent_pictures(content) == [
        ("image/png", (tmp_path / "first.png").read_bytes()),
        ("image/jpeg", (tmp_path / "second.jpg").read_bytes()),
    ]


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_large_picture_is_scaled_within_the_api_s_limit(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    photo = picture(tmp_path, "photo", (4000, 3000), kind="JPEG")
    ask(make(server), tmp_path, question(photo))
    [(media_type, data)] = sent_pictures(last_user_content(server))
    limit: UploadLimit = LIMITS[make]
    assert media_type == "image/jpeg" and len(data) <= limit.max_bytes
    with PILImage.open(io.BytesIO(data)) as sent:
        sent.load()  # still a whole picture
        width, height = sent.size
        assert sent.format == "JPEG"
    assert max(width, height) <= limit.max_side
    # images._fit rounds each side, which can overshoot the pixel limit by a row's worth.
    assert limit.max_pixels * 0.9 < width * height <= limit.max_pixels * 1.001
    assert abs(width / height - 4 / 3) < 0.01  # the same picture, not cropped or squashed


@pytest.mark.parametrize("make", ALL_KINDS)
def test_earlier_turns_send_their_pictures_again(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    cat = picture(tmp_path, "cat", (64, 48))
    reply = PromptMessage(Role.ASSISTANT, (Text("A cat."),))
    ask(make(server), tmp_path, question(cat), reply, question(text="Which colour?"))
    body = server.state.bodies()[-1]
    first, last = (m for m in body["messages"] if m["role"] == "user")
    assert sent_pictures(first["content"]) == [("image/png", (tmp_path / "cat.png").read_bytes())]
    assert last["content"] == "Which colour?"


def test_anthropic_puts_the_pictures_after_the_tool_results_of_the_turn_before(
    server: CloudServer, tmp_path: Path
) -> None:
    """An answer that ended on tool results, then a question with a picture: one user turn,
    the results first (the API requires it), then the picture, then the words."""
    call = ToolCall("call_1", "get_time", "{}")
    steps: tuple[Part, ...] = (call, ToolResult("call_1", "noon"))
    cat = picture(tmp_path, "cat", (64, 48))
    ask(
        anthropic(server),
        tmp_path,
        question(text="Time?"),
        PromptMessage(Role.ASSISTANT, steps),
        question(cat),
        tools=(ToolSpec("get_time", "The time now."),),
    )
    content = last_user_content(server)
    assert kinds(content) == ["tool_result", "image", "text"]
    assert content[0]["content"] == "noon" and content[-1]["text"] == "What is in these?"
    body = server.state.bodies()[-1]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


# -- the privacy record ------------------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_KINDS)
def test_the_privacy_record_counts_the_pictures_sent(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    record: list[Outbound] = []
    provider = make(server, Network(record=record.append))
    first = picture(tmp_path, "first", (40, 30))
    second = picture(tmp_path, "second", (4000, 3000), kind="JPEG")  # counted as scaled
    ask(provider, tmp_path, question(first, second))
    sizes = [len(data) for _kind, data in sent_pictures(last_user_content(server))]
    ask(provider, tmp_path, question(text="No pictures now."))
    with_pictures, without = record
    assert (with_pictures.purpose, with_pictures.images) == ("chat", 2)
    assert with_pictures.image_bytes == sum(sizes) < (tmp_path / "second.jpg").stat().st_size
    assert with_pictures.bytes_sent > with_pictures.image_bytes * 4 // 3  # base64 in the body
    assert (without.images, without.image_bytes) == (0, 0)


def test_the_stored_record_and_llamaside_privacy_show_the_pictures(home: AppPaths) -> None:
    store = ChatStore(home.database)
    try:
        where = ("openai", "api.openai.com", "chat")
        pictures = Outbound(*where, bytes_sent=460_000, images=2, image_bytes=340_000)
        store.record_outbound(pictures.to_dict())
        store.record_outbound(Outbound(*where, bytes_sent=1_200).to_dict())
        with_pictures, without = store.outbound()
    finally:
        store.close()
    assert (with_pictures.images, with_pictures.image_bytes) == (2, 340_000)
    assert with_pictures.images_note == "2 images, 340 KB"
    assert (without.images, without.image_bytes, without.images_note) == (0, 0, "")
    out = io.StringIO()
    args = argparse.Namespace(export=None, json=False)
    assert cmd_privacy(args, home, out) == 0
    shown, plain = out.getvalue().splitlines()
    assert shown.endswith("460,000 bytes (2 images, 340 KB)")
    assert plain.endswith("1,200 bytes")


# -- a picture that cannot be sent -------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_missing_picture_fails_the_answer_with_its_name(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    cat = picture(tmp_path, "cat", (64, 48))
    (tmp_path / "cat.png").unlink()
    record: list[Outbound] = []
    answer = ask(make(server, Network(record=record.append)), tmp_path, question(cat))
    assert answer.status == MessageStatus.FAILED and answer.error is not None
    assert answer.error.startswith("The picture cat.png could not be read")
    assert "nothing was sent to" in answer.error and "Traceback" not in answer.error
    assert server.state.bodies() == [] and record == []  # failed before anything left


@pytest.mark.parametrize("make", ALL_KINDS)
def test_a_damaged_picture_fails_the_answer_with_its_name(
    server: CloudServer, make: Make, tmp_path: Path
) -> None:
    cat = picture(tmp_path, "cat", (64, 48))
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture after all")
    answer = ask(make(server), tmp_path, question(cat))
    assert answer.status == MessageStatus.FAILED and answer.error is not None
    assert answer.error.startswith("cat.png ") and "Nothing was sent to" in answer.error
    assert server.state.bodies() == []
