"""Pictures in requests to the local server, sent by the official openai SDK as base64 data URLs
(as editors and agents send a screenshot): answered by the real engine child on SmolLM2 with a
random-weight Llama 4 projector (tests/vision_models.py), counted in the prompt, kept once by
their hash; and refused with OpenAI-shaped 400s where they cannot be seen: a model without a
projector, a web address (the server fetches nothing), a damaged picture."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from PIL import Image

from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import bundled_model
from desktop.backends.openai_server import BackgroundServer, OpenAIServer
from desktop.backends.served_engine import ServedEngine, ServedLog
from desktop.backends.served_images import ServedImages
from desktop.core.models import LocalModel
from desktop.core.params import LoadParams, SamplingParams
from tests.vision_models import write_llama4_projector

SMOL_N_EMBD = 576


@dataclasses.dataclass
class Served:
    client: openai.OpenAI
    folder: Path
    seeing: LocalModel
    blind: LocalModel


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, extra_bufts: bool) -> Iterator[Served]:
    smol = bundled_model()
    assert smol is not None
    folder = tmp_path_factory.mktemp("served-pictures")
    projector = write_llama4_projector(folder / "mmproj-smol.gguf", SMOL_N_EMBD)
    seeing = dataclasses.replace(smol, id="local:smol-sees", mmproj=str(projector))
    blind = dataclasses.replace(smol, id="local:smol-blind", mmproj="")
    engine = ServedEngine(
        SyncEngine(),
        lambda: [seeing, blind],
        LoadParams(n_ctx=2048, n_threads=2, extra_bufts=extra_bufts),
        SamplingParams(max_tokens=8, temperature=0.0),
    )
    images = folder / "served-images"
    app = OpenAIServer(engine, ServedLog(folder / "log.jsonl"), images=ServedImages(images)).app
    server = BackgroundServer(app, port=0)
    server.start()
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
    try:
        yield Served(client, images, seeing, blind)
    finally:
        client.close()
        server.stop()
        engine.close()


def data_url(size: tuple[int, int] = (64, 64), seed: int = 1, kind: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.effect_noise(size, 40 + seed).convert("RGB").save(buffer, kind)
    media = "png" if kind == "PNG" else kind.lower()
    return f"data:image/{media};base64," + base64.b64encode(buffer.getvalue()).decode()


def asking(url: str, text: str = "What is in this picture?") -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_a_picture_is_answered_and_counted_in_the_prompt(served: Served) -> None:
    text_only = served.client.chat.completions.create(
        model=served.seeing.id, messages=[{"role": "user", "content": "What is in this picture?"}]
    )
    url = data_url()
    seen = served.client.chat.completions.create(model=served.seeing.id, messages=asking(url))
    assert seen.choices[0].message.content
    assert text_only.usage is not None and seen.usage is not None
    # The picture's tokens are in the prompt (a 64 px tile is many more than its words).
    assert seen.usage.prompt_tokens > text_only.usage.prompt_tokens + 10
    [kept] = list(served.folder.iterdir())
    assert kept.suffix == ".png" and kept.read_bytes() == base64.b64decode(url.split(",", 1)[1])
    # The same picture again (a follow-up re-sends it) is kept once; an opaque WebP is made
    # JPEG, as an attachment is.
    again = served.client.chat.completions.create(
        model=served.seeing.id, messages=asking(url, "And now?"), stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in again if c.choices)
    served.client.chat.completions.create(
        model=served.seeing.id, messages=asking(data_url(seed=2, kind="WEBP"))
    )
    assert sorted(f.suffix for f in served.folder.iterdir()) == [".jpg", ".png"]


def _refusal(served: Served, model: str, messages: list[Any]) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        served.client.chat.completions.create(model=model, messages=messages)
    body = caught.value.body
    assert isinstance(body, dict)
    return body


def test_pictures_that_cannot_be_seen_are_refused_with_a_400_that_says_why(
    served: Served,
) -> None:
    blind = _refusal(served, served.blind.id, asking(data_url()))
    assert "cannot see images" in blind["message"] and blind["param"] == "messages"
    web = _refusal(served, served.seeing.id, asking("https://example.com/cat.png"))
    assert "fetches nothing from the internet" in web["message"]
    broken = "data:image/png;base64," + base64.b64encode(b"\x89PNG not really").decode()
    damaged = _refusal(served, served.seeing.id, asking(broken))
    assert damaged["message"].startswith("messages[0]:")
    not_base64 = _refusal(served, served.seeing.id, asking("data:image/png,rawbytes"))
    assert "must be base64" in not_base64["message"]
    from_assistant = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": data_url()}}]},
    ]
    assert (
        "only the user's messages" in _refusal(served, served.seeing.id, from_assistant)["message"]
    )
