"""What a comparison shows and reads, without Qt: a column's answer, the metric rows, how each
metric is written (the window and `llamaside compare` alike) and which column is best in each,
answers that name their own model (kept out of blind votes), prompt files for a batch, and what
a cloud model would cost at the user's volume."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from desktop.core.answer import Answer
from desktop.core.errors import LlamasideError
from desktop.core.pricing import format_cost

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
class PromptSet:
    """A batch's prompts from a file, and the lines that were skipped."""

    prompts: list[str]
    #: "line N: why" for each line that was skipped.
    problems: list[str]


def parse_prompts(text: str, name: str) -> PromptSet:
    """Prompts from a JSONL file (one string or {"prompt": ...} per line), a CSV file with a
    "prompt" column, or plain text (one prompt per line). Bad lines are reported by number and
    skipped; the rest run."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return _parse_csv(text)
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return _parse_jsonl(text)
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    return PromptSet(prompts, [])


def _parse_jsonl(text: str) -> PromptSet:
    prompts, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({exc.args[0]})")
            continue
        if isinstance(value, dict):
            value = value.get("prompt")
        if not isinstance(value, str) or not value.strip():
            problems.append(f'line {number}: expected a string or {{"prompt": "..."}}')
            continue
        prompts.append(value)
    return PromptSet(prompts, problems)


def _parse_csv(text: str) -> PromptSet:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise PromptFileError('The CSV file needs a header row with a "prompt" column.')
    prompts, problems = [], []
    for row in reader:
        value = (row.get("prompt") or "").strip()
        if value:
            prompts.append(value)
        else:
            problems.append(f"line {reader.line_num}: empty prompt")
    return PromptSet(prompts, problems)


def monthly_cost(mean_cost_per_request: float | None, requests_per_month: int) -> float | None:
    """What a model would cost at the user's volume, from the mean cost of the batch's answers."""
    if mean_cost_per_request is None:
        return None
    return mean_cost_per_request * requests_per_month


def batch_summary(
    table: list[dict[str, Any]], models: list[str], per_month: int
) -> list[dict[str, Any]]:
    """Per model: mean latency and speed, total cost of the batch and at the user's volume."""
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
        summary.append(
            {
                "model": model,
                "answers": len(ok),
                "failed": len(answers) - len(ok),
                "mean_ttft_s": mean(ttft) if ttft else None,
                "mean_tokens_per_second": mean(tps) if tps else None,
                "total_cost_usd": sum(known) if mean_cost is not None else None,
                "cost_per_month_usd": monthly_cost(mean_cost, per_month),
            }
        )
    return summary


def batch_markdown(report: dict[str, Any]) -> str:
    """A batch comparison as Markdown: the summary table, then every prompt with its answers."""
    models = report["models"]
    lines = [
        f"# Batch comparison: {report.get('source', '')}",
        "",
        f"Cost projection at {report['per_month']:,} requests per month.",
        "",
        "| Model | Answers | Failed | Mean TTFT (s) | Mean tok/s | Batch cost ($) "
        "| Per month ($) |",
        "|---|---|---|---|---|---|---|",
    ]

    def number(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for row in report["summary"]:
        lines.append(
            f"| {row['model']} | {row['answers']} | {row['failed']} | "
            f"{number(row['mean_ttft_s'], 3)} | {number(row['mean_tokens_per_second'], 1)} | "
            f"{number(row['total_cost_usd'], 4)} | {number(row['cost_per_month_usd'], 2)} |"
        )
    for index, result in enumerate(report["results"], start=1):
        lines += ["", f"## {index}. {result['prompt']}"]
        for model, answer in zip(models, result["answers"], strict=True):
            lines += ["", f"### {model} ({answer['status']})", "", answer["text"] or "_(none)_"]
            if answer.get("error"):
                lines += ["", f"> {answer['error']}"]
    return "\n".join(lines) + "\n"


def batch_csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per prompt and model, with every metric."""
    rows = []
    for index, result in enumerate(report["results"], start=1):
        for model, answer in zip(report["models"], result["answers"], strict=True):
            rows.append(
                {
                    "prompt_index": index,
                    "prompt": result["prompt"],
                    "model": model,
                    "status": answer["status"],
                    "error": answer.get("error") or "",
                    "text": answer["text"],
                    **{m.key: answer["metrics"].get(m.key) for m in METRICS},
                }
            )
    return rows
