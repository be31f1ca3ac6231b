"""What a comparison shows and reads, without Qt: a column's answer, the metric rows, how each
metric is written (the window and `llamaside compare` alike) and which column is best in each,
answers that name their own model (kept out of blind votes), prompt files for a batch, and what
a cloud model would cost at the user's volume."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from statistics import mean
from typing import Any

from desktop.core.adapters import Adapter, adapters_to_json, with_adapters
from desktop.core.answer import Answer
from desktop.core.errors import LlamasideError
from desktop.core.parts import Image
from desktop.core.pricing import format_cost
from desktop.core.tool_score import (
    CallScore,
    ExpectedCall,
    accuracy,
    call_json,
    format_share,
    parse_expect_call,
    parse_tool_choice,
    parse_tools,
    score_answer,
)
from desktop.core.tools import AUTO, ToolChoice, ToolSpec

MIN_COLUMNS, MAX_COLUMNS = 2, 4


@dataclass(frozen=True)
class Metric:
    """One row of a comparison's metrics: what it measures and which way is better."""

    key: str
    label: str
    #: "low" or "high" is better; "" for rows where neither is (token counts).
    better: str
    unit: str = ""


METRICS = (
    Metric("ttft_s", "Time to first token", "low", "s"),
    Metric("tokens_per_second", "Tokens/s", "high"),
    Metric("output_tokens", "Output tokens", ""),
    Metric("total_s", "Total time", "low", "s"),
    Metric("prompt_tokens", "Prompt tokens", ""),
    Metric("cost_usd", "Cost", "low", "$"),
    Metric("context_used", "Context used", ""),
)


def metrics_of(usage: dict[str, Any] | None, n_ctx: int | None, local: bool) -> dict[str, Any]:
    """One answer's metric values from its stored usage (None where unknown)."""
    if not usage:
        return {m.key: None for m in METRICS}
    prompt = int(usage.get("prompt_tokens", 0))
    output = int(usage.get("output_tokens", 0))
    return {
        "ttft_s": usage.get("time_to_first_token_s"),
        "tokens_per_second": usage.get("tokens_per_second"),
        "output_tokens": output,
        "total_s": usage.get("total_s"),
        "prompt_tokens": prompt,
        # Local answers cost nothing; a cloud model without a known price has no value.
        "cost_usd": 0.0 if local else usage.get("cost_usd"),
        "context_used": (prompt + output) / n_ctx if n_ctx else None,
    }


def format_metric(key: str, value: Any) -> str:
    """One metric's value as the comparison shows it: "0.18 s", "41.3" tokens/s, "$0.0012",
    "3.1%" of the context, a token count as it is; "–" where it is unknown."""
    if value is None:
        return "–"
    if key == "cost_usd":
        return format_cost(float(value))
    if key == "context_used":
        return f"{float(value):.1%}"
    if key.endswith("_s"):
        return f"{float(value):.2f} s"
    if key == "tokens_per_second":
        return f"{float(value):.1f}"
    return str(value)


@dataclass(frozen=True)
class ColumnAnswer:
    """One column's answer in a round: the source's Answer, and what the comparison adds to it
    (which model, its loaded context size, what the answer cost)."""

    model_id: str
    answer: Answer = field(default_factory=Answer)
    local: bool = False
    #: The loaded context size (local), for "context used".
    n_ctx: int | None = None
    #: A cloud answer's cost as Pricing.answer_cost gives it (cost_usd, None for an unknown
    #: price, and where the price came from); empty for a local answer, which costs nothing.
    cost: dict[str, Any] = field(default_factory=dict)
    #: The LoRA adapters the local model answered with (empty: the bare model).
    adapters: tuple[Adapter, ...] = ()

    @property
    def variant(self) -> str:
        """The model id with its adapters, as reports name the column: "local:x + tune × 0.8"."""
        return with_adapters(self.model_id, self.adapters)

    @property
    def text(self) -> str:
        return self.answer.text

    @property
    def status(self) -> str:
        """How it ended, as stored: "complete", "stopped" or "failed" (a MessageStatus value)."""
        return self.answer.status.value

    @property
    def error(self) -> str | None:
        return self.answer.error

    def stored_usage(self) -> dict[str, Any] | None:
        """The usage as the history keeps it (with the cost, and the context size for "context
        used" when reopened); None when the answer never said how it ended."""
        usage = self.answer.usage
        if not self.answer.finished or usage is None:
            return None
        return {**usage.to_dict(), **self.cost, "n_ctx": self.n_ctx}

    def metrics(self) -> dict[str, Any]:
        return metrics_of(self.stored_usage(), self.n_ctx, self.local)

    def summary(self) -> str:
        """The line under the answer: "42 tokens · 38.1 tok/s · $0.0012" (a cost for a cloud
        answer only, "price unknown" without a price; speed where known); "" for an answer
        that never said how it ended."""
        if not self.answer.finished:
            return ""
        values = self.metrics()
        parts = [f"{format_metric('output_tokens', values['output_tokens'])} tokens"]
        if values["tokens_per_second"]:
            speed = format_metric("tokens_per_second", values["tokens_per_second"])
            parts.append(f"{speed} tok/s")
        if self.cost:  # in words where the price is unknown (the table's "–" alone is terse)
            parts.append(format_cost(values["cost_usd"]))
        return " · ".join(parts)


