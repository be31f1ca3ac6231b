"""What one answer cost: token counts and timings, reported by every engine and provider."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class StopReason(str, enum.Enum):
    """Why an answer stopped."""

    #: The model ended its turn (an end-of-generation token or a stop string).
    STOP = "stop"
    #: max_tokens was reached.
    LENGTH = "length"
    #: The model ended its step to call tools (a whole answer, not one cut short).
    TOOL_CALLS = "tool_calls"
    #: The user pressed Stop.
    CANCELLED = "cancelled"
    #: An error ended the answer.
    ERROR = "error"


@dataclass(frozen=True)
class Usage:
    """One answer's token counts and timings, as every engine and provider reports them."""

    prompt_tokens: int = 0
    #: Tokens of the prompt that had to be processed (the rest came from the prompt cache).
    prompt_tokens_evaluated: int = 0
    output_tokens: int = 0
    #: Seconds from the request reaching the engine to the first token of the answer.
    time_to_first_token_s: float = 0.0
    #: Seconds from the request to the last token.
    total_s: float = 0.0
    stop_reason: StopReason = StopReason.STOP
    #: Of output_tokens, those the model spent reasoning (OpenAI reports the count; Claude's
    #: thinking is counted in its output tokens).
    reasoning_tokens: int = 0
    #: Of prompt_tokens, those a provider read from its prompt cache (priced lower).
    cached_prompt_tokens: int = 0
    #: Seconds the model spent thinking before the answer's text began ("Thought for N s").
    thinking_s: float = 0.0
    #: The user's settings this model did not take (e.g. "temperature"), for the info line.
    not_applied: tuple[str, ...] = ()

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the first token, the number users compare across apps."""
        gen_time = self.total_s - self.time_to_first_token_s
        if self.output_tokens <= 1 or gen_time <= 0:
            return 0.0
        return (self.output_tokens - 1) / gen_time

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop_reason"] = self.stop_reason.value
        data["not_applied"] = list(self.not_applied)
        data["tokens_per_second"] = round(self.tokens_per_second, 2)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        return cls(
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            prompt_tokens_evaluated=int(data.get("prompt_tokens_evaluated", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            time_to_first_token_s=float(data.get("time_to_first_token_s", 0.0)),
            total_s=float(data.get("total_s", 0.0)),
            stop_reason=StopReason(data.get("stop_reason", "stop")),
            reasoning_tokens=int(data.get("reasoning_tokens", 0)),
            cached_prompt_tokens=int(data.get("cached_prompt_tokens", 0)),
            thinking_s=float(data.get("thinking_s", 0.0)),
            not_applied=tuple(str(x) for x in data.get("not_applied", ())),
        )
