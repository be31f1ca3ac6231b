"""ThinkSplitter: a local reasoning model's <think> block taken apart from its answer, whatever
the pieces the text streams in."""

from __future__ import annotations

import pytest

from desktop.core.thinking import ThinkSplitter, prompt_opens_thinking


def _split(pieces: list[str], thinking: bool = False) -> tuple[str, str]:
    splitter = ThinkSplitter(thinking)
    thoughts, answer = [], []
    for piece in pieces:
        thought, text = splitter.feed(piece)
        thoughts.append(thought)
        answer.append(text)
    thought, text = splitter.flush()
    return "".join(thoughts) + thought, "".join(answer) + text


WHOLE = "<think>\nThe user wants a greeting.\n</think>\n\nHello there!"


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(WHOLE)])
def test_any_cut_of_the_stream_gives_the_same_parts(size: int) -> None:
    pieces = [WHOLE[i : i + size] for i in range(0, len(WHOLE), size)]
    assert _split(pieces) == ("\nThe user wants a greeting.\n", "Hello there!")


def test_a_block_opened_by_the_prompt_ends_at_the_close_tag() -> None:
    """DeepSeek-R1 distills: the template ends the prompt with <think>."""
    assert prompt_opens_thinking("<｜Assistant｜><think>\n")
    assert not prompt_opens_thinking("<|im_start|>assistant\n")
    assert _split(["Hmm, ", "two plus two.</th", "ink>\n\n4"], thinking=True) == (
        "Hmm, two plus two.",
        "4",
    )


def test_think_tags_in_the_middle_of_an_answer_are_answer_text() -> None:
    text = "Use the <think> tag like this: <think>x</think>."
    assert _split([text[:9], text[9:]]) == ("", text)


def test_leading_space_then_a_block_still_counts() -> None:
    assert _split(["  ", "\n<thi", "nk>a</think>b"]) == ("a", "b")


def test_an_unfinished_block_is_all_thinking_and_a_lone_lt_is_text() -> None:
    assert _split(["<think>still thinking when max tokens hit"]) == (
        "still thinking when max tokens hit",
        "",
    )
    assert _split(["<"]) == ("", "<")
    assert _split(["<b>bold</b>"]) == ("", "<b>bold</b>")
