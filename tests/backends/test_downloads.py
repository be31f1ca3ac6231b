"""Hub metadata through the real huggingface_hub, and our resumable downloader, against a hub
server of ours on 127.0.0.1 serving the real SmolLM2 GGUF, with faults injected."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from desktop.backends import downloader as dl
from desktop.backends.downloader import (
    DownloadCancelled,
    DownloadError,
    HashMismatchError,
    RemoteFile,
    download_file,
    part_path,
)
from desktop.backends.hub import Hub, HubError, HubGated, HubOffline, group_files, select
from tests.hubserver import HubServer

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
SPLIT_REPO = "test-org/Split-GGUF"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, smollm_path: str) -> Iterator[HubServer]:
    with HubServer() as server:
        server.state.add(REPO, "SmolLM2-135M-Instruct.Q4_1.gguf", Path(smollm_path))
        server.state.add(REPO, "README.md", b"# readme")
        data = Path(smollm_path).read_bytes()
        half = len(data) // 2
        server.state.add(SPLIT_REPO, "Q4/Model-Q4-00001-of-00002.gguf", data[:half])
        server.state.add(SPLIT_REPO, "Q4/Model-Q4-00002-of-00002.gguf", b"GGUF" + data[half:])
        server.state.add(SPLIT_REPO, "Model-Q8.gguf", data)
        server.state.add(SPLIT_REPO, "mmproj-Model-f16.gguf", b"GGUF....")
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


def remote_for(
    hub: HubServer, repo: str = REPO, path: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
) -> RemoteFile:
    return next(f for f in Hub().gguf_files(repo) if f.path == path)


def test_gguf_files_have_sizes_and_hashes_from_the_hub(hub: HubServer, smollm_path: str) -> None:
    files = Hub().gguf_files(REPO)
    assert [f.path for f in files] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]  # README left out
    data = Path(smollm_path).read_bytes()
    assert files[0].size == len(data)
    assert files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert files[0].url.startswith(hub.url) and "/resolve/" in files[0].url


def test_split_files_are_grouped_and_selected_by_quant(hub: HubServer) -> None:
    groups = group_files(Hub().gguf_files(SPLIT_REPO))
    names = [g.name for g in groups]
    assert names == ["Model-Q4", "Model-Q8", "mmproj-Model-f16"]
    q4 = select(groups, "q4")
    assert [f.path for f in q4.files] == [
        "Q4/Model-Q4-00001-of-00002.gguf",
        "Q4/Model-Q4-00002-of-00002.gguf",
    ]
    assert select(groups, "Q4/Model-Q4-00002-of-00002.gguf") is q4
    with pytest.raises(HubError, match="matches several"):
        select(groups, "model")
    with pytest.raises(HubError, match="No GGUF matching 'Q2_K'"):
        select(groups, "Q2_K")


def test_search(hub: HubServer) -> None:
    found = Hub().search("smollm2")
    assert [r.repo for r in found] == [REPO]


def test_download_verifies_and_renames(hub: HubServer, tmp_path: Path, smollm_path: str) -> None:
    remote = remote_for(hub)
    seen: list[int] = []
    target = download_file(remote, tmp_path / "m.gguf", on_progress=lambda p: seen.append(p.done))
    assert target.read_bytes() == Path(smollm_path).read_bytes()
    assert not part_path(target).exists()
    assert seen and seen[-1] == remote.size
    assert seen == sorted(seen)


def test_resume_after_a_dropped_connection(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    hosted = hub.state.file(REPO, remote.path)
    hosted.faults.drop_after = [10_000_000, 30_000_000]
    target = download_file(remote, tmp_path / "m.gguf", sleep=lambda _s: None)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == remote.sha256
    # Three requests, each resuming where the last one's bytes ended on disk.
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in hosted.requests]
    assert len(starts) == 3 and starts[0] == 0
    assert 10_000_000 - 256 * 1024 <= starts[1] <= 10_000_000
    assert 40_000_000 - 512 * 1024 <= starts[2] <= 40_000_000
    # What a drop loses is at most what was in flight, far under 1% of the file.
    assert hosted.bytes_sent - remote.size < remote.size // 100


def test_a_drop_loses_nothing_that_arrived_and_the_hash_is_not_redone(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = remote_for(hub)
    hosted = hub.state.file(REPO, remote.path)
    drop = 10_000_000 + 12_345  # mid-buffer: what had arrived must still be written
    hosted.faults.drop_after = [drop]
    covered: list[tuple[int, int]] = []
    cover = dl.RunningHash.cover

    def spy(self: dl.RunningHash, part: Path, have: int, cancel: threading.Event) -> None:
        covered.append((self.length, have))
        cover(self, part, have, cancel)

    monkeypatch.setattr(dl.RunningHash, "cover", spy)
    target = download_file(remote, tmp_path / "m.gguf", sleep=lambda _s: None)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == remote.sha256
    # The resume asks for exactly the first byte not on disk: nothing is fetched twice.
    assert hosted.requests == ["bytes=0-", f"bytes={drop}-"]
    assert hosted.bytes_sent == remote.size
    # The running hash already covered every byte on disk when the resume started: the .part
    # was not read back to hash it again.
    assert covered[1:] == [(drop, drop), (remote.size, remote.size)]


def test_a_corrupt_resumed_download_is_still_refused(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    faults = hub.state.file(REPO, remote.path).faults
    faults.drop_after = [20_000_000]
    faults.corrupt_at = 30_000_000  # after the resume point
    target = tmp_path / "m.gguf"
    with pytest.raises(HashMismatchError):
        download_file(remote, target, sleep=lambda _s: None)
    assert not target.exists() and not part_path(target).exists()


def test_a_client_without_a_socket_goes_through_httpx(tmp_path: Path, smollm_path: str) -> None:
    # A transport with no socket to read from (here httpx's MockTransport; in life, HTTP/2 or
    # a compressed body) still downloads, resumes and verifies, through httpx's iterator.
    data = Path(smollm_path).read_bytes()[:3_000_000]
    ranges: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("Range", ""))
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        body = data[start:]
        if len(ranges) == 1:
            body = body[:1_000_000]  # the first answer falls short, as after a drop
        return httpx.Response(
            206,
            headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
            content=body,
        )

    remote = RemoteFile("r/r", "m.gguf", "http://hub.test/m.gguf", len(data), _sha(data))
    with httpx.Client(transport=httpx.MockTransport(serve)) as client:
        target = download_file(remote, tmp_path / "m.gguf", client=client, sleep=lambda _s: None)
        assert target.read_bytes() == data
        assert ranges == ["bytes=0-", "bytes=1000000-"]
        bad = RemoteFile("r/r", "b.gguf", remote.url, len(data), _sha(b"other"))
        with pytest.raises(HashMismatchError):
            download_file(bad, tmp_path / "b.gguf", client=client)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_resume_from_a_part_left_by_an_earlier_run(
    hub: HubServer, tmp_path: Path, smollm_path: str
) -> None:
    remote = remote_for(hub)
    target = tmp_path / "m.gguf"
    part_path(target).write_bytes(Path(smollm_path).read_bytes()[:60_000_000])
    hosted = hub.state.file(REPO, remote.path)
    download_file(remote, target)
    assert hosted.requests == ["bytes=60000000-"]
    assert hosted.bytes_sent == remote.size - 60_000_000


def test_retries_server_errors_and_rate_limits(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    hosted = hub.state.file(REPO, remote.path)
    hosted.faults.statuses = [500, 429, 503]
    hosted.faults.retry_after = 7
    waits: list[float] = []
    target = download_file(remote, tmp_path / "m.gguf", sleep=waits.append)
    assert target.exists()
    assert len(hosted.requests) == 4
    assert sum(waits) >= 7  # Retry-After was honoured


def test_corrupt_download_is_rejected_and_deleted(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    hub.state.file(REPO, remote.path).faults.corrupt_at = 5_000_000
    target = tmp_path / "m.gguf"
    with pytest.raises(HashMismatchError) as info:
        download_file(remote, target)
    assert "damaged" in str(info.value) and remote.path in str(info.value)
    assert not target.exists() and not part_path(target).exists()


def test_server_that_ignores_range_restarts_cleanly(
    hub: HubServer, tmp_path: Path, smollm_path: str
) -> None:
    remote = remote_for(hub)
    hub.state.file(REPO, remote.path).faults.ignore_range = True
    target = tmp_path / "m.gguf"
    part_path(target).write_bytes(b"x" * 1000)  # would corrupt the file if appended to
    download_file(remote, target)
    assert target.read_bytes() == Path(smollm_path).read_bytes()


def test_pause_keeps_the_part_and_resume_finishes(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    hosted = hub.state.file(REPO, remote.path)
    hosted.faults.rate = 40_000_000
    cancel = threading.Event()
    target = tmp_path / "m.gguf"

    def pause_when_started(progress: dl.Progress) -> None:
        if progress.done > 5_000_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download_file(remote, target, on_progress=pause_when_started, cancel=cancel)
    kept = part_path(target).stat().st_size
    assert 5_000_000 < kept < remote.size
    hosted.faults.rate = None
    download_file(remote, target)
    assert target.stat().st_size == remote.size
    assert hosted.bytes_sent < remote.size + 2_000_000  # at most a chunk or two again


def test_gated_repo_needs_a_token(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub.state.repos[REPO].gated_token = "hf_secret"
    with pytest.raises(HubGated) as info:
        Hub().gguf_files(REPO)
    assert "gated" in str(info.value) and "token" in str(info.value)
    authorised = Hub(token="hf_secret")
    [remote] = authorised.gguf_files(REPO)
    with pytest.raises(DownloadError, match="needs permission"):
        download_file(remote, tmp_path / "m.gguf")  # bytes need the token too
    download_file(remote, tmp_path / "m.gguf", headers=authorised.headers())
    assert (tmp_path / "m.gguf").exists()


def test_unknown_repo(hub: HubServer) -> None:
    with pytest.raises(HubError, match="No model repo"):
        Hub().gguf_files("nobody/nothing")


def test_offline_is_reported_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nobody listens on: connection refused, as with no network.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(HubOffline, match="Cannot reach Hugging Face"):
        Hub().gguf_files(REPO)
    assert time.monotonic() - started < 1.5


def test_not_enough_disk_space_is_said_before_starting(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = remote_for(hub)
    monkeypatch.setattr(dl, "DISK_MARGIN", 10**15)  # as if the disk were nearly full
    with pytest.raises(dl.DiskFullError, match="Not enough disk space"):
        download_file(remote, tmp_path / "m.gguf")
    assert hub.state.file(REPO, remote.path).requests == []


def test_progress_never_passes_the_total(hub: HubServer, tmp_path: Path) -> None:
    remote = remote_for(hub)
    target = tmp_path / "m.gguf"
    part_path(target).write_bytes(b"x" * (remote.size + 10))  # stale and too long
    seen: list[int] = []
    download_file(remote, target, on_progress=lambda p: seen.append(p.done))
    assert max(seen) <= remote.size


def test_many_drops_with_progress_between_do_not_exhaust_retries(
    hub: HubServer, tmp_path: Path
) -> None:
    remote = remote_for(hub)
    hub.state.file(REPO, remote.path).faults.drop_after = [5_000_000] * (dl.RETRIES + 4)
    target = download_file(remote, tmp_path / "m.gguf", sleep=lambda _s: None)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == remote.sha256


def test_a_206_for_the_wrong_bytes_is_not_appended(
    hub: HubServer, tmp_path: Path, smollm_path: str
) -> None:
    remote = remote_for(hub)
    hub.state.file(REPO, remote.path).faults.wrong_range_once = True
    target = tmp_path / "m.gguf"
    part_path(target).write_bytes(Path(smollm_path).read_bytes()[:1_000_000])
    download_file(remote, target, sleep=lambda _s: None)
    assert target.read_bytes() == Path(smollm_path).read_bytes()


def test_a_416_for_a_short_part_starts_over(
    hub: HubServer, tmp_path: Path, smollm_path: str
) -> None:
    remote = remote_for(hub)
    hosted = hub.state.file(REPO, remote.path)
    hosted.faults.statuses = [416]
    target = tmp_path / "m.gguf"
    part_path(target).write_bytes(b"stale bytes from another version")
    download_file(remote, target, sleep=lambda _s: None)
    assert target.read_bytes() == Path(smollm_path).read_bytes()
    assert hosted.requests[-1] == "bytes=0-"


def test_a_resume_after_a_restart_shows_it_checks_what_was_there(
    hub: HubServer, tmp_path: Path, smollm_path: str
) -> None:
    """The hash of an earlier run's .part is rebuilt from the disk before any request, and
    that reading is reported as checking (not silence, not download progress)."""
    remote = remote_for(hub)
    target = tmp_path / "model.gguf"
    data = Path(smollm_path).read_bytes()
    have = len(data) // 3
    part_path(target).write_bytes(data[:have])  # what a killed earlier run left
    seen: list[tuple[int, int, int]] = []
    requests_before = len(hub.state.file(REPO, remote.path).requests)

    def progress(p: dl.Progress) -> None:
        seen.append((p.checked, p.to_check, len(hub.state.file(REPO, remote.path).requests)))

    download_file(remote, target, on_progress=progress)
    checking = [s for s in seen if s[1]]
    assert checking and all(to_check == have for _c, to_check, _r in checking)
    assert checking[-1][0] == have  # all of it was read
    assert all(r == requests_before for _c, _t, r in checking)  # before asking the server
    assert hashlib.sha256(target.read_bytes()).hexdigest() == remote.sha256


def test_one_process_at_a_time_downloads_a_file(hub: HubServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    remote = remote_for(hub)
    target = tmp_path / "model.gguf"
    lock = target.with_name(target.name + ".lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; "
            f"l = FileLock({str(lock)!r}); l.acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DownloadError, match="being downloaded by another Llamaside"):
            download_file(remote, target)
        assert not part_path(target).exists()  # nothing written beside the other one's
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    download_file(remote, target)  # the other one gone: it goes on here
    assert target.stat().st_size == remote.size and not lock.exists()
