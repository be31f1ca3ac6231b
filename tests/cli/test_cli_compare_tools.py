"""`llamaside compare --batch` with tools and expected calls: two loopback cloud models scripted
to call right and wrong, and the real SmolLM2, are offered the same tools; each answer's first
call is scored, the accuracy per model is in the report (JSON, Markdown, CSV) and the text
summary, the calls are kept in the history, and no tool is run (no request carries a result).
A follow-up in a column's thread tells its model the calls were not run."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.backends.compare_run import NOT_RUN, Column, run_round
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.network import Network
from desktop.backends.providers import Providers, open_provider
from desktop.core.engine_mode import EngineMode, SafeMode
from desktop.core.models import CloudModel
from desktop.core.params import SamplingParams
from desktop.core.parts import ToolCall
from desktop.core.tool_score import parse_tools
from desktop.storage.paths import AppPaths
from desktop.storage.store import ChatStore
from tests.cli.test_cli_cloud import run
from tests.cloudserver import CloudServer, ScriptedCall

SMOL = "local:smollm2-135m-instruct"
GPT = "openai:gpt-4o"
CLAUDE = "anthropic:claude-sonnet-4-20250514"
ENV = {"OPENAI_API_KEY": "sk-compare-tools", "ANTHROPIC_API_KEY": "sk-ant-compare-tools"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_currency",
            "description": "Convert money between currencies.",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "from_currency": {"type": "string"},
                    "to_currency": {"type": "string"},
                },
                "required": ["amount", "from_currency", "to_currency"],
            },
        },
    },
]
PROMPTS = [
    ("Weather in Oslo for 3 days?", "get_weather", {"city": "Oslo", "days": 3}),
    (
        "Convert 100 USD to EUR.",
        "convert_currency",
        {"amount": 100, "from_currency": "USD", "to_currency": "EUR"},
    ),
    ("And the weather in Paris?", "get_weather", {"city": "Paris"}),
]


@pytest.fixture
def servers() -> Iterator[tuple[CloudServer, CloudServer]]:
    """One server per provider: each column's scripted calls come in its own order."""
    with CloudServer() as right, CloudServer() as wrong:
        yield right, wrong


def remember_safe_mode(home: AppPaths) -> None:
    """The engine starts in the safe mode it would fall back to: on a CPU whose AMX path
    crashes llama.cpp on a long prompt (the tools make one; conftest.extra_bufts's short probe
    passes), the fallback while an answer streams is the engine's own test, not this one's."""
    ModeMemory(home.engine_modes).remember(SafeMode(EngineMode.NO_EXTRA_BUFTS))


