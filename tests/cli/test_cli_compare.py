"""`llamaside compare` and `llamaside leaderboard`: the real SmolLM2 engine and the real SDKs
against our loopback OpenAI and Anthropic servers, concurrently; a failing column; a batch file
with a bad line; ratings from stored votes."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.backends import compare_run
from desktop.backends.compare_run import Column, run_round
from desktop.backends.engine_client import LocalSource
from desktop.backends.network import Network
from desktop.backends.providers import Providers, open_provider
from desktop.core.models import CloudModel, LocalModel
from desktop.core.params import LoadParams, SamplingParams
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run
from tests.cloudserver import CloudServer

SMOL = "local:smollm2-135m-instruct"
ENV = {"OPENAI_API_KEY": "sk-compare-test", "ANTHROPIC_API_KEY": "sk-ant-compare-test"}


@pytest.fixture
def server() -> Iterator[CloudServer]:
    with CloudServer() as cloud:
        yield cloud


def enable_both(home: AppPaths, server: CloudServer) -> None:
    for name, url in (("openai", server.base_url + "/v1"), ("anthropic", server.base_url)):
        assert run(home, ENV, "providers", "set", name, "--base-url", url).returncode == 0
        assert run(home, ENV, "providers", "enable", name).returncode == 0


def test_compare_local_openai_and_anthropic(home: AppPaths, server: CloudServer) -> None:
    enable_both(home, server)
    result = run(
        home,
        ENV,
        "compare",
        "-m", SMOL,
        "-m", "openai:gpt-4o",
        "-m", "anthropic:claude-sonnet-4-20250514",
        "--max-tokens", "16",
        "--temperature", "0",
        "--json",
        "Name a fruit.",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    local, gpt, claude = data["columns"]
    assert [c["model"] for c in data["columns"]] == [
        SMOL,
        "openai:gpt-4o",
        "anthropic:claude-sonnet-4-20250514",
    ]
    assert local["text"] and gpt["text"] == claude["text"] == "Hello from the cloud."
    for column in data["columns"]:
        metrics = column["metrics"]
        assert column["status"] == "complete"
        assert metrics["ttft_s"] > 0 and metrics["total_s"] >= metrics["ttft_s"]
        assert metrics["output_tokens"] > 0 and metrics["prompt_tokens"] > 0
    assert local["metrics"]["cost_usd"] == 0 and local["metrics"]["context_used"] > 0
    assert gpt["metrics"]["cost_usd"] == pytest.approx((11 * 2.5 + 5 * 10) / 1e6)
    assert claude["metrics"]["cost_usd"] == pytest.approx((13 * 3 + 5 * 15) / 1e6)
    # Saved as a comparison, one answer per column.
    store = ChatStore(home.database)
    [comparison] = store.comparisons()
    assert list(comparison.models) == [c["model"] for c in data["columns"]]
    assert [a.content for a in store.comparison_answers(comparison.id)] == [
        c["text"] for c in data["columns"]
    ]
    store.close()

    # Text mode: each answer under its model, then the metrics table.
    text = run(home, ENV, "compare", "-m", SMOL, "-m", "openai:gpt-4o", "--no-save", "Hi")
    assert text.returncode == 0, text.stderr
    assert "=== openai:gpt-4o ===\nHello from the cloud." in text.stdout
    # Written as the compare window writes them (core.compare.format_metric).
    rows = {line[:22].strip(): line[22:].split("  ") for line in text.stdout.splitlines()}
    ttft = [cell.strip() for cell in rows["Time to first token"] if cell.strip()]
    cost = [cell.strip() for cell in rows["Cost"] if cell.strip()]
    assert len(ttft) == 2 and all(cell.endswith(" s") for cell in ttft), ttft
    assert cost[0] == "$0" and "$" in cost[1], cost


def test_a_failing_column_does_not_stop_the_others(home: AppPaths, server: CloudServer) -> None:
    enable_both(home, server)
    server.state.statuses = [401]  # the first chat request fails; which one depends on timing
    result = run(
        home, ENV, "compare", "-m", "openai:gpt-4o", "-m", "anthropic:claude-x", "--json", "Hi"
    )
    columns = json.loads(result.stdout)["columns"]
    errors = [(c["model"], c["status"], c["error"]) for c in columns]
    paths = [r["path"] for r in server.state.requests]
    assert result.returncode == 0, (errors, paths, result.stderr)
    failed = [c for c in columns if c["status"] == "failed"]
    complete = [c for c in columns if c["status"] == "complete"]
    assert len(failed) == 1 and len(complete) == 1
    assert "rejected the API key (401)" in failed[0]["error"]
    assert complete[0]["text"] == "Hello from the cloud."


def test_an_unusable_model_is_refused_before_anything_is_sent(
    home: AppPaths, server: CloudServer
) -> None:
    assert (
        run(home, ENV, "providers", "set", "openai", "--base-url", server.base_url).returncode == 0
    )
    result = run(home, ENV, "compare", "-m", SMOL, "-m", "openai:gpt-4o", "Hi")
    assert result.returncode == 1 and "is off, so nothing was sent" in result.stderr
    assert server.connections == 0
    one = run(home, ENV, "compare", "-m", SMOL, "Hi")
    assert one.returncode == 1 and "Give 2 to 4 models" in one.stderr


def test_columns_stream_concurrently(home: AppPaths, server: CloudServer, smollm_path: str) -> None:
    """Pieces of the three columns arrive interleaved: no column waits for another."""
    import anthropic  # noqa: F401  (imported here first: a cold import takes a second)
    import openai  # noqa: F401

    server.state.delay_s = 0.05
    server.state.reply = ["tick "] * 40
    providers = Providers(
        {
            "openai": {"base_url": server.base_url + "/v1", "enabled": True},
            "anthropic": {"base_url": server.base_url, "enabled": True},
        }
    )
    network = Network()
    columns = [
        Column(LocalModel.for_file(smollm_path, "bundled"), LoadParams(n_ctx=512, n_threads=1)),
        *(
            Column(
                CloudModel(name, "m", name),
                open_cloud=lambda m: open_provider(providers.get(m.provider), network),
            )
            for name in ("openai", "anthropic")
        ),
    ]
    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()

    def on_delta(slot: int, _text: str) -> None:
        with lock:
            arrivals.append((time.monotonic(), slot))

    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        results = run_round(
            columns, "Count to fifty.", SamplingParams(temperature=0, max_tokens=120), on_delta
        )
    for column in columns:
        column.close()
    assert [r.status for r in results] == ["complete"] * 3
    spans = {
        slot: (min(t for t, s in arrivals if s == slot), max(t for t, s in arrivals if s == slot))
        for slot in range(3)
    }
    # Every column started before every other one finished.
    for a in range(3):
        for b in range(3):
            if a != b:
                assert spans[a][0] < spans[b][1], spans


def _cloud_column(server: CloudServer, name: str = "openai") -> Column:
    providers = Providers(
        {
            "openai": {"base_url": server.base_url + "/v1", "enabled": True},
            "anthropic": {"base_url": server.base_url, "enabled": True},
        }
    )
    network = Network()
    return Column(
        CloudModel(name, "m", name),
        open_cloud=lambda m: open_provider(providers.get(m.provider), network),
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_cloud_column_beside_a_local_one_reads_its_stream_in_bursts(
    server: CloudServer, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a local model still answering, a cloud column lets pieces gather between reads
    instead of waking for each: pieces sent every 10 ms reach on_delta in bursts, at most two
    pauses (a wait, and the socket's) per interval; with no local model answering (alone, or
    once it is done), every piece comes as it is sent."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    server.state.delay_s = 0.01
    server.state.reply = [f"p{i} " for i in range(40)]
    sampling = SamplingParams(temperature=0, max_tokens=100)

    def pauses(beside_local: bool) -> tuple[int, float, str]:
        column = _cloud_column(server, provider)
        times: list[float] = []
        busy = threading.Event()
        if beside_local:
            busy.set()
        result = column.run(
            "Count.", sampling, lambda _t: times.append(time.monotonic()), local_busy=busy
        )
        column.close()
        assert result.status == "complete", result.error
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return sum(g > 0.005 for g in gaps), times[-1] - times[0], result.text

    alone, alone_span, alone_text = pauses(False)
    beside, span, text = pauses(True)
    assert text == alone_text == "".join(server.state.reply)  # nothing lost or reordered
    interval = compare_run.CLOUD_COALESCE_S
    assert beside <= 2 * (span / interval + 1) + 1, (beside, span)
    assert beside < alone, (beside, alone, alone_span)


def test_a_cloud_column_reads_as_it_comes_again_once_the_local_model_is_done(
    server: CloudServer, smollm_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bursts last only while a local model answers: after it, a cloud answer's pieces
    (and its measured end) come as they are sent."""
    import openai  # noqa: F401  (a cold import takes a second)

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    server.state.delay_s = 0.01
    server.state.reply = [f"p{i} " for i in range(40)]
    server.state.endless = True  # until the test stops it
    local = Column(LocalModel.for_file(smollm_path, "bundled"), LoadParams(n_ctx=512, n_threads=1))
    cloud_column = _cloud_column(server)
    arrivals: dict[int, list[float]] = {0: [], 1: []}

    def on_done(slot: int, _result: object) -> None:
        if slot == 0:  # the local answer is complete: the cloud one streams on a while
            threading.Timer(1.0, cloud_column.cancel).start()

    results = run_round(
        [local, cloud_column],
        "Say hi.",
        SamplingParams(temperature=0, max_tokens=16),
        lambda slot, _text: arrivals[slot].append(time.monotonic()),
        on_done=on_done,
    )
    local.close()
    cloud_column.close()
    assert [r.status for r in results] == ["complete", "stopped"]
    local_end = arrivals[0][-1]
    during = [t for t in arrivals[1] if t <= local_end]
    after = [t for t in arrivals[1] if t > local_end + 0.1]
    assert len(after) > 30, len(after)

    def bunched(times: list[float]) -> float:
        """The share of pieces that came within 1 ms of the one before (one read's burst)."""
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return sum(g < 0.001 for g in gaps) / max(len(gaps), 1)

    assert bunched(after) < 0.3, bunched(after)  # sent every 10 ms, read so
    if len(during) > 10:  # the local answer lasted long enough to see bursts beside it
        assert bunched(during) > bunched(after), (bunched(during), bunched(after))


