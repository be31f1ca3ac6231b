"""Pictures from the command line: `llamaside chat --image` on the real SmolLM2 engine child with a
random-weight vision projector paired beside it (tests/vision_models.py), refused with exit 2 for
a model without one or a file that cannot be read; `llamaside compare --image` to a seeing local
model, the loopback OpenAI server (which gets the picture) and a text-only column that says it
cannot see; a batch file naming a picture per prompt, and one naming a missing picture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage

from desktop.core.parts import Image
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run
from tests.cli.test_cli_compare import ENV, enable_both
from tests.cloudserver import CloudServer
from tests.vision_models import write_llama4_projector

SMOL = "local:smollm2-135m-instruct"
EYES = "local:smol-eyes"
SMOL_N_EMBD = 576


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("projector")
    return write_llama4_projector(folder / "mmproj-smol-eyes.gguf", SMOL_N_EMBD)


@pytest.fixture
def seeing(home: AppPaths, smollm_path: str, projector: Path) -> str:
    """SmolLM2 in the models folder with its projector beside it: a model that sees."""
    folder = home.models / "eyes"
    folder.mkdir(parents=True)
    (folder / "smol-eyes.gguf").symlink_to(smollm_path)
    (folder / projector.name).symlink_to(projector)
    return EYES


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


def picture(path: Path, colour: str = "red") -> Path:
    PILImage.new("RGB", (64, 64), colour).save(path)
    return path


def test_chat_sends_a_picture_and_keeps_it(home: AppPaths, seeing: str, tmp_path: Path) -> None:
    pic = picture(tmp_path / "chart.png")
    result = run(
        home, {}, "chat", "-m", seeing, "--image", str(pic), "--max-tokens", "6",
        "--temperature", "0", "--json", "What is in this picture?",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == seeing and data["text"]
    [listed] = data["images"]
    assert listed["name"] == "chart.png" and listed["media_type"] == "image/png"
    assert (home.images / listed["stored"]).is_file()
    assert data["usage"]["prompt_tokens"] > 20  # the picture's embeddings were in the prompt
    store = ChatStore(home.database)
    try:
        question = store.messages(data["conversation_id"])[0]
        images = [p for p in question.parts if isinstance(p, Image)]
        assert [i.path for i in images] == [listed["stored"]]
        assert question.content == "What is in this picture?"
        assert listed["stored"] in store.image_names_in_use()
    finally:
        store.close()


def test_chat_refuses_a_picture_for_a_model_that_cannot_see(home: AppPaths, tmp_path: Path) -> None:
    pic = picture(tmp_path / "chart.png")
    result = run(home, {}, "chat", "-m", SMOL, "--image", str(pic), "What is this?")
    assert result.returncode == 2, result.stderr
    assert "cannot see images: it has no vision projector" in result.stderr
    assert "Traceback" not in result.stderr
    store = ChatStore(home.database)
    try:
        assert store.list_conversations() == []  # nothing saved
    finally:
        store.close()


def test_chat_refuses_a_file_it_cannot_read(home: AppPaths, tmp_path: Path) -> None:
    missing = run(home, {}, "chat", "-m", SMOL, "--image", str(tmp_path / "gone.png"), "Hi")
    assert missing.returncode == 2 and "gone.png cannot be read" in missing.stderr
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    damaged = run(home, {}, "chat", "-m", SMOL, "--image", str(junk), "Hi")
    assert damaged.returncode == 2 and "notes.png" in damaged.stderr
    store = ChatStore(home.database)
    try:
        assert store.list_conversations() == []
    finally:
        store.close()


def test_compare_sends_the_picture_to_every_column_that_sees(
    home: AppPaths, seeing: str, server: CloudServer, tmp_path: Path
) -> None:
    enable_both(home, server)
    pic = picture(tmp_path / "chart.png", "blue")
    result = run(
        home, ENV, "compare", "-m", seeing, "-m", "openai:gpt-4o", "-m", "openai:gpt-3.5-turbo",
        "--image", str(pic), "--max-tokens", "6", "--temperature", "0", "--json",
        "Describe the picture.",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    local, gpt, blind = data["columns"]
    assert local["status"] == gpt["status"] == "complete" and local["text"] and gpt["text"]
    assert blind["status"] == "failed" and blind["text"] == ""
    assert "gpt-3.5-turbo" in blind["error"] and "does not take images" in blind["error"]
    [listed] = data["images"]
    # One request only: the column that cannot see sent none. It carried the picture first.
    [body] = server.state.bodies("/chat/completions")
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    assert [c["type"] for c in content] == ["image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1]["text"] == "Describe the picture."
    store = ChatStore(home.database)
    try:
        answers = store.comparison_answers(data["comparison_id"])
        assert [[i.path for i in a.prompt_images] for a in answers] == [[listed["stored"]]] * 3
        assert answers[2].error == blind["error"]
        assert listed["stored"] in store.image_names_in_use()
    finally:
        store.close()


def test_batch_names_a_picture_per_prompt(
    home: AppPaths, seeing: str, server: CloudServer, tmp_path: Path
) -> None:
    enable_both(home, server)
    folder = tmp_path / "batch"
    (folder / "pics").mkdir(parents=True)
    picture(folder / "a.png", "red")
    picture(folder / "pics" / "b.png", "green")
    prompts = folder / "prompts.jsonl"
    prompts.write_text(
        '{"prompt": "What colour?", "image": "a.png"}\n'
        '{"prompt": "And these?", "images": ["a.png", "pics/b.png"]}\n'
        '"No picture here."\n'
    )
    out = tmp_path / "report.json"
    result = run(
        home, ENV, "compare", "-m", seeing, "-m", "openai:gpt-4o", "--batch", str(prompts),
        "--max-tokens", "4", "--temperature", "0", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert [r.get("images") for r in report["results"]] == [
        ["a.png"],
        ["a.png", "pics/b.png"],
        None,
    ]
    assert all(a["status"] == "complete" for r in report["results"] for a in r["answers"])
    sent = [
        sum(c["type"] == "image_url" for c in b["messages"][-1]["content"])
        if isinstance(b["messages"][-1]["content"], list)
        else 0
        for b in server.state.bodies("/chat/completions")
    ]
    assert sent == [1, 2, 0]  # each prompt on its own, with its own pictures
    store = ChatStore(home.database)
    try:
        [comparison] = store.comparisons()
        by_round = {a.round: len(a.prompt_images) for a in store.comparison_answers(comparison.id)}
        assert by_round == {0: 1, 1: 2, 2: 0}
    finally:
        store.close()


def test_batch_with_a_missing_picture_runs_nothing(
    home: AppPaths, server: CloudServer, tmp_path: Path
) -> None:
    enable_both(home, server)
    picture(tmp_path / "a.png")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text('prompt,image\n"One?",a.png\n"Two?",missing.png\n')
    result = run(
        home, ENV, "compare", "-m", "openai:gpt-4o", "-m", "anthropic:claude-sonnet-4-20250514",
        "--batch", str(prompts),
    )  # fmt: skip
    assert result.returncode == 2
    assert "line 3: there is no picture missing.png" in result.stderr
    assert "Nothing was sent" in result.stderr
    assert server.state.requests == []
    store = ChatStore(home.database)
    try:
        assert store.comparisons() == []
    finally:
        store.close()
