"""A comparison round with pictures, with the real engine child: SmolLM2 with a vision projector
beside it answers, the same model without one is not asked and ends at once with the sentence
why; the round's pictures are kept and found by the sweep. A batch's prompts name pictures
(JSONL and CSV), each prompt sending its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image as PILImage
from pytestqt.qtbot import QtBot

from desktop.backends.images import prepare_file
from desktop.core.compare import parse_prompts
from desktop.core.models import LocalModel
from desktop.core.params import SamplingParams
from desktop.core.parts import Image
from desktop.services.compare import CompareSession
from desktop.storage.images import ImageStore
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.vision_models import write_llama4_projector

TIMEOUT_MS = 120_000
SAMPLING = SamplingParams(temperature=0.0, max_tokens=4)


def stored_picture(home: AppPaths, path: Path, colour: str = "red") -> Image:
    PILImage.new("RGB", (64, 64), colour).save(path)
    prepared = prepare_file(path)
    return ImageStore(home.images).put(
        prepared.data, prepared.media_type, alt=path.name, width=64, height=64
    )


@pytest.fixture
def models(tmp_path: Path, smollm_path: str) -> list[LocalModel]:
    folder = tmp_path / "eyes"
    folder.mkdir()
    (folder / "smol-eyes.gguf").symlink_to(smollm_path)
    projector = write_llama4_projector(folder / "mmproj-smol-eyes.gguf", 576)
    eyes = LocalModel.for_file(str(folder / "smol-eyes.gguf"))
    eyes = LocalModel(eyes.id, eyes.name, eyes.path, eyes.source, mmproj=str(projector))
    return [eyes, LocalModel.for_file(smollm_path, "bundled")]


def test_a_round_with_a_picture(
    home: AppPaths, qtbot: QtBot, tmp_path: Path, models: list[LocalModel]
) -> None:
    store = ChatStore(home.database)
    picture = stored_picture(home, tmp_path / "chart.png")
    session = CompareSession(
        store, list(models), cloud=None, sampling=SAMPLING, image_root=home.images
    )
    assert list(session.cannot_see()) == [1]
    finished: list[tuple[int, object]] = []
    session.column_finished.connect(lambda slot, result: finished.append((slot, result)))
    try:
        with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
            assert session.send("What is in this picture?", images=[picture])
        seeing, blind = session.results[0]
        assert seeing is not None and seeing.status == "complete" and seeing.text
        assert seeing.answer.usage.prompt_tokens > 20  # its embeddings were in the prompt
        assert blind is not None and blind.status == "failed" and not blind.text
        assert blind.error == session.cannot_see()[1]
        assert "cannot see images: it has no vision projector" in (blind.error or "")
        assert blind.answer.usage is None or not blind.answer.finished  # nothing was asked
        assert session.images == [(picture,)]
        # A follow-up without pictures reaches both (the seeing one still has its picture).
        with qtbot.waitSignal(session.round_finished, timeout=TIMEOUT_MS):
            assert session.send("Say it shorter.")
        assert all(r is not None and r.status == "complete" for r in session.results[1])
    finally:
        session.close()
    assert session.comparison_id is not None
    answers = store.comparison_answers(session.comparison_id)
    assert [(a.round, [i.path for i in a.prompt_images]) for a in answers] == [
        (0, [picture.path]),
        (0, [picture.path]),
        (1, []),
        (1, []),
    ]
    assert answers[1].status == "failed" and answers[1].error == blind.error
    assert picture.path in store.image_names_in_use()
    store.close()


def test_a_batch_names_pictures(
    home: AppPaths, qtbot: QtBot, tmp_path: Path, models: list[LocalModel]
) -> None:
    store = ChatStore(home.database)
    picture = stored_picture(home, tmp_path / "a.png")
    found = parse_prompts(
        '{"prompt": "What colour?", "image": "a.png"}\n"Plain."\n{"prompt": "x", "image": 3}\n',
        "p.jsonl",
    )
    assert [e.image_files for e in found.entries] == [("a.png",), ()]
    assert [e.line for e in found.entries] == [1, 2]
    assert found.problems == ['line 3: "image" should be a file name']
    csv = parse_prompts('prompt,images\n"One?","a.png; b.png"\n"Two?",\n', "p.csv")
    assert [(e.text, e.image_files, e.line) for e in csv.entries] == [
        ("One?", ("a.png", "b.png"), 2),
        ("Two?", (), 3),
    ]
    assert found.entries[0].to_json() == {"prompt": "What colour?", "images": ["a.png"]}
    entries = [replace(found.entries[0], images=(picture,)), found.entries[1]]
    session = CompareSession(
        store, list(models), cloud=None, sampling=SAMPLING, image_root=home.images
    )
    try:
        with qtbot.waitSignal(session.batch_finished, timeout=TIMEOUT_MS) as done:
            session.run_batch(entries, 100, "p.jsonl")
    finally:
        session.close()
    report = done.args[0]
    first, second = report["results"]
    assert first["images"] == ["a.png"] and "images" not in second
    assert [a["status"] for a in first["answers"]] == ["complete", "failed"]
    assert "cannot see images" in first["answers"][1]["error"]
    assert [a["status"] for a in second["answers"]] == ["complete", "complete"]
    assert session.comparison_id is not None
    rounds = {
        (a.round, a.slot): len(a.prompt_images)
        for a in store.comparison_answers(session.comparison_id)
    }
    assert rounds == {(0, 0): 1, (0, 1): 1, (1, 0): 0, (1, 1): 0}
    store.close()
