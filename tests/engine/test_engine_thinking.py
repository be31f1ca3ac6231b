"""A local reasoning model's thinking comes apart from its answer through the real engine: a
chat template that opens a <think> block in the prompt (as DeepSeek-R1 distills' does) makes
the bundled SmolLM2 think, as far as the app can tell, until it closes it or runs out."""

from __future__ import annotations

from pathlib import Path

from desktop.backends.engine_client import SyncEngine
from desktop.core.params import LoadParams, SamplingParams
from tests.gguf_edit import with_chat_template

THINKING_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
QUESTION = [{"role": "user", "content": "What is two plus two?"}]


def test_thinking_opened_by_the_template_is_streamed_apart_from_the_answer(
    tmp_path: Path, smollm_path: str, extra_bufts: bool
) -> None:
    model = with_chat_template(smollm_path, THINKING_CHATML, tmp_path / "thinker.gguf")
    with SyncEngine() as engine:
        engine.load(str(model), LoadParams(n_ctx=512, n_threads=1, extra_bufts=extra_bufts))
        pieces = list(engine.stream(QUESTION, SamplingParams(temperature=0.0, max_tokens=12)))
        result = engine.last
    # SmolLM2 never writes </think>: all of it is thinking, none of it answer text.
    assert result.usage.output_tokens == 12
    assert result.reasoning.strip() and "<think>" not in result.reasoning
    assert pieces == [] and result.text == ""
    assert result.usage.thinking_s > 0
