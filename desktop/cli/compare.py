"""`llamaside compare` (one prompt, or a batch file, through 2-4 models at once) and
`llamaside leaderboard` (ratings from the user's blind votes). Pictures go with a prompt
(`--image FILE`, or a batch prompt's "image"/"images", relative to its file): a column whose
model cannot see says so and the others answer. A local column may answer with LoRA adapters:
`--lora FILE[:SCALE]` applies to the `-m` just before it (base vs fine-tune: the same model
twice, one followed by --lora); one that does not fit its model exits with 2 before anything
runs."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from desktop.backends.catalog_file import load_pricing
from desktop.backends.compare_run import (
    Column,
    fit_together,
    run_round,
    share_engines,
    threads_each,
)
from desktop.backends.engine_client import physical_cores
from desktop.backends.engine_modes import ModeMemory
from desktop.backends.hardware import detect
from desktop.backends.images import ImageError
from desktop.backends.local_models import available_models, resolve_model
from desktop.backends.lora_check import AdapterRefused, check_adapter
from desktop.backends.network import Network
from desktop.backends.providers import Providers, open_provider
from desktop.cli.chat import sampling_from
from desktop.cli.load_settings import column_params, machine_of
from desktop.cli.network import open_network
from desktop.cli.pictures import image_json, store_pictures
from desktop.core.adapters import Adapter, adapters_to_json, parse_lora_argument, with_adapters
from desktop.core.compare import (
    MAX_COLUMNS,
    METRICS,
    MIN_COLUMNS,
    BatchPrompt,
    ColumnAnswer,
    batch_export,
    batch_row,
    batch_summary,
    calls_text,
    format_metric,
    parse_prompts,
)
from desktop.core.context import title_for
from desktop.core.errors import InvalidParameter
from desktop.core.messages import MessageStatus
from desktop.core.models import LOCAL_PREFIX, CloudModel, LocalModel
from desktop.core.parts import Image, Text
from desktop.core.pricing import PricingError
from desktop.core.ratings import contestant_name, leaderboard
from desktop.core.tool_score import call_json, format_share, parse_tool_choice, parse_tools
from desktop.core.tools import AUTO, ToolChoice, ToolSpec
from desktop.services.turn import ComparisonAnswerRow
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings
from desktop.storage.store import ChatStore


class _ModelAction(argparse.Action):
    """-m MODEL: one column, with no adapters until a --lora after it gives some."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        namespace.model = [*(namespace.model or []), str(values)]
        namespace.lora = [*(namespace.lora or []), []]


