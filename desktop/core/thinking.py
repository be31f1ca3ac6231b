"""Local reasoning models write their thinking inline: ``<think>…</think>`` before the answer
(Qwen3, QwQ, DeepSeek-R1 distills, whose chat template opens the block in the prompt itself).
ThinkSplitter takes the streamed text apart into thinking and answer, never showing part of a
tag, so the thinking can be shown collapsed, saved apart and never fed back as answer text.
"""

from __future__ import annotations

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def prompt_opens_thinking(prompt: str) -> bool:
    """Whether a rendered prompt ends inside a thinking block (the model starts thinking)."""
    tail = prompt.rstrip()
    return tail.endswith(OPEN_TAG)


class ThinkSplitter:
    """Feed answer text as it streams; get (thinking, answer) pieces back.

    Only a block at the start counts (after blank space): a model that writes "<think>" in the
    middle of its answer (code, or an explanation of these tags) keeps it as answer text.
    """

    def __init__(self, thinking: bool = False) -> None:
        #: Inside the thinking block now.
        self.thinking = thinking
        #: Whether this answer had a thinking block at all.
        self.had_thoughts = thinking
        self._started = thinking  # past the point where a block may open
        self._held = ""
        #: Just past </think>: the blank lines models put before the answer are not text.
        self._after_close = False

    def feed(self, text: str) -> tuple[str, str]:
        if self._started and not self.thinking and not self._after_close and not self._held:
            return "", text  # past any thinking: every token after that goes straight through
        self._held += text
        thoughts: list[str] = []
        answer: list[str] = []
        while self._held:
            if not self._started:
                stripped = self._held.lstrip()
                if not stripped:
                    return "", ""  # only blank space so far: wait for what follows
                if stripped.startswith(OPEN_TAG):
                    self._held = stripped[len(OPEN_TAG) :]
                    self.thinking = self.had_thoughts = self._started = True
                    continue
                if OPEN_TAG.startswith(stripped):
                    return "".join(thoughts), "".join(answer)  # maybe a tag: wait
                self._started = True
                continue
            if not self.thinking:
                if self._after_close:
                    self._held = self._held.lstrip("\n")
                    if not self._held:
                        break
                    self._after_close = False
                answer.append(self._held)
                self._held = ""
                break
            at = self._held.find(CLOSE_TAG)
            if at >= 0:
                thoughts.append(self._held[:at])
                self._held = self._held[at + len(CLOSE_TAG) :]
                self.thinking = False
                self._after_close = True
                continue
            keep = _partial_suffix(self._held, CLOSE_TAG)
            thoughts.append(self._held[: len(self._held) - keep])
            self._held = self._held[len(self._held) - keep :]
            break
        return "".join(thoughts), "".join(answer)

    def flush(self) -> tuple[str, str]:
        """What is held at the end: an unfinished tag is text after all."""
        held, self._held = self._held, ""
        if self.thinking:
            return held, ""
        return "", held


def _partial_suffix(text: str, tag: str) -> int:
    """How many of text's last characters could be the start of ``tag``."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0
