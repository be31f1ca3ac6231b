"""The engine child process, seen from the host: starts it, writes its requests, reads its
events and stderr on threads of their own, says why it stopped, and starts it again in a safer
mode after a crash loading a model or reading the first prompt (the requests replayed).

No Qt here: SyncEngine (engine_client) and services.EngineHost wrap it. Events are delivered by
calling ``on_event`` from a reader thread; callers hand them to their own thread.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from desktop.backends.engine_modes import ModeMemory
from desktop.core import engine_mode
from desktop.core import protocol as P
from desktop.core.adapters import Adapter, adapters_to_json
from desktop.core.engine_mode import EngineMode, SafeMode
from desktop.core.errors import EngineCrashed
from desktop.core.params import LoadParams, SamplingParams
from desktop.core.tools import AUTO, ToolChoice, ToolSpec

#: Synthesised by the host (never sent by the child): the child process has ended.
EV_EXITED = "exited"
#: Synthesised by the host: the child crashed loading a model or reading its first prompt and
#: was started again in a safer mode, with the same requests; fields mode, note, detail.
EV_SAFE_MODE = "safe_mode"

#: After Stop, how long the child gets to end the answer itself before it is killed. Between
#: tokens it answers within one token; inside a long prompt on a GPU backend, where llama.cpp's
#: abort callback is not polled, killing the process is the only way to stop.
CANCEL_GRACE_S = 2.0


def engine_command() -> list[str]:
    """How to start the engine child: the same interpreter, or the frozen app with a flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--engine"]
    return [sys.executable, "-m", "desktop.engine"]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = {
            "SIGABRT": "llama.cpp aborted",
            "SIGSEGV": "a crash in native code",
            "SIGKILL": "killed, possibly by the system for lack of memory",
        }.get(name, "")
        return f"{name}{': ' + hint if hint else ''}"
    return f"exit code {returncode}"


def _without_source_path(line: str) -> str:
    """``/tmp/pip-install-x/.../ggml.c:3354: GGML_ASSERT(...) failed`` -> ``GGML_ASSERT(...)
    failed (ggml.c:3354)``: the build folder means nothing to a user and hides the reason."""
    head, sep, rest = line.partition(": GGML_")
    if not sep:
        return line.strip()
    return f"GGML_{rest.strip()} ({Path(head).name})"


@dataclass
class _Replay:
    """The last load and the first answer after it: what a safer mode must do again."""

    load_id: int
    path: str
    #: As asked, before any safe mode was applied.
    params: LoadParams
    loaded: bool = False
    #: The first generate after the load: its id and request fields.
    generate: tuple[int, dict[str, Any]] | None = None
    #: Text of that answer reached the host (a retry would show it twice).
    streamed: bool = False
    #: That answer ended (done or error): the mode has worked, no more retries.
    answered: bool = False
    cancelled: bool = False