class _LoraAction(argparse.Action):
    """--lora FILE[:SCALE]: an adapter for the column of the -m just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if not namespace.model:
            parser.error("--lora applies to the -m/--model just before it: give the model first")
        lora = [list(texts) for texts in namespace.lora]
        lora[-1].append(str(values))
        namespace.lora = lora


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = sub.add_parser(
        "compare",
        help="one prompt (or a batch file) to 2-4 models at once",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="base vs fine-tune (the second column answers with my-tune at scale 0.8; the\n"
        "model is loaded once for both):\n"
        '  llamaside compare -m smollm2 -m smollm2 --lora my-tune.gguf:0.8 "Hello"',
    )
    compare.add_argument("prompt", nargs="?", help="the prompt ('-' reads stdin)")
    compare.add_argument(
        "-m", "--model", action=_ModelAction, default=[], help="a model id; give 2 to 4"
    )
    compare.add_argument(
        "--lora",
        action=_LoraAction,
        default=[],
        metavar="FILE[:SCALE]",
        help="a LoRA adapter GGUF for the local model of the -m just before it, at SCALE "
        "(default 1); repeat for more on that model. Checked against it before anything runs",
    )
    compare.add_argument("--batch", metavar="FILE", help="prompts from a .jsonl, .csv or .txt file")
    compare.add_argument(
        "--out",
        metavar="FILE",
        help="write the batch results here: JSON, or Markdown (.md) or CSV (.csv) by its name",
    )
    compare.add_argument(
        "--tools",
        metavar="FILE",
        help="a JSON list of OpenAI function entries offered to every model (a batch prompt's "
        "own tools take its place); calls are shown and scored, never run",
    )
    compare.add_argument(
        "--tool-choice",
        default=None,
        metavar="CHOICE",
        help="auto (default), required, none, or a tool's name; a batch prompt's own "
        "tool_choice takes its place",
    )
    compare.add_argument(
        "--per-month",
        type=int,
        default=10_000,
        metavar="N",
        help="requests per month, for the cost projection (default 10000)",
    )
    compare.add_argument("--system", default="", help="system prompt for every model")
    compare.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="a picture sent with the prompt to every model (repeat for more); a model that "
        "cannot see says so instead of answering",
    )
    compare.add_argument("--max-tokens", type=int, default=None)
    compare.add_argument("--temperature", type=float, default=None)
    compare.add_argument("--seed", type=int, default=None)
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    compare.add_argument("--no-save", action="store_true", help="keep nothing in the history")
    compare.set_defaults(run=cmd_compare)

    board = sub.add_parser("leaderboard", help="ratings of models from your blind votes")
    board.add_argument("--tag", default=None, help="only votes with this tag")
    board.add_argument("--days", type=int, default=None, help="only votes of the last N days")
    board.add_argument(
        "--include-flagged",
        action="store_true",
        help="count votes on answers that named their own model",
    )
    board.add_argument("--json", action="store_true")
    board.set_defaults(run=cmd_leaderboard)


def _model(ref: str, local: list[LocalModel], providers: Providers) -> LocalModel | CloudModel:
    if ":" in ref and not ref.startswith(LOCAL_PREFIX):
        name, model_name = ref.split(":", 1)
        if name in {c.name for c in providers.all()}:
            config = providers.get(name)
            return CloudModel(name, model_name, config.label or name)
    return resolve_model(ref, local)


@contextlib.contextmanager
def _columns(
    args: argparse.Namespace, paths: AppPaths, store: ChatStore, network: Network
) -> Iterator[tuple[list[Column], bool]]:
    """The columns, and whether their local models run at once (else they take turns)."""
    if not MIN_COLUMNS <= len(args.model) <= MAX_COLUMNS:
        raise InvalidParameter(f"Give {MIN_COLUMNS} to {MAX_COLUMNS} models with -m.")
    settings = Settings(paths.settings)
    providers = Providers(settings.get("providers", {}))
    local = available_models(paths.models, store.user_models())
    models = [_model(ref, local, providers) for ref in args.model]
    adapters = _adapters(args, models)
    try:
        pricing = load_pricing(paths.pricing)
    except PricingError as exc:
        sys.stderr.write(f"llamaside: {exc} Using the shipped prices.\n")
        pricing = load_pricing(None)
    # Every cloud column is checked (on, keyed, online) before anything is sent anywhere.
    for model in models:
        if isinstance(model, CloudModel):
            open_provider(providers.get(model.provider), network).close()
    # One engine child per local model file: its columns (base vs fine-tune) share it.
    local = list({m.path: m for m in models if isinstance(m, LocalModel)}.values())
    together = _local_together(local, paths)
    threads = threads_each(len(local) if together else 1, physical_cores())
    columns = [
        Column(
            model,
            load_params=column_params(
                settings, model, threads, store=store, machine=machine_of(paths)
            ),
            open_cloud=lambda m: open_provider(providers.get(m.provider), network),
            pricing=pricing,
            engine_log=paths.engine_log,
            modes=ModeMemory(paths.engine_modes),
            system_prompt=args.system,
            image_root=str(paths.images),
            adapters=column_adapters,
        )
        for model, column_adapters in zip(models, adapters, strict=True)
    ]
    share_engines(columns)
    try:
        yield columns, together
    finally:
        for column in columns:
            column.close()


def _adapters(
    args: argparse.Namespace, models: list[LocalModel | CloudModel]
) -> list[tuple[Adapter, ...]]:
    """Each column's --lora adapters, each checked against its model's headers (AdapterRefused
    names one that does not fit, before anything is loaded or sent)."""
    given = list(getattr(args, "lora", None) or [])
    given += [[] for _ in range(len(models) - len(given))]
    found = []
    for model, texts in zip(models, given, strict=True):
        adapters = tuple(parse_lora_argument(text) for text in texts)
        if adapters and isinstance(model, CloudModel):
            raise InvalidParameter(
                f"LoRA adapters change a local model's weights; {model.id} is a cloud model. "
                "Give --lora after a local model's -m."
            )
        for adapter in adapters:
            assert isinstance(model, LocalModel)
            check_adapter(adapter, model.path)
        found.append(adapters)
    return found


def _local_together(local: list[LocalModel], paths: AppPaths) -> bool:
    if len(local) < 2:
        return True
    together = fit_together(local, detect(paths.models, False).ram_available)
    if not together:
        sys.stderr.write("The local models do not fit in memory together: they take turns.\n")
    return together


def _row(result: ColumnAnswer) -> dict[str, Any]:
    return {
        "model": result.model_id,
        "adapters": adapters_to_json(result.adapters),
        "label": result.variant,
        "text": result.text,
        "status": result.status,
        "error": result.error,
        "metrics": result.metrics(),
        "calls": [call_json(call) for call in result.answer.calls],
    }


def _tools(args: argparse.Namespace) -> tuple[tuple[ToolSpec, ...], ToolChoice]:
    """The tools given with --tools (a JSON list, or an object with a "tools" list) and the
    --tool-choice; none and auto without them."""
    tools: tuple[ToolSpec, ...] = ()
    if args.tools:
        try:
            data = json.loads(Path(args.tools).read_text(encoding="utf-8"))
            if isinstance(data, dict) and "tools" in data:
                data = data["tools"]
            tools = parse_tools(data)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"Cannot read {args.tools}: {exc}") from None
        except ValueError as exc:
            raise InvalidParameter(f"{args.tools}: {exc}.") from None
    if args.tool_choice is None:
        return tools, AUTO
    if not tools and not args.batch:
        raise InvalidParameter("--tool-choice needs --tools.")
    try:
        # A tool's name is checked against each batch prompt's own tools as it is read.
        named = tools or (ToolSpec(args.tool_choice.strip()),)
        return tools, parse_tool_choice(args.tool_choice, named)
    except ValueError as exc:
        raise InvalidParameter(f"--tool-choice: {exc}.") from None


def _save_round(
    store: ChatStore,
    comparison_id: int,
    round_index: int,
    prompt: str,
    results: list[ColumnAnswer],
    *,
    images: Sequence[Image] = (),
) -> None:
    for slot, result in enumerate(results):
        row = ComparisonAnswerRow(
            store,
            comparison_id,
            round_index=round_index,
            slot=slot,
            model_id=result.model_id,
            prompt=prompt,
        )
        row.finish(result.answer, MessageStatus(result.status), result.stored_usage())
    if images:
        store.save_comparison_prompt(comparison_id, round_index, (*images, Text(prompt)))


def cmd_compare(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    """A picture that cannot be read (or a batch's that is missing), or a LoRA adapter that
    does not fit its model, exits with 2 before anything is sent."""
    try:
        if args.batch:
            if args.image:
                raise InvalidParameter('A batch names its pictures per prompt ("image").')
            return _batch(args, paths, out)
        return _compare(args, paths, out)
    except (ImageError, AdapterRefused) as exc:
        sys.stderr.write(f"llamaside: error: {exc}\n")
        return 2


def _compare(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt or not prompt.strip():
        raise InvalidParameter("Give a prompt (or --batch FILE).")
    tools, tool_choice = _tools(args)
    images = store_pictures(paths, args.image)
    settings = Settings(paths.settings)
    store = ChatStore(paths.database)
    try:
        with (
            open_network(paths) as network,
            _columns(args, paths, store, network) as (
                columns,
                together,
            ),
        ):
            results = run_round(
                columns,
                prompt,
                sampling_from(args, settings.sampling()),
                lambda _s, _t: None,
                local_together=together,
                tools=tools,
                tool_choice=tool_choice,
                images=images,
            )
        comparison_id = None
        if not args.no_save:
            comparison_id = store.create_comparison(
                title_for(prompt),
                "compare",
                [c.model.id for c in columns],
                adapters=[c.adapters for c in columns],
            )
            _save_round(store, comparison_id, 0, prompt, results, images=images)
    finally:
        store.close()
    rows = [_row(r) for r in results]
    if args.json:
        out.write(
            json.dumps(
                {
                    "prompt": prompt,
                    "images": [image_json(i) for i in images],
                    "comparison_id": comparison_id,
                    "columns": rows,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    else:
        for row in rows:
            out.write(f"=== {row['label']} ===\n{row['text']}\n")
            for call in row["calls"]:  # shown, never run
                out.write(f"[tool call, not run] {calls_text([call])}\n")
            if row["error"]:
                out.write(f"[{row['status']}: {row['error']}]\n")
            out.write("\n")
        _metrics_table(rows, out)
    return 0 if any(r["status"] != "failed" for r in rows) else 1


def _metrics_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    width = max(14, *(len(r["label"]) for r in rows))
    out.write(" " * 22 + "".join(f"{r['label']:>{width + 2}}" for r in rows) + "\n")
    for metric in METRICS:
        cells = "".join(
            f"{format_metric(metric.key, r['metrics'][metric.key]):>{width + 2}}" for r in rows
        )
        out.write(f"{metric.label:<22}{cells}\n")


def _batch(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    source = Path(args.batch)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"Cannot read {source}: {exc}") from None
    tools, tool_choice = _tools(args)
    prompt_set = parse_prompts(text, source.name, tools, tool_choice)
    entries = prompt_set.entries
    for problem in prompt_set.problems:
        sys.stderr.write(f"{source}: {problem} (skipped)\n")
    if not prompt_set.prompts:
        raise InvalidParameter(f"{source} has no usable prompts.")
    entries = _batch_pictures(entries, source, paths)
    settings = Settings(paths.settings)
    sampling = sampling_from(args, settings.sampling())
    store = ChatStore(paths.database)
    table: list[dict[str, Any]] = []
    try:
        with (
            open_network(paths) as network,
            _columns(args, paths, store, network) as (
                columns,
                together,
            ),
        ):
            comparison_id = None
            if not args.no_save:
                comparison_id = store.create_comparison(
                    f"Batch: {source.name}",
                    "batch",
                    [c.model.id for c in columns],
                    adapters=[c.adapters for c in columns],
                )
            total = len(entries)
            for index, entry in enumerate(entries):
                for column in columns:
                    column.history.clear()  # every prompt of a batch stands alone
                results = run_round(
                    columns,
                    entry.text,
                    sampling,
                    lambda _s, _t: None,
                    local_together=together,
                    tools=entry.tools,
                    tool_choice=entry.tool_choice,
                    images=entry.images,
                )
                sys.stderr.write(f"\r{index + 1}/{total} prompts")
                table.append(batch_row(entry, results))
                if comparison_id is not None:
                    _save_round(
                        store, comparison_id, index, entry.text, results, images=entry.images
                    )
            sys.stderr.write("\n")
            models = [with_adapters(c.model.id, c.adapters) for c in columns]
    finally:
        store.close()
    summary = batch_summary(table, models, args.per_month)
    report = {
        "source": str(source),
        "skipped": prompt_set.problems,
        "models": models,
        "per_month": args.per_month,
        "summary": summary,
        "results": table,
    }
    show_json = args.json
    if args.out:
        try:
            Path(args.out).write_text(batch_export(report, Path(args.out).suffix), "utf-8")
        except OSError as exc:
            # The answers were paid for: never lose them to a bad path or a full disk.
            sys.stderr.write(
                f"llamaside: could not write {args.out} ({exc.strerror or exc}); "
                f"the report follows on stdout.\n"
            )
            show_json = True
        else:
            # On stderr: with --json, stdout is the report and nothing else.
            sys.stderr.write(f"Wrote {len(table)} prompts x {len(models)} models to {args.out}.\n")
    if show_json:
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        for row in summary:
            out.write(
                f"{row['model']:<40} ttft {format_metric('ttft_s', row['mean_ttft_s'])}  "
                f"{format_metric('tokens_per_second', row['mean_tokens_per_second'])} tok/s  "
                f"total {format_metric('cost_usd', row['total_cost_usd'])}  "
                f"per month {format_metric('cost_usd', row['cost_per_month_usd'])}  "
                f"failed {row['failed']}{_accuracy_text(row['tool_calls'])}\n"
            )
    answered = any(a["status"] != "failed" for row in table for a in row["answers"])
    return 0 if answered else 1


def _batch_pictures(entries: list[BatchPrompt], source: Path, paths: AppPaths) -> list[BatchPrompt]:
    """The batch's prompts with the pictures they name stored (paths relative to the batch
    file). Every missing picture is said with its line before anything runs (ImageError)."""
    missing = [
        f"line {entry.line}: there is no picture {name} ({source.parent / name})"
        for entry in entries
        for name in entry.image_files
        if not (source.parent / name).expanduser().is_file()
    ]
    if missing:
        raise ImageError(f"{source}: " + "; ".join(missing) + ". Nothing was sent.")
    found = []
    for entry in entries:
        try:
            images = store_pictures(paths, [source.parent / n for n in entry.image_files])
        except ImageError as exc:
            raise ImageError(f"{source}: line {entry.line}: {exc} Nothing was sent.") from None
        found.append(dataclasses.replace(entry, images=tuple(images)))
    return found


def _accuracy_text(tool_calls: dict[str, Any] | None) -> str:
    """A summary line's tool-call accuracy ("" where no prompt expected a call)."""
    if not tool_calls:
        return ""
    return (
        f"  right tool {format_share(tool_calls['right_tool'])}"
        f"  right args {format_share(tool_calls['right_arguments'])}"
        f"  well-formed {format_share(tool_calls['well_formed'])}"
        f" (of {tool_calls['scored']})"
    )