# SmolLM2 answers three prompts in a child process after four provider commands: on a busy
# machine that takes more than the default two minutes.
@pytest.mark.timeout(300)
def test_batch_scores_calls_without_running_tools(
    home: AppPaths, servers: tuple[CloudServer, CloudServer], tmp_path: Path
) -> None:
    right, wrong = servers
    remember_safe_mode(home)
    for name, url in (("openai", right.base_url + "/v1"), ("anthropic", wrong.base_url)):
        assert run(home, ENV, "providers", "set", name, "--base-url", url).returncode == 0
        assert run(home, ENV, "providers", "enable", name).returncode == 0
    # GPT calls right every time; Claude: the wrong tool, then a wrong amount, then arguments
    # that are not JSON (right tool, not well-formed).
    right.state.reply = wrong.state.reply = []
    right.state.tool_steps = [
        [ScriptedCall("c1", "get_weather", ['{"city": "oslo",', ' "days": 3}'])],
        [
            ScriptedCall(
                "c2",
                "convert_currency",
                ['{"amount": 100.0, "from_currency": "usd", "to_currency": "EUR"}'],
            )
        ],
        [ScriptedCall("c3", "get_weather", ['{"city": " Paris "}'])],
    ]
    wrong.state.tool_steps = [
        [ScriptedCall("d1", "convert_currency", ['{"amount": 3}'])],
        [
            ScriptedCall(
                "d2",
                "convert_currency",
                ['{"amount": 10, "from_currency": "USD", "to_currency": "EUR"}'],
            )
        ],
        [ScriptedCall("d3", "get_weather", ['{"city": "Par'])],
    ]
    batch = tmp_path / "tools.jsonl"
    batch.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": prompt,
                    "tools": TOOLS,
                    "expect_call": {"name": name, "arguments": arguments},
                }
            )
            + "\n"
            for prompt, name, arguments in PROMPTS
        )
    )
    result = run(
        home, ENV, "compare", "--batch", str(batch), "-m", SMOL, "-m", GPT, "-m", CLAUDE,
        "--max-tokens", "24", "--temperature", "0", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    local, gpt, claude = report["summary"]
    assert gpt["tool_calls"] == {
        "scored": 3,
        "right_tool": 1.0,
        "right_arguments": 1.0,
        "well_formed": 1.0,
    }
    assert claude["tool_calls"] == {
        "scored": 3,
        "right_tool": pytest.approx(2 / 3),
        "right_arguments": 0.0,
        "well_formed": pytest.approx(1 / 3),
    }
    # SmolLM2 is scored on every prompt too (what it gets right is its own affair).
    assert local["failed"] == 0 and local["tool_calls"]["scored"] == 3
    assert all(0 <= local["tool_calls"][k] <= 1 for k in ("right_tool", "well_formed"))
    first = report["results"][0]
    assert first["expect_call"] == {"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}
    gpt_answer, claude_answer = first["answers"][1:]
    assert gpt_answer["calls"] == [
        {"name": "get_weather", "arguments": '{"city": "oslo", "days": 3}'}
    ]
    assert claude_answer["score"]["detail"].startswith(
        "Called convert_currency, expected get_weather."
    )
    assert "not well-formed" in report["results"][2]["answers"][2]["score"]["detail"]
    assert gpt["cost_per_month_usd"] is not None and local["mean_tokens_per_second"] > 0

    # No tool was run: one request per prompt and model, each offered the same two tools with
    # "auto", and none carries a tool's result.
    for server in (right, wrong):
        assert len(server.state.bodies("/messages") or server.state.bodies("/completions")) == 3
    for body in right.state.bodies("/chat/completions"):
        assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "convert_currency"]
        assert body.get("tool_choice", "auto") == "auto"
        assert [m["role"] for m in body["messages"]] == ["user"]
    for body in wrong.state.bodies("/v1/messages"):
        assert [t["name"] for t in body["tools"]] == ["get_weather", "convert_currency"]
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert "tool_result" not in json.dumps(body)

    # The calls are kept with the answers in the history.
    store = ChatStore(home.database)
    [comparison] = store.comparisons()
    answers = store.comparison_answers(comparison.id)
    kept = [p for a in answers if a.model == GPT for p in a.parts if isinstance(p, ToolCall)]
    assert [c.name for c in kept] == ["get_weather", "convert_currency", "get_weather"]
    store.close()


def test_text_summary_and_markdown_csv_exports(
    home: AppPaths, servers: tuple[CloudServer, CloudServer], tmp_path: Path
) -> None:
    right, wrong = servers
    for name, url in (("openai", right.base_url + "/v1"), ("anthropic", wrong.base_url)):
        assert run(home, ENV, "providers", "set", name, "--base-url", url).returncode == 0
        assert run(home, ENV, "providers", "enable", name).returncode == 0
    right.state.reply = wrong.state.reply = []
    right.state.tool_steps = [[ScriptedCall("c1", "get_weather", ['{"city": "Oslo"}'])]] * 2
    wrong.state.tool_steps = []  # Claude answers in words: no call
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    batch = tmp_path / "b.jsonl"
    expect = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    batch.write_text(
        json.dumps({"prompt": "Weather in Oslo?", "expect_call": expect})
        + "\n"
        + json.dumps({"prompt": "Oslo weather please", "expect_call": expect})
        + "\n"
    )
    text = run(
        home, ENV, "compare", "--batch", str(batch), "--tools", str(tools),
        "-m", GPT, "-m", CLAUDE, "--no-save",
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    gpt_line, claude_line = text.stdout.splitlines()
    assert "right tool 100%  right args 100%  well-formed 100% (of 2)" in gpt_line
    assert "right tool 0%  right args 0%  well-formed 0% (of 2)" in claude_line
    # The tools came from --tools, offered to both.
    assert right.state.bodies("/chat/completions")[0]["tools"][0]["function"]["name"] == (
        "get_weather"
    )

    right.state.tool_steps = [[ScriptedCall("c1", "get_weather", ['{"city": "Oslo"}'])]] * 2
    for suffix in ("md", "csv"):
        out = tmp_path / f"report.{suffix}"
        done = run(
            home, ENV, "compare", "--batch", str(batch), "--tools", str(tools),
            "-m", GPT, "-m", CLAUDE, "--no-save", "--out", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        right.state.tool_steps = [[ScriptedCall("c1", "get_weather", ['{"city": "Oslo"}'])]] * 2
        written = out.read_text()
        if suffix == "md":
            assert "| Right tool | Right arguments | Well-formed |" in written
            assert "| 100% | 100% | 100% |" in written and "| 0% | 0% | 0% |" in written
        else:
            rows = list(csv.DictReader(io.StringIO(written)))
            assert [(r["model"], r["right_tool"]) for r in rows[:2]] == [
                (GPT, "True"),
                (CLAUDE, "False"),
            ]
            assert rows[1]["score_detail"].startswith("No call was made")


def test_a_follow_up_after_calls_tells_each_model_its_calls_were_not_run(
    servers: tuple[CloudServer, CloudServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same tools go to every column; a call is kept in the column's thread with a "not
    run" result, since every API wants each call answered before the next message."""
    right, wrong = servers
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    providers = Providers(
        {
            "openai": {"base_url": right.base_url + "/v1", "enabled": True},
            "anthropic": {"base_url": wrong.base_url, "enabled": True},
        }
    )
    network = Network()
    columns = [
        Column(
            CloudModel(name, "m", name),
            open_cloud=lambda m: open_provider(providers.get(m.provider), network),
        )
        for name in ("openai", "anthropic")
    ]
    for server, call_id in ((right, "c1"), (wrong, "d1")):
        server.state.reply = []
        server.state.tool_steps = [[ScriptedCall(call_id, "get_weather", ['{"city": "Oslo"}'])]]
    tools = parse_tools(TOOLS)
    sampling = SamplingParams(temperature=0, max_tokens=32)
    first = run_round(columns, "Weather in Oslo?", sampling, lambda _s, _t: None, tools=tools)
    assert [[c.name for c in r.answer.calls] for r in first] == [["get_weather"]] * 2
    assert all(r.status == "complete" and not r.text for r in first)
    for server in (right, wrong):
        server.state.reply = ["Fine."]
    second = run_round(columns, "Never mind. Say fine.", sampling, lambda _s, _t: None)
    for column in columns:
        column.close()
    assert [r.text for r in second] == ["Fine.", "Fine."]
    gpt = right.state.bodies("/chat/completions")[-1]
    assert [m["role"] for m in gpt["messages"]] == ["user", "assistant", "tool", "user"]
    assert gpt["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": NOT_RUN}
    assert "tools" not in gpt  # the follow-up offered none
    # Anthropic, offered no tools this time, is told of the earlier call and its result in words.
    claude = wrong.state.bodies("/v1/messages")[-1]
    assert [m["role"] for m in claude["messages"]] == ["user", "assistant", "user"]
    assert "get_weather" in claude["messages"][1]["content"]
    assert NOT_RUN in claude["messages"][1]["content"]
