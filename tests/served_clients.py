"""Clients of the local API server for the tests that share it with the window: each call on a
thread of its own (the GUI thread must keep running the queue), and a streamed request that
says when its first word came."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import openai

from desktop.backends.local_models import BUNDLED_ID

LONG: Any = [{"role": "user", "content": "List one hundred animals, one per line, numbered."}]


class Call(threading.Thread):
    """``work(call)`` on a thread of its own; its result or error for the test to read."""

    def __init__(self, work: Callable[[Call], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        #: Set by the work when it has begun answering (else when it ends).
        self.first = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            self.result = self.work(self)
        except BaseException as exc:  # the test reads it
            self.error = exc
        finally:
            self.first.set()

    @property
    def done(self) -> bool:
        return not self.is_alive()


def streaming(client: openai.OpenAI, max_tokens: int = 60) -> Call:
    """A streamed request for a long list; the call's ``first`` is set at its first word."""

    def stream(call: Call) -> str:
        pieces: list[str] = []
        chunks: Any = client.chat.completions.create(
            model=BUNDLED_ID, messages=LONG, max_tokens=max_tokens, temperature=0, stream=True
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                call.first.set()
        return "".join(pieces)

    return Call(stream)