def best_columns(values: list[float | None], better: str) -> set[int]:
    """Indexes of the best value (ties share it); none when fewer than two values are known."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not better or len(known) < 2:
        return set()
    target = min(v for _, v in known) if better == "low" else max(v for _, v in known)
    if all(v == target for _, v in known):
        return set()  # all equal: nothing stands out
    return {i for i, v in known if v == target}


#: Phrases by which an answer gives away its model or maker. Blind votes on such answers are
#: flagged and left out of the leaderboard by default, as FastChat's arena does.
_SELF_NAMES = (
    r"claude",
    r"anthropic",
    r"chat\s?gpt",
    r"gpt-?\d",
    r"openai",
    r"llama",
    r"meta\s?ai",
    r"gemini",
    r"mistral",
    r"qwen",
    r"smollm",
    r"hugging\s?face",
    r"gemma",
    r"google",
    r"deepseek",
    r"phi-?\d*",
    r"microsoft",
    r"grok",
    r"x\.?ai",
)
_SELF_ID = re.compile(
    r"\b(?:as|i am|i'm|i’m|my name is|this is|being|created by|made by|developed by|trained by|"
    r"built by)\s+(?:an?\s+|the\s+)?(?:ai\s+(?:model|assistant)\s+(?:called|named)\s+)?"
    r"(" + "|".join(_SELF_NAMES) + r")\b",
    re.IGNORECASE,
)


def names_itself(text: str) -> str | None:
    """The give-away phrase if the answer names its own model or vendor ("As Claude", "I am
    Llama", "developed by OpenAI"), else None."""
    match = _SELF_ID.search(text)
    return match.group(0) if match else None


class PromptFileError(LlamasideError):
    """A prompt file that cannot be read as prompts at all."""

    pass


@dataclass(frozen=True)
class BatchPrompt:
    """One prompt of a batch: its text, the tools every column is offered with it, the call it
    expects (then the answers' first calls are scored, never run), and the pictures it names
    (``image_files``, relative to the prompt file, made ``images`` once stored)."""

    text: str
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = AUTO
    expect_call: ExpectedCall | None = None
    #: The picture files it names, as written in the prompt file.
    image_files: tuple[str, ...] = ()
    #: Those pictures once stored: sent to every column with the prompt.
    images: tuple[Image, ...] = ()
    #: Its line in the prompt file (0: not from a file), for reports about it; where it
    #: stood is not what it is, so two entries alike but for their lines are equal.
    line: int = field(default=0, compare=False)

    @property
    def plain(self) -> bool:
        return (
            not self.tools
            and self.expect_call is None
            and self.tool_choice == AUTO
            and not self.image_files
        )

    def to_json(self) -> str | dict[str, Any]:
        """As a prompt file (or a saved list) writes it: the text alone when that is all."""
        if self.plain:
            return self.text
        data: dict[str, Any] = {"prompt": self.text}
        if self.tools:
            data["tools"] = [spec.openai() for spec in self.tools]
        if self.tool_choice != AUTO:
            choice = self.tool_choice
            data["tool_choice"] = choice.name if choice.mode == "tool" else choice.mode
        if self.expect_call is not None:
            data["expect_call"] = self.expect_call.to_dict()
        if self.image_files:
            data["images"] = list(self.image_files)
        return data


def image_files_of(value: dict[str, Any]) -> tuple[str, ...]:
    """The pictures a prompt entry names: "image": "a.png" or "images": ["a.png", ...] (a CSV
    cell may list several, separated by ";"). ValueError with a sentence when malformed."""
    named: list[Any] = []
    for key in ("image", "images"):
        found = value.get(key)
        if found is None or found == "":
            continue
        if isinstance(found, str):
            named += [n.strip() for n in found.split(";")] if key == "images" else [found]
        elif isinstance(found, list) and key == "images":
            named += found
        else:
            raise ValueError(f'"{key}" should be a file name' + ("s" if key == "images" else ""))
    if not all(isinstance(n, str) and n.strip() for n in named):
        raise ValueError("a picture's file name is empty or not a string")
    return tuple(n.strip() for n in named)


def batch_prompt(
    value: Any, tools: tuple[ToolSpec, ...] = (), choice: ToolChoice = AUTO
) -> BatchPrompt:
    """A prompt file's entry: a string, or {"prompt": ..., "tools": [...], "tool_choice": ...,
    "expect_call": {...}, "images": [...]}; ``tools``: offered where the entry names none of
    its own; ``choice``: where it names no tool_choice. ValueError with a sentence when it
    is not one."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError('expected a string or {"prompt": "..."}')
        return BatchPrompt(value, tools, choice)
    text = value.get("prompt") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError('expected a string or {"prompt": "..."}')
    assert isinstance(value, dict)
    if "tools" in value:
        tools = parse_tools(value["tools"])
    if value.get("tool_choice") is not None:
        choice = parse_tool_choice(value["tool_choice"], tools)
    elif choice.mode == "tool" and choice.name not in {spec.name for spec in tools}:
        raise ValueError(f"the tool choice {choice.name!r} is not among this prompt's tools")
    expected = None
    if value.get("expect_call") is not None:
        expected = parse_expect_call(value["expect_call"])
        if tools and expected.name not in {spec.name for spec in tools}:
            raise ValueError(f"expect_call names {expected.name!r}, which is not among the tools")
    return BatchPrompt(text, tools, choice, expected, image_files_of(value))


@dataclass(frozen=True)
class PromptSet:
    """A batch's prompts from a file, and the lines that were skipped."""

    prompts: list[str]
    #: "line N: why" for each line that was skipped.
    problems: list[str]
    #: The prompts with their tools and expected calls (JSONL), one per prompt.
    entries: list[BatchPrompt] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.entries:  # plain prompts (text, CSV): entries of their text alone
            self.entries.extend(BatchPrompt(text) for text in self.prompts)


def parse_prompts(
    text: str, name: str, tools: tuple[ToolSpec, ...] = (), choice: ToolChoice = AUTO
) -> PromptSet:
    """Prompts from a JSONL file (one string or {"prompt": ...} per line, which may carry
    "tools", "tool_choice", "expect_call" and "image" or "images"), a CSV file with a "prompt"
    column (and maybe "image" or "images"), or plain text (one prompt per line). Bad lines
    are reported by number and skipped; the rest run.
    ``tools`` and ``choice``: for every prompt that names none of its own."""
    lower = name.lower()
    if lower.endswith(".csv"):
        found = _parse_csv(text)
        entries = [replace(e, tools=tools, tool_choice=choice) for e in found.entries]
        return PromptSet(found.prompts, found.problems, entries)
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return _parse_jsonl(text, tools, choice)
    found = PromptSet([line.strip() for line in text.splitlines() if line.strip()], [])
    entries = [BatchPrompt(p, tools, choice) for p in found.prompts]
    return PromptSet(found.prompts, found.problems, entries)


def _parse_jsonl(text: str, tools: tuple[ToolSpec, ...], choice: ToolChoice) -> PromptSet:
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({exc.args[0]})")
            continue
        try:
            entries.append(replace(batch_prompt(value, tools, choice), line=number))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    return PromptSet([e.text for e in entries], problems, entries)


def _parse_csv(text: str) -> PromptSet:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise PromptFileError('The CSV file needs a header row with a "prompt" column.')
    entries, problems = [], []
    for row in reader:
        value = (row.get("prompt") or "").strip()
        if not value:
            problems.append(f"line {reader.line_num}: empty prompt")
            continue
        try:
            files = image_files_of(row)
        except ValueError as exc:
            problems.append(f"line {reader.line_num}: {exc}")
            continue
        entries.append(BatchPrompt(value, image_files=files, line=reader.line_num))
    return PromptSet([e.text for e in entries], problems, entries)


def monthly_cost(mean_cost_per_request: float | None, requests_per_month: int) -> float | None:
    """What a model would cost at the user's volume, from the mean cost of the batch's answers."""
    if mean_cost_per_request is None:
        return None
    return mean_cost_per_request * requests_per_month


def batch_answer(result: ColumnAnswer, entry: BatchPrompt) -> dict[str, Any]:
    """One column's answer as a batch report keeps it: its text, status, metrics and calls,
    and where the prompt expects a call, the score of its first call (failed answers are not
    scored: they count as failed)."""
    row: dict[str, Any] = {
        "model": result.model_id,
        "text": result.text,
        "status": result.status,
        "error": result.error,
        "metrics": result.metrics(),
        "calls": [call_json(call) for call in result.answer.calls],
    }
    if result.adapters:
        row["adapters"] = adapters_to_json(result.adapters)
    if entry.expect_call is not None and result.status != "failed":
        score = score_answer(entry.expect_call, result.answer.calls, entry.tools)
        row["score"] = score.to_dict()
    return row


def batch_row(entry: BatchPrompt, results: list[ColumnAnswer]) -> dict[str, Any]:
    """One prompt of a batch report: the prompt, the call it expects, every column's answer."""
    row: dict[str, Any] = {"prompt": entry.text}
    if entry.image_files or entry.images:
        row["images"] = list(entry.image_files) or [i.alt for i in entry.images]
    if entry.expect_call is not None:
        row["expect_call"] = entry.expect_call.to_dict()
    row["answers"] = [batch_answer(result, entry) for result in results]
    return row


def batch_summary(
    table: list[dict[str, Any]], models: list[str], per_month: int
) -> list[dict[str, Any]]:
    """Per model: mean latency and speed, total cost of the batch and at the user's volume,
    and tool-call accuracy over the prompts that expect a call (None where none does)."""
    summary = []
    for slot, model in enumerate(models):
        answers = [row["answers"][slot] for row in table]
        ok = [a for a in answers if a["status"] != "failed"]
        ttft = [a["metrics"]["ttft_s"] for a in ok if a["metrics"]["ttft_s"] is not None]
        tps = [
            a["metrics"]["tokens_per_second"]
            for a in ok
            if a["metrics"]["tokens_per_second"] is not None
        ]
        costs = [a["metrics"]["cost_usd"] for a in ok]
        known = [c for c in costs if c is not None]
        mean_cost = mean(known) if known and len(known) == len(costs) else None
        scores = [CallScore(**a["score"]) for a in ok if a.get("score")]
        summary.append(
            {
                "model": model,
                "answers": len(ok),
                "failed": len(answers) - len(ok),
                "mean_ttft_s": mean(ttft) if ttft else None,
                "mean_tokens_per_second": mean(tps) if tps else None,
                "total_cost_usd": sum(known) if mean_cost is not None else None,
                "cost_per_month_usd": monthly_cost(mean_cost, per_month),
                "tool_calls": accuracy(scores),
            }
        )
    return summary


#: The tool-call accuracy columns of a batch summary: (key in "tool_calls", heading).
ACCURACY_COLUMNS = (
    ("right_tool", "Right tool"),
    ("right_arguments", "Right arguments"),
    ("well_formed", "Well-formed"),
)


def scored(report: dict[str, Any]) -> bool:
    """Whether any prompt of the batch expected a call (then accuracy is shown)."""
    return any(row.get("tool_calls") for row in report["summary"])


def calls_text(calls: list[dict[str, Any]]) -> str:
    """A report's calls on one line: ``get_weather({"city": "Oslo"}); ...``."""
    return "; ".join(f"{c['name']}({c['arguments']})" for c in calls)


def batch_markdown(report: dict[str, Any]) -> str:
    """A batch comparison as Markdown: the summary table (with tool-call accuracy when the
    prompts expect calls), then every prompt with its answers, calls and scores."""
    models = report["models"]
    with_calls = scored(report)
    accuracy_heads = "".join(f" {head} |" for _key, head in ACCURACY_COLUMNS) if with_calls else ""
    lines = [
        f"# Batch comparison: {report.get('source', '')}",
        "",
        f"Cost projection at {report['per_month']:,} requests per month.",
        "",
        "| Model | Answers | Failed | Mean TTFT (s) | Mean tok/s | Batch cost ($) "
        "| Per month ($) |" + accuracy_heads,
        "|---|---|---|---|---|---|---|" + ("---|" * len(ACCURACY_COLUMNS) if with_calls else ""),
    ]

    def number(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for row in report["summary"]:
        line = (
            f"| {row['model']} | {row['answers']} | {row['failed']} | "
            f"{number(row['mean_ttft_s'], 3)} | {number(row['mean_tokens_per_second'], 1)} | "
            f"{number(row['total_cost_usd'], 4)} | {number(row['cost_per_month_usd'], 2)} |"
        )
        if with_calls:
            tool_calls = row.get("tool_calls") or {}
            line += "".join(
                f" {format_share(tool_calls.get(key))} |" for key, _head in ACCURACY_COLUMNS
            )
        lines.append(line)
    if with_calls:
        lines += ["", "Tool calls are scored on the first call of each answer; none was run."]
    for index, result in enumerate(report["results"], start=1):
        lines += ["", f"## {index}. {result['prompt']}"]
        if result.get("expect_call"):
            lines += ["", f"Expected call: `{json.dumps(result['expect_call'])}`"]
        for model, answer in zip(models, result["answers"], strict=True):
            lines += ["", f"### {model} ({answer['status']})", ""]
            if answer["text"] or not answer.get("calls"):
                lines.append(answer["text"] or "_(none)_")
            if answer.get("calls"):
                lines += ["", f"Calls: `{calls_text(answer['calls'])}`"]
            if answer.get("score"):
                lines += ["", f"Score: {answer['score']['detail']}"]
            if answer.get("error"):
                lines += ["", f"> {answer['error']}"]
    return "\n".join(lines) + "\n"


#: The columns of a batch's CSV export, in order.
BATCH_CSV_FIELDS = [
    "prompt_index",
    "prompt",
    "model",
    "status",
    "error",
    "text",
    *(m.key for m in METRICS),
    "expected_call",
    "calls",
    "well_formed",
    "right_tool",
    "right_arguments",
    "score_detail",
]


def batch_csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per prompt and model, with every metric and, where a call was expected, the
    score of the answer's first call."""
    rows = []
    for index, result in enumerate(report["results"], start=1):
        expected = result.get("expect_call")
        for model, answer in zip(report["models"], result["answers"], strict=True):
            score = answer.get("score") or {}
            rows.append(
                {
                    "prompt_index": index,
                    "prompt": result["prompt"],
                    "model": model,
                    "status": answer["status"],
                    "error": answer.get("error") or "",
                    "text": answer["text"],
                    **{m.key: answer["metrics"].get(m.key) for m in METRICS},
                    "expected_call": json.dumps(expected) if expected else "",
                    "calls": calls_text(answer.get("calls") or []),
                    "well_formed": score.get("well_formed", ""),
                    "right_tool": score.get("right_tool", ""),
                    "right_arguments": score.get("right_arguments", ""),
                    "score_detail": score.get("detail", ""),
                }
            )
    return rows


def batch_export(report: dict[str, Any], suffix: str) -> str:
    """A batch report as a file's text by its suffix: Markdown (md), CSV (csv), else JSON."""
    suffix = suffix.lower().lstrip(".")
    if suffix == "md":
        return batch_markdown(report)
    if suffix == "csv":
        handle = io.StringIO(newline="")
        writer = csv.DictWriter(handle, fieldnames=BATCH_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(batch_csv_rows(report))
        return handle.getvalue()
    return json.dumps(report, indent=2, ensure_ascii=False)
