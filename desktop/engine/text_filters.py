"""The answer's text as tokens stream: tokens to whole characters, cut at a stop string.

Pure text handling, no llama.cpp: Runner (runner.py) feeds each token through TokenText and
then StopStringFilter before the thinking splitter (core/thinking.py) sees it.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence


class StopStringFilter:
    """Ends the answer at a stop string and never shows part of one.

    Text that could be the start of a stop string is held back until the next token decides.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self._pending += text
        hits = [at for at in (self._pending.find(stop) for stop in self._stops) if at != -1]
        if hits:
            # Cut at the earliest stop string in the text, whichever it is.
            out = self._pending[: min(hits)]
            self._pending = ""
            self.stopped = True
            return out
        hold = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._pending)), 0, -1):
                if self._pending.endswith(stop[:k]):
                    hold = max(hold, k)
                    break
        if hold:
            out, self._pending = self._pending[:-hold], self._pending[-hold:]
        else:
            out, self._pending = self._pending, ""
        return out

    def flush(self, last: str = "") -> str:
        """What is held back, plus any last text, unless a stop string ended the answer."""
        out = self.feed(last) if last else ""
        out += self._pending
        self._pending = ""
        return "" if self.stopped else out


class TokenText:
    """Generated tokens to text as they stream. A character whose bytes are split across
    tokens (emoji, most non-Latin scripts in byte-level vocabularies) is held until it is
    whole, so valid text never shows U+FFFD; bytes that can never be UTF-8 (a model may emit
    any byte token) become one U+FFFD each and the answer goes on."""

    def __init__(self, piece: Callable[[int], bytes]) -> None:
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: int) -> str:
        return self._decoder.decode(self._piece(token))

    def flush(self) -> str:
        """Whatever is held at the end: an unfinished character becomes U+FFFD."""
        return self._decoder.decode(b"", final=True)
