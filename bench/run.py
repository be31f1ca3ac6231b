"""Runs every benchmark and updates docs/benchmarks.md: `python bench/run.py`."""

from __future__ import annotations

import download
import stop_latency
import stream_ui
import throughput

if __name__ == "__main__":
    throughput.main()
    stop_latency.main()
    stream_ui.main()
    download.main()