def cmd_leaderboard(args: argparse.Namespace, paths: AppPaths, out: TextIO) -> int:
    since = None
    if args.days is not None:
        since = (datetime.now(timezone.utc) - timedelta(days=args.days)).isoformat()
    store = ChatStore(paths.database)
    try:
        votes = store.votes(tag=args.tag, since=since)
    finally:
        store.close()
    kept = [vote for vote in votes if args.include_flagged or not vote.flagged]
    table = leaderboard(kept)
    left_out = len(votes) - len(kept)
    if args.json:
        out.write(
            json.dumps(
                {
                    "votes": len(kept),
                    "flagged_left_out": left_out,
                    "ratings": [
                        {
                            "model": r.model_id,
                            "adapters": adapters_to_json(r.adapters),
                            "name": contestant_name(r.model, str),
                            "rating": round(r.rating, 1),
                            "low": round(r.low, 1),
                            "high": round(r.high, 1),
                            "wins": r.wins,
                            "losses": r.losses,
                            "ties": r.ties,
                            "win_rate": round(r.win_rate, 4),
                        }
                        for r in table
                    ],
                }
            )
            + "\n"
        )
        return 0
    if not table:
        out.write("No votes yet: vote in the compare window's blind mode.\n")
        return 0
    out.write(f"{'#':>2}  {'model':<40} {'rating':>7}  {'95% CI':>13}  {'W-L-T':>9}  win rate\n")
    for rank, r in enumerate(table, start=1):
        name = contestant_name(r.model, str)  # "local:x + my-tune × 0.8"
        out.write(
            f"{rank:>2}  {name:<40} {r.rating:>7.0f}  {r.low:>6.0f}-{r.high:<6.0f}  "
            f"{f'{r.wins}-{r.losses}-{r.ties}':>9}  {r.win_rate:.0%}\n"
        )
    if left_out:
        out.write(
            f"{left_out} vote(s) on answers that named their own model are left out "
            f"(--include-flagged counts them).\n"
        )
    return 0
