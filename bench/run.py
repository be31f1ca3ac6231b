"""Runs every benchmark and updates docs/benchmarks.md: `python bench/run.py`.

The engine benchmark builds native llama-bench once (bench/native.py, several minutes on first
use); the others need only the project's venv. GPU runs: bench/gpu/ (see docs/benchmarks.md).
"""

from __future__ import annotations

import compare
import engine
import history
import profiles
import startup
import tools
import vision

import download
import stop_latency
import stream_ui

if __name__ == "__main__":
    engine.main()
    stop_latency.main()
    stream_ui.main()
    history.main()
    startup.main()
    compare.main()
    download.main()
    profiles.main()
    tools.main()
    vision.main()
