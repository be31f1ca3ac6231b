"""The `llamaside` command: opens the app, or chats and manages models from a terminal.

Two flags come before any command: ``--self-test`` checks an install (or a bundle) without a
window, and ``--engine`` (internal) makes a frozen app its own engine child.

The CLI uses the same engine child, history database and model folder as the window, and never
imports Qt unless it opens the window.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from desktop import __version__
from desktop.cli import chat_args, cloud, compare, models, serve, tools
from desktop.core.errors import LlamasideError
from desktop.storage.models_folder import with_chosen_models
from desktop.storage.paths import AppPaths
from desktop.storage.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llamaside",
        description="Private chat with local Llama models. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"llamaside {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this install without opening a window: load the bundled model, generate a "
        "few tokens, use a history database in a temporary folder; exit 0 if all works",
    )
    sub = parser.add_subparsers(dest="command")
    chat_args.add_parser(sub)
    models.add_parser(sub)
    cloud.add_parsers(sub)
    compare.add_parsers(sub)
    tools.add_parser(sub)
    serve.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 (one exit per outcome)
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--engine"]:
        # The frozen app starts its own engine child this way (same executable, a flag).
        from desktop.engine.worker import main as engine_main

        return engine_main()
    args = _parser().parse_args(args_list)
    if args.self_test:
        from desktop.cli import self_test

        return self_test.run(sys.stdout, sys.stderr)
    if args.command is None:
        from desktop.app import main as gui_main

        return gui_main([sys.argv[0], *args_list])
    try:
        home = AppPaths.from_env().create()
        paths, models_note = with_chosen_models(home, Settings(home.settings))
        if models_note:
            sys.stderr.write(f"llamaside: note: {models_note}\n")
        return int(args.run(args, paths, sys.stdout))
    except LlamasideError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"llamaside: error: {exc}\n")
        return 1
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"llamaside: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            sys.stderr.write(
                f"llamaside: internal error: {type(exc).__name__}: {exc} "
                f"(run with --debug for details)\n"
            )
        return 2
