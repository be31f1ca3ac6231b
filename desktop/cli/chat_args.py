"""`llamaside chat`'s arguments: what may be asked of a model from the command line."""

from __future__ import annotations

import argparse

from desktop.cli import tools as cli_tools
from desktop.cli.chat import cmd_chat
from desktop.core.params import REASONING_EFFORTS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="ask a model and stream its answer to stdout")
    chat.add_argument("prompt", help="the message; '-' reads it from stdin")
    chat.add_argument(
        "-m", "--model", help="model id (see `llamaside models list`) or a .gguf path"
    )
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="a picture sent with the question (PNG, JPEG, WebP, GIF); repeat for more. The "
        "model must see: a local one with its vision projector, or a cloud model that does",
    )
    chat.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="FILE[:SCALE]",
        help="a LoRA adapter GGUF applied to the local model, at SCALE (default 1; 0 is off); "
        "repeat for more. Checked against the model before anything is sent. A continued chat "
        "keeps its last answer's adapters unless --lora is given",
    )
    chat.add_argument("--temperature", type=float, default=None)
    chat.add_argument("--top-p", type=float, default=None)
    chat.add_argument("--top-k", type=int, default=None)
    chat.add_argument("--min-p", type=float, default=None)
    chat.add_argument("--repeat-penalty", type=float, default=None)
    chat.add_argument("--max-tokens", type=int, default=None)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument(
        "--reasoning-effort",
        choices=[e for e in REASONING_EFFORTS if e],
        default=None,
        help="reasoning models (OpenAI o-series and GPT-5, gpt-oss): how hard they think",
    )
    chat.add_argument(
        "--thinking-budget",
        type=int,
        default=None,
        metavar="TOKENS",
        help="Claude: extended thinking with this many tokens (at least 1024; 0: off)",
    )
    # Each defaults to how the app loads the model: Preferences → Engine, then the model's own.
    chat.add_argument(
        "--ctx",
        type=int,
        default=None,
        help="context size in tokens (default: as the app loads it)",
    )
    chat.add_argument(
        "--gpu-layers",
        type=int,
        default=None,
        help="layers to offload to the GPU (-1: all, 0: none; default: as the app loads it)",
    )
    chat.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: as the app loads it)"
    )
    chat.add_argument(
        "--n-cpu-moe",
        type=int,
        default=None,
        metavar="N",
        help="mixture-of-experts models: keep the experts of the first N layers in system RAM "
        "(default: as the app loads it)",
    )
    drafts = chat.add_mutually_exclusive_group()
    drafts.add_argument(
        "--speculative",
        choices=("auto", "off", "lookup"),
        default=None,
        help="speculative decoding: lookup drafts tokens from the conversation on every answer "
        "(faster when the answer repeats it, as code edits do; a greedy answer may differ at a "
        "near tie), off, or auto: drafts only while they measure faster here, and never in a "
        "greedy answer they could change (without the flag: Preferences' choice)",
    )
    drafts.add_argument(
        "--draft-model",
        metavar="FILE",
        default=None,
        help="speculative decoding with a small GGUF of the same family (the same vocabulary) "
        "drafting the tokens the model checks",
    )
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--cpu-sampling",
        dest="sample_on_device",
        action="store_false",
        default=None,
        help="choose each token on the CPU after llama.cpp computed it (the default with a "
        "GPU build)",
    )
    where.add_argument(
        "--graph-sampling",
        dest="sample_on_device",
        action="store_true",
        default=None,
        help="choose each token inside llama.cpp's graph, on the compute device (the default "
        "on the CPU; experimental in llama.cpp, not yet checked by us on a GPU)",
    )
    which = chat.add_mutually_exclusive_group()
    which.add_argument(
        "-c",
        "--continue",
        dest="continue_last",
        action="store_true",
        help="continue the most recent chat (its model, system prompt and context)",
    )
    which.add_argument(
        "--chat", type=int, default=None, metavar="ID", help="continue the chat with this id"
    )
    which.add_argument("--no-save", action="store_true", help="do not keep this chat in history")
    chat.add_argument(
        "--share-history",
        action="store_true",
        help="a continued chat answered so far on this computer (or by another provider) may "
        "send its earlier messages to the cloud model asked now",
    )
    chat.add_argument(
        "--drop-oldest",
        action="store_true",
        help="when a continued chat has outgrown the model's context, stop sending its oldest "
        "turns (they stay in the history), as the window offers",
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the text and usage instead of streaming",
    )
    cli_tools.add_chat_arguments(chat)
    chat.set_defaults(run=cmd_chat)