class EngineClient:
    """One engine child process. Thread-safe ``send``; events arrive on a reader thread.

    It also owns the engine's safe mode: when the child dies of a native signal while loading a
    model or reading the first prompt after a load, it starts a new child in the next safer
    mode (core.engine_mode) and sends it the same load and generate requests, so the answer
    comes as if nothing happened, with one EV_SAFE_MODE event to say why. The mode that answers
    is remembered in ``modes`` (for this machine and build) and used from the next load on.
    """

    def __init__(
        self,
        on_event: Callable[[P.Message], None],
        command: list[str] | None = None,
        log_path: Path | None = None,
        modes: ModeMemory | None = None,
    ) -> None:
        self._on_event = on_event
        self._command = command or engine_command()
        #: The engine's stderr (llama.cpp's warnings, Python tracebacks) is appended here.
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        # Reentrant: a retry on the reader thread sends its requests while holding it.
        self._send_lock = threading.RLock()
        self._modes = modes
        self._remembered: SafeMode | None = modes.get() if modes is not None else None
        #: The safe mode in force for the next load (None: the fast path).
        self._safe: SafeMode | None = self._remembered
        self._hello: P.Message = {}
        self._replay: _Replay | None = None
        #: Ids of loads sent again after a crash whose first answer the host already has.
        self._swallow: set[int] = set()
        self._next_id = 1
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        #: The first GGML_ASSERT/GGML_ABORT line of this child: the reason for an abort. Kept
        #: apart from the tail because ggml then prints a long backtrace (through gdb when it is
        #: installed) that pushes the line out of any short tail.
        self._fatal_line = ""
        self._threads: list[threading.Thread] = []
        self._expected_exit = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def safe_mode(self) -> SafeMode | None:
        """The safe mode models load in (None: the fast path)."""
        return self._safe

    @property
    def _mode(self) -> EngineMode:
        return self._safe.mode if self._safe is not None else EngineMode.FAST

    def try_fast_path(self) -> None:
        """Forget the safe mode: the next load takes the fast path (and falls back again if
        it still crashes)."""
        with self._send_lock:
            self._safe = self._remembered = None
            if self._modes is not None:
                self._modes.remember(None)

    def start(self) -> None:
        with self._send_lock:
            if self.running:
                return
            dead, threads = self._proc, list(self._threads)
        if dead is not None:
            # A previous child that died: close its pipes, end its readers. Not under the
            # lock: its reader may be waiting for it, to report the death.
            self._cleanup(dead, threads)
        with self._send_lock:
            if self.running:
                return  # a safer-mode retry started one meanwhile
            self._proc = None
            self._expected_exit = False
            self._spawn()

    def _spawn(self) -> None:
        self._stderr_tail.clear()
        self._fatal_line = ""
        self._proc = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group: a Ctrl+C in the terminal reaches the host, which then ends
            # the child in order, rather than both at once.
            start_new_session=True,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        proc = self._proc
        self._threads = [
            threading.Thread(
                target=self._read_events,
                args=(proc, proc.stdout),
                name="engine-events",
                daemon=True,
            ),
            threading.Thread(
                target=self._read_stderr, args=(proc.stderr,), name="engine-stderr", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        log = None
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                log = self._log_path.open("a", encoding="utf-8")
        try:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line:
                    self._stderr_tail.append(line)
                    if not self._fatal_line and ("GGML_ASSERT" in line or "GGML_ABORT" in line):
                        self._fatal_line = line
                    if log is not None:
                        try:
                            log.write(line + "\n")
                            log.flush()
                        except OSError:
                            # Disk full: stop logging, but keep reading, or the child would
                            # block on a full stderr pipe.
                            with contextlib.suppress(OSError):
                                log.close()
                            log = None
        finally:
            if log is not None:
                log.close()

    def _read_events(self, proc: subprocess.Popen[bytes], stream: IO[bytes]) -> None:
        stderr_reader = self._threads[1]
        for line in stream:
            try:
                event = P.decode(line)
            except ValueError:
                continue  # never let a stray line kill the reader
            if self._track(event):
                self._on_event(event)
        returncode = proc.wait()
        # Let the stderr reader drain so the crash message can quote llama.cpp's last words.
        stderr_reader.join(timeout=1.0)
        note = self._retry_safer(proc, returncode)
        if note is None:
            return  # a child in a safer mode carries on with the same requests
        self._on_event(
            {
                "ev": EV_EXITED,
                "pid": proc.pid,
                "returncode": returncode,
                "expected": self._expected_exit,
                "message": self.crash_message(returncode) + note,
            }
        )

    def _track(self, event: P.Message) -> bool:
        """Follow the requests a safer mode would replay. False: the host must not see it."""
        kind = event.get("ev")
        if kind == P.EV_HELLO:
            self._hello = event
            return True
        rid = event.get("id")
        with self._send_lock:
            if rid in self._swallow:
                if kind in (P.EV_LOADED, P.EV_ERROR):
                    self._swallow.discard(rid)
                return False
            replay = self._replay
            if replay is None:
                return True
            if rid == replay.load_id:
                if kind == P.EV_LOADED:
                    replay.loaded = True
                    event["model"]["engine_mode"] = self._mode.value
                elif kind == P.EV_ERROR:
                    self._replay = None
            elif replay.generate is not None and rid == replay.generate[0]:
                if kind in (P.EV_DELTA, P.EV_THOUGHT):
                    replay.streamed = True
                elif kind == P.EV_ERROR and not replay.streamed:
                    # Refused before decoding (too long, a template's refusal): the next
                    # question is still the first answer.
                    replay.generate = None
                elif kind in (P.EV_DONE, P.EV_ERROR):
                    replay.answered = True
                    if kind == P.EV_DONE and self._safe != self._remembered:
                        # The safer mode answered: from now on, start in it.
                        self._remembered = self._safe
                        if self._modes is not None:
                            self._modes.remember(self._safe)
        return True

    def _retry_safer(self, proc: subprocess.Popen[bytes], returncode: int) -> str | None:
        """After a crash loading a model or reading its first prompt, start a child in the next
        safer mode and replay the requests: None. Otherwise the exit is to be reported, with
        the returned words added to its message."""
        with self._send_lock:
            replay = self._replay
            if (
                self._expected_exit
                or proc is not self._proc
                or replay is None
                or replay.answered
                or replay.streamed
                or replay.cancelled
                or not engine_mode.worth_a_safer_mode(returncode, self._fatal_line)
            ):
                return ""
            safer = engine_mode.next_mode(
                self._mode, gpu_build=bool(self._hello.get("gpu_offload")), params=replay.params
            )
            if safer is None:
                # It crashes in every mode: the model file, not the machine. Later loads go
                # back to the mode that has worked.
                tried = self._mode is not EngineMode.FAST
                self._safe = self._remembered
                self._replay = None
                return " It crashed in safe mode too." if tried else ""
            signal_name = engine_mode.signal_of(returncode)
            crashed = self.crash_message(returncode)
            self._safe = SafeMode(
                safer,
                signal=signal_name.name if signal_name is not None else "",
                when="answering" if replay.loaded else "loading a model",
                system_info=str(self._hello.get("system_info", "")),
                llama_cpp_version=str(self._hello.get("llama_cpp_version", "")),
                since=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            )
            self._log(f"{crashed} Starting the engine again in safe mode ({safer.value}).")
            self._release()
            self._spawn()
            load_id = replay.load_id
            if replay.loaded:
                # The host has its "loaded" already; this one is ours alone.
                load_id = self._take_id()
                self._swallow.add(load_id)
            sent = engine_mode.apply(replay.params, safer)
            try:
                self._write(P.OP_LOAD, load_id, path=replay.path, load=sent.to_dict())
                if replay.generate is not None:
                    self._write(P.OP_GENERATE, replay.generate[0], **replay.generate[1])
            except EngineCrashed:
                pass  # it died at once: its own reader reports that
            notice = {
                "ev": EV_SAFE_MODE,
                "mode": safer.value,
                "note": self._safe.note,
                "detail": self._safe.detail,
                "message": crashed,
            }
        self._on_event(notice)
        return None

    def _log(self, line: str) -> None:
        if self._log_path is None:
            return
        with contextlib.suppress(OSError):
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with self._log_path.open("a", encoding="utf-8") as log:
                log.write(f"[llamaside] {line}\n")

    def crash_message(self, returncode: int) -> str:
        last = [line for line in self._stderr_tail if line.strip()]
        detail = _without_source_path(self._fatal_line)
        for line in [] if detail else reversed(last):
            if "GGML_ASSERT" in line or "error" in line.lower() or "Error" in line:
                detail = line.strip()
                break
        text = f"The engine stopped unexpectedly ({describe_exit(returncode)})."
        if detail:
            text += f" Last message: {detail[:300]}"
        return text

    def _take_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _write(self, op: str, rid: int, **fields: Any) -> None:
        if not self.running or self._proc is None or self._proc.stdin is None:
            raise EngineCrashed("The engine is not running.")
        try:
            self._proc.stdin.write(P.encode({"op": op, "id": rid, **fields}))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise EngineCrashed("The engine is not running.") from exc

    def send(self, op: str, **fields: Any) -> int:
        """Send a request; returns its id."""
        with self._send_lock:
            rid = self._take_id()
            self._write(op, rid, **fields)
            return rid

    def load(self, path: str, params: LoadParams) -> int:
        with self._send_lock:
            rid = self._take_id()
            self._replay = _Replay(rid, path, params)
            sent = engine_mode.apply(params, self._mode)
            self._write(P.OP_LOAD, rid, path=path, load=sent.to_dict())
            return rid

    def generate(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = AUTO,
        adapters: Sequence[Adapter] = (),
    ) -> int:
        fields: dict[str, Any] = {"messages": messages, "sampling": sampling.to_dict()}
        if adapters:  # the bare model otherwise (the engine clears what an earlier answer set)
            fields["adapters"] = adapters_to_json(adapters)
        if tools:  # the model is told of tools only when there are some
            fields["tools"] = [spec.to_dict() for spec in tools]
            fields["tool_choice"] = tool_choice.to_dict()
        with self._send_lock:
            rid = self._take_id()
            replay = self._replay
            if replay is not None and not replay.answered and replay.generate is None:
                replay.generate = (rid, fields)
            self._write(P.OP_GENERATE, rid, **fields)
            return rid

    def cancel(self, target: int) -> None:
        with self._send_lock:
            replay = self._replay
            if replay is not None and replay.generate and replay.generate[0] == target:
                replay.cancelled = True
        with contextlib.suppress(EngineCrashed):
            self.send(P.OP_CANCEL, target=target)

    def kill(self) -> None:
        with self._send_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._expected_exit = True
                self._proc.kill()

    def stop(self, timeout: float = 3.0) -> None:
        """Unload: ask the child to exit (freeing the model's memory), kill it if it will not."""
        with self._send_lock:
            # Under the lock: a safer-mode retry either happened (and this ends its child) or
            # sees the exit is expected and does not start one.
            self._expected_exit = True
            proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(EngineCrashed):
                self.send(P.OP_SHUTDOWN)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._release(timeout)

    def _release(self, timeout: float = 3.0) -> None:
        with self._send_lock:
            proc, threads = self._proc, list(self._threads)
        if proc is None:
            return
        self._cleanup(proc, threads, timeout)
        with self._send_lock:
            if self._proc is proc:
                self._proc = None

    @staticmethod
    def _cleanup(
        proc: subprocess.Popen[bytes], threads: list[threading.Thread], timeout: float = 3.0
    ) -> None:
        proc.wait()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=timeout)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
