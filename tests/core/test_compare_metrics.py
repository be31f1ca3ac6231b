"""A comparison column's answer (the source's Answer and what the comparison adds) and how its
metrics are written: one way for the compare window and `llamaside compare`."""

from __future__ import annotations

import pytest

from desktop.core.answer import Answer, Failed, Finished, TextDelta
from desktop.core.compare import ColumnAnswer, format_metric
from desktop.core.usage import StopReason, Usage

USAGE = Usage(
    prompt_tokens=20, output_tokens=11, time_to_first_token_s=0.25, total_s=1.25
)  # 10 tokens after the first in 1 s: 10 tokens/s


def answered(*events: TextDelta | Finished | Failed) -> Answer:
    answer = Answer()
    for event in events:
        answer.add(event)
    return answer


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("ttft_s", 0.183, "0.18 s"),
        ("total_s", 2, "2.00 s"),
        ("tokens_per_second", 41.26, "41.3"),
        ("output_tokens", 12, "12"),
        ("cost_usd", 0.0, "$0"),
        ("cost_usd", 0.00123, "$0.0012"),
        ("context_used", 0.031, "3.1%"),
        ("ttft_s", None, "–"),
        ("cost_usd", None, "–"),
    ],
)
def test_format_metric(key: str, value: float | None, shown: str) -> None:
    assert format_metric(key, value) == shown


def test_a_local_answer_costs_nothing_and_fills_its_context() -> None:
    result = ColumnAnswer(
        "local:smol",
        answered(TextDelta("Apple."), Finished(USAGE)),
        local=True,
        n_ctx=62,
    )
    assert (result.text, result.status, result.error) == ("Apple.", "complete", None)
    stored = result.stored_usage()
    assert stored is not None and stored["n_ctx"] == 62 and "cost_usd" not in stored
    metrics = result.metrics()
    assert metrics["cost_usd"] == 0.0 and metrics["context_used"] == pytest.approx(0.5)
    assert metrics["tokens_per_second"] == pytest.approx(10.0)
    assert result.summary() == "11 tokens · 10.0 tok/s"  # no cost line for a local model


def test_a_cloud_answer_carries_its_cost() -> None:
    cost = {"cost_usd": 0.00123, "price_source": "shipped", "price_checked": "2025-01-01"}
    result = ColumnAnswer("openai:gpt-4o", answered(TextDelta("Pear."), Finished(USAGE)), cost=cost)
    stored = result.stored_usage()
    assert stored is not None and stored["cost_usd"] == 0.00123
    assert stored["price_source"] == "shipped" and stored["n_ctx"] is None
    assert result.metrics()["cost_usd"] == 0.00123
    assert result.summary() == "11 tokens · 10.0 tok/s · $0.0012"
    unknown = ColumnAnswer("x:y", answered(Finished(USAGE)), cost={"cost_usd": None})
    assert unknown.summary().endswith("price unknown")


def test_stopped_failed_and_unfinished_answers() -> None:
    stopped = ColumnAnswer(
        "openai:gpt-4o",
        answered(TextDelta("Pe"), Finished(Usage(stop_reason=StopReason.CANCELLED))),
    )
    assert stopped.status == "stopped" and stopped.text == "Pe"
    failed = ColumnAnswer("openai:gpt-4o", answered(TextDelta("Pe"), Failed("It broke.")))
    assert (failed.status, failed.error, failed.text) == ("failed", "It broke.", "Pe")
    assert failed.stored_usage() is None and failed.summary() == ""
    assert all(v is None for v in failed.metrics().values())
    # Never said how it ended (closed mid-stream, or stopped before it began): stopped.
    shown = ColumnAnswer("local:smol", Answer(pieces=["Ap"]), local=True)
    assert shown.status == "stopped" and shown.stored_usage() is None
