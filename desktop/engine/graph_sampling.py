"""When llama.cpp's in-graph samplers may choose the tokens: their bounds (the runner asks)."""

from __future__ import annotations

from desktop.core.params import SamplingParams

#: Outside these, in-graph sampling is not used (see graph_sampling_safe).
MAX_GRAPH_MIN_P = 0.99
MIN_GRAPH_REPEAT_PENALTY = 0.01


def graph_sampling_safe(sampling: SamplingParams) -> bool:
    """Whether llama.cpp's in-graph samplers choose as its CPU samplers do for these settings.

    Its in-graph min-p keeps a token when logit - (max + log p) > 0 in float32: where log p
    vanishes beside the largest logit (min_p near 1, or logits blown up by a tiny repeat
    penalty) no token is kept and the draw is garbage. The bounds leave a wide margin (see
    docs/reliability.md); other answers are sampled on the CPU.
    """
    return sampling.min_p <= MAX_GRAPH_MIN_P and sampling.repeat_penalty >= MIN_GRAPH_REPEAT_PENALTY
