"""The engine child sees, with real llama.cpp: SmolLM2 loaded with a random-weight Llama 4
vision projector (tests/vision_models.py) answers a question about a picture, reuses a picture
already in its context, stops while pictures are encoded, and refuses what it cannot take with a
sentence: a projector made for another model, a picture for a model without one, a damaged file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from desktop.backends.engine_client import SyncEngine
from desktop.core.errors import LlamasideError, ModelLoadError
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.usage import StopReason
from tests.vision_models import tile_tokens, write_llama4_projector

SMOL_N_EMBD = 576
GREEDY = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=8)


def picture(path: Path, size: tuple[int, int] = (64, 64), seed: int = 1) -> Path:
    Image.effect_noise(size, 40 + seed).convert("RGB").save(path)
    return path


def asking(*images: Path, text: str = "What is in this picture?") -> list[dict[str, Any]]:
    items = [
        {"type": "image", "path": str(p), "media_type": "image/png", "name": p.name} for p in images
    ]
    return [{"role": "user", "content": [*items, {"type": "text", "text": text}]}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vision")


@pytest.fixture(scope="module")
def seeing(smollm_path: str, folder: Path) -> Iterator[SyncEngine]:
    projector = write_llama4_projector(folder / "mmproj-smol.gguf", SMOL_N_EMBD)
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=4096, mmproj=str(projector)))
        yield eng


def test_a_picture_is_answered_and_counted_in_the_prompt(seeing: SyncEngine, folder: Path) -> None:
    assert seeing.model["mmproj"].endswith("mmproj-smol.gguf")
    text_only = [{"role": "user", "content": "What is in this picture?"}]
    "".join(seeing.stream(text_only, GREEDY))
    without = seeing.last.usage.prompt_tokens
    answer = "".join(seeing.stream(asking(picture(folder / "a.png")), GREEDY))
    usage = seeing.last.usage
    assert answer and usage.output_tokens > 0
    assert usage.stop_reason in (StopReason.STOP, StopReason.LENGTH)
    # The picture's tokens (one 64 px tile) are in the prompt, with a marker's worth of text.
    assert usage.prompt_tokens >= without + tile_tokens()


def test_a_picture_already_in_the_context_is_not_encoded_again(
    seeing: SyncEngine, folder: Path
) -> None:
    one = picture(folder / "b.png", seed=2)
    "".join(seeing.stream(asking(one), GREEDY))
    first = seeing.last.usage
    assert first.prompt_tokens_evaluated > tile_tokens()
    "".join(seeing.stream(asking(one), GREEDY))
    again = seeing.last.usage
    assert again.prompt_tokens == first.prompt_tokens
    assert again.prompt_tokens_evaluated <= 1
    # Another picture in the same place is evaluated from that place on.
    "".join(seeing.stream(asking(picture(folder / "c.png", seed=3)), GREEDY))
    assert seeing.last.usage.prompt_tokens_evaluated >= tile_tokens()


def test_two_pictures_in_one_message(seeing: SyncEngine, folder: Path) -> None:
    a, b = picture(folder / "d.png", seed=4), picture(folder / "e.png", seed=5)
    "".join(seeing.stream(asking(a, b), GREEDY))
    assert seeing.last.usage.prompt_tokens >= 2 * tile_tokens()


def test_stop_while_pictures_are_encoded(smollm_path: str, folder: Path) -> None:
    """Ten 336 px tiles of a large picture take seconds here; Stop ends the answer between
    two of them, and the engine answers normally afterwards."""
    projector = write_llama4_projector(
        folder / "mmproj-slow.gguf",
        SMOL_N_EMBD,
        image_size=336,
        patch_size=14,
        n_layer=4,
        n_embd=256,
        n_head=4,
        n_ff=1024,
        n_proj=256,
    )
    big = picture(folder / "big.png", (1344, 1344), seed=6)
    with SyncEngine() as eng:
        eng.load(smollm_path, LoadParams(n_ctx=8192, mmproj=str(projector)))
        asked: list[float] = []

        def stop_soon() -> None:
            time.sleep(0.3)
            asked.append(time.perf_counter())
            eng.cancel_current()

        stopper = threading.Thread(target=stop_soon)
        started = time.perf_counter()
        stopper.start()
        "".join(eng.stream(asking(big), GREEDY))
        ended = time.perf_counter()
        stopper.join()
        usage = eng.last.usage
        assert usage.stop_reason == StopReason.CANCELLED
        assert usage.output_tokens == 0
        # Not the whole picture first: its ten tiles and 1,400 tokens take far longer.
        assert ended - asked[0] < 1.5, f"stop took {ended - asked[0]:.2f}s"
        assert ended - started < 3
        "".join(eng.stream([{"role": "user", "content": "Hi"}], GREEDY))
        assert eng.last.usage.stop_reason in (StopReason.STOP, StopReason.LENGTH)


def test_a_projector_for_another_model_is_refused_with_its_reason(
    smollm_path: str, folder: Path
) -> None:
    other = write_llama4_projector(folder / "mmproj-other.gguf", 64)
    with SyncEngine() as eng, pytest.raises(ModelLoadError) as refused:
        eng.load(smollm_path, LoadParams(n_ctx=2048, mmproj=str(other)))
    message = str(refused.value)
    assert "mmproj-other.gguf" in message
    assert "made for another model" in message
    assert "64" in message and "576" in message


def test_a_model_without_a_projector_says_it_cannot_see(engine: SyncEngine, folder: Path) -> None:
    with pytest.raises(LlamasideError, match="cannot see images"):
        "".join(engine.stream(asking(picture(folder / "f.png", seed=7)), GREEDY))
    # The engine goes on answering text.
    "".join(engine.stream([{"role": "user", "content": "Hi"}], GREEDY))
    assert engine.last.text


def test_a_damaged_picture_is_refused_and_the_engine_goes_on(
    seeing: SyncEngine, folder: Path
) -> None:
    broken = folder / "broken.png"
    broken.write_bytes(picture(folder / "g.png", seed=8).read_bytes()[:60])
    with pytest.raises(LlamasideError, match=r"could not decode the picture broken\.png"):
        "".join(seeing.stream(asking(broken), GREEDY))
    "".join(seeing.stream(asking(picture(folder / "h.png", seed=9)), GREEDY))
    assert seeing.last.usage.output_tokens > 0
