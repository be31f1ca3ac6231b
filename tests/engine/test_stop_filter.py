"""StopStringFilter: stop strings end the answer, and no part of one is ever shown."""

from __future__ import annotations

from desktop.engine.text_filters import StopStringFilter


def feed_all(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    f = StopStringFilter(stops)
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    return out, f.stopped


def test_cuts_at_the_earliest_stop_string() -> None:
    out, stopped = feed_all(["</s>", "\nUser:"], ["Hello\nUser: injected turn</s>"])
    assert (out, stopped) == ("Hello", True)


def test_stop_split_across_pieces_is_never_shown() -> None:
    f = StopStringFilter(["<|im_end|>"])
    shown = [f.feed(p) for p in ["Paris", " is", "<|im", "_e", "nd|>", " more"]]
    assert shown == ["Paris", " is", "", "", "", ""]
    assert f.stopped


def test_held_text_released_when_it_is_not_a_stop() -> None:
    f = StopStringFilter(["<|im_end|>"])
    assert f.feed("a <|i") == "a "
    assert f.feed("nstead") == "<|instead"
    assert f.flush("!") == "!"


def test_flush_keeps_a_partial_prefix_at_the_end() -> None:
    out, stopped = feed_all(["<|im_end|>"], ["ends with <|im"])
    assert (out, stopped) == ("ends with <|im", False)


def test_no_text_after_a_stop_even_from_flush() -> None:
    f = StopStringFilter(["STOP"])
    assert f.feed("done STOP tail") == "done "
    assert f.flush("more") == ""