def test_stop_ends_a_cloud_columns_wait_at_once(
    server: CloudServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first piece is shown at once (time to first token is never held), and Stop during
    the wait that follows ends the answer then, not when the wait would have."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(compare_run, "CLOUD_COALESCE_S", 120.0)
    server.state.delay_s = 0.01
    server.state.reply = [f"p{i} " for i in range(40)]
    column = _cloud_column(server)
    seen: list[str] = []

    def on_delta(text: str) -> None:
        seen.append(text)
        if len(seen) == 1:
            threading.Timer(0.2, column.cancel).start()

    started = time.monotonic()
    busy = threading.Event()
    busy.set()
    result = column.run("Count.", SamplingParams(max_tokens=100), on_delta, local_busy=busy)
    elapsed = time.monotonic() - started
    column.close()
    assert seen[0] == "p0 "
    assert result.status == "stopped"
    assert result.text.startswith("p0 ")
    assert elapsed < 60, elapsed  # far below the 120 s wait: Stop cut it short


def test_batch_with_a_bad_line(home: AppPaths, server: CloudServer, tmp_path: Path) -> None:
    enable_both(home, server)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a fruit."}\nnot json\n"Name a colour."\n')
    out = tmp_path / "results.json"
    result = run(
        home,
        ENV,
        "compare",
        "--batch", str(prompts),
        "-m", SMOL,
        "-m", "openai:gpt-4o",
        "--max-tokens", "12",
        "--per-month", "50000",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{prompts}: line 2: not JSON" in result.stderr
    report = json.loads(out.read_text())
    assert [row["prompt"] for row in report["results"]] == ["Name a fruit.", "Name a colour."]
    local, gpt = report["summary"]
    assert local["total_cost_usd"] == 0 and local["cost_per_month_usd"] == 0
    per_answer = (11 * 2.5 + 5 * 10) / 1e6
    assert gpt["total_cost_usd"] == pytest.approx(2 * per_answer)
    assert gpt["cost_per_month_usd"] == pytest.approx(50_000 * per_answer)
    assert local["mean_tokens_per_second"] > 0 and gpt["failed"] == 0
    # Every prompt stands alone: the second request carries no trace of the first.
    assert [m["role"] for m in server.state.requests[-1]["body"]["messages"]] == ["user"]


def test_leaderboard_from_stored_votes(home: AppPaths) -> None:
    store = ChatStore(home.database)
    for winner in ("a", "a", "a", "b"):
        store.add_vote(model_a="local:scout", model_b="openai:gpt-4o", winner=winner, tag="code")
    store.add_vote(model_a="local:scout", model_b="openai:gpt-4o", winner="b", flagged="As GPT")
    store.close()
    data = json.loads(run(home, {}, "leaderboard", "--json").stdout)
    assert data["votes"] == 4 and data["flagged_left_out"] == 1
    scout, gpt = data["ratings"]
    assert scout["model"] == "local:scout" and (scout["wins"], scout["losses"]) == (3, 1)
    assert scout["rating"] - gpt["rating"] == pytest.approx(147.2, abs=0.1)
    counted = json.loads(run(home, {}, "leaderboard", "--json", "--include-flagged").stdout)
    assert counted["votes"] == 5
    text = run(home, {}, "leaderboard", "--tag", "code").stdout
    assert text.splitlines()[1].split()[:2] == ["1", "local:scout"]
    assert "No votes yet" in run(home, {}, "leaderboard", "--tag", "nothing").stdout


def test_stop_holds_for_a_column_waiting_its_turn_and_close_ends_a_loading_engine(
    smollm_path: str,
) -> None:
    model = LocalModel.for_file(smollm_path, "bundled")
    first, second = Column(model, LoadParams(n_ctx=512)), Column(model, LoadParams(n_ctx=512))
    outcome: list[list[str]] = []

    def go() -> None:
        results = run_round(
            [first, second],
            "Count to ten.",
            SamplingParams(temperature=0, max_tokens=30),
            lambda _s, _t: None,
            local_together=False,  # they take turns: the second waits for the first
        )
        outcome.append([r.status for r in results])

    worker = threading.Thread(target=go)
    worker.start()
    time.sleep(0.2)
    second.cancel()  # pressed before the second column's turn came
    worker.join(timeout=60)
    assert outcome == [["complete", "stopped"]]

    # Closed in the middle of a load: the engine child does not outlive the column.
    third = Column(model, LoadParams(n_ctx=512))
    results: list[str] = []
    loader = threading.Thread(
        target=lambda: results.append(
            third.run("Hi", SamplingParams(max_tokens=5), lambda _t: None).status
        )
    )
    loader.start()
    deadline = time.monotonic() + 10
    while third._source is None and time.monotonic() < deadline:
        time.sleep(0.005)
    loading = third._source
    assert isinstance(loading, LocalSource)  # its engine is loading (or about to)
    third.close()
    loader.join(timeout=30)
    assert results == ["stopped"]
    assert not loading.engine.client.running
    assert third._source is None
    first.close()
    second.close()


def test_a_batch_report_survives_an_unwritable_out_file(
    home: AppPaths, server: CloudServer, tmp_path: Path
) -> None:
    enable_both(home, server)
    prompts = tmp_path / "p.txt"
    prompts.write_text("Hi\n")
    result = run(
        home, ENV, "compare", "--batch", str(prompts), "-m", "openai:gpt-4o",
        "-m", "anthropic:claude-x", "--out", str(tmp_path / "missing-dir" / "r.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "could not write" in result.stderr
    report = json.loads(result.stdout)
    assert report["results"][0]["answers"][0]["text"] == "Hello from the cloud."
