"""The tool-call grammars llama.cpp is given: every one compiles, the exact call texts each
family writes are sentences of it (and parse back as those calls), wrong names and arguments
are refused, a lazy grammar leaves the words before a call alone, and SmolLM2 forced through
one writes a call the parser reads with arguments that match the tool's schema.

Acceptance is checked the safe way: llama.cpp aborts the process on accepting a token its
grammar refuses, so each token is first offered to the grammar sampler's apply (which marks a
refused token -inf) and only accepted when allowed.
"""

from __future__ import annotations

import ctypes
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import llama_cpp
import pytest
from llama_cpp.llama_grammar import LlamaGrammar

from desktop.core.tool_formats import GENERIC, ToolFormat, parse_calls, polyfill_messages
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.engine.tool_grammar import ToolGrammar, regex_escape, tool_grammar
from desktop.engine.tool_use import ToolUse

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24, "description": "The city."},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
)
NOW = ToolSpec("now", "The time.", {"type": "object", "properties": {}})
NESTED = ToolSpec(
    "add_item",
    "Add an item.",
    {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}, "tags": {"type": "array"}},
        "required": ["item"],
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    },
)
TOOLS = [WEATHER, NOW, NESTED]
ARGS = '{"city": "Paris", "unit": "celsius"}'
FORMATS = {
    "llama3": ToolFormat("llama3", True),
    "llama4": ToolFormat("llama4", True),
    "hermes": ToolFormat("hermes", True),
    "mistral": ToolFormat("mistral", True),
    "mistral-args": ToolFormat("mistral", True, mistral_args=True),
    "mistral-call-id": ToolFormat("mistral", True, mistral_args=True, mistral_call_id=True),
    "generic": GENERIC,
}
#: What each family writes for one call (the texts parse_calls is tested on).
CALLS = {
    "llama3": [
        f'{{"name": "get_weather", "parameters": {ARGS}}}',
        f'<|python_tag|>{{"name": "get_weather", "parameters": {ARGS}}}',
    ],
    "llama4": [
        f'{{"name": "get_weather", "parameters": {ARGS}}}',
        f'<|python_start|>{{"name": "get_weather", "parameters": {ARGS}}}<|python_end|>',
    ],
    "hermes": [f'<tool_call>\n{{"name": "get_weather", "arguments": {ARGS}}}\n</tool_call>'],
    "mistral": [
        f'[TOOL_CALLS][{{"name": "get_weather", "arguments": {ARGS}}}]',
        f'[TOOL_CALLS][{{"name": "get_weather", "arguments": {ARGS}, "id": "abc123XYZ"}}]',
    ],
    "mistral-args": [f"[TOOL_CALLS]get_weather[ARGS]{ARGS}"],
    "mistral-call-id": [f"[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{ARGS}"],
    "generic": [f'<tool_call>{{"name": "get_weather", "arguments": {ARGS}}}</tool_call>'],
}


@pytest.fixture(scope="module")
def vocab_model(smollm_path: str) -> Iterator[Any]:
    """SmolLM2's vocabulary alone (no weights, nothing decoded): enough to build grammars."""
    llm = llama_cpp.Llama(model_path=smollm_path, vocab_only=True, verbose=False)
    yield llm
    llm.close()


class Probe:
    """A grammar sampler fed tokens one by one, each accepted only when the grammar allows it."""

    def __init__(self, llm: Any, grammar: ToolGrammar) -> None:
        self.llm = llm
        self.vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        gbnf = grammar.gbnf.encode("utf-8")
        if grammar.lazy:
            patterns = [p.encode("utf-8") for p in grammar.trigger_patterns]
            pattern_array = (ctypes.c_char_p * len(patterns))(*patterns)
            tokens = (llama_cpp.llama_token * 1)()
            self.handle = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
                self.vocab, gbnf, b"root", pattern_array, len(patterns), tokens, 0
            )
        else:
            self.handle = llama_cpp.llama_sampler_init_grammar(self.vocab, gbnf, b"root")
        assert self.handle, "llama.cpp refused the grammar"

    def close(self) -> None:
        llama_cpp.llama_sampler_free(self.handle)

    def allows(self, token: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
        array = llama_cpp.llama_token_data_array(data, 1, -1, False)
        llama_cpp.llama_sampler_apply(self.handle, ctypes.byref(array))
        return not math.isinf(data[0].logit)

    def feed(self, text: str) -> str | None:
        """Feed ``text``; the text up to the first refused token (None: all of it allowed)."""
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        for i, token in enumerate(tokens):
            if not self.allows(token):
                return str(self.llm.detokenize(tokens[:i]).decode("utf-8", "replace"))
            llama_cpp.llama_sampler_accept(self.handle, token)
        return None

    def may_end(self) -> bool:
        return self.allows(llama_cpp.llama_vocab_eos(self.vocab))


def _probe(llm: Any, grammar: ToolGrammar | None) -> Probe:
    assert grammar is not None
    return Probe(llm, grammar)


@pytest.mark.parametrize("key", FORMATS)
@pytest.mark.parametrize(
    "choice", [ToolChoice("auto"), ToolChoice("required"), ToolChoice("tool", "add_item")]
)
@pytest.mark.parametrize("parallel", [True, False])
def test_every_grammar_compiles(
    vocab_model: Any, key: str, choice: ToolChoice, parallel: bool
) -> None:
    grammar = tool_grammar(FORMATS[key], TOOLS, choice, parallel)
    assert grammar is not None and grammar.lazy == (choice.mode == "auto")
    if grammar.lazy:
        assert grammar.trigger_words and grammar.trigger_patterns
        for pattern in grammar.trigger_patterns:
            re.compile(pattern)  # and llama.cpp's std::regex builds it in the probe
    else:
        assert grammar.trigger_patterns == grammar.trigger_words == ()
    _probe(vocab_model, grammar).close()


def test_no_grammar_without_tools_or_with_choice_none() -> None:
    assert tool_grammar(GENERIC, [], ToolChoice("required")) is None
    assert tool_grammar(GENERIC, TOOLS, ToolChoice("none")) is None
    with pytest.raises(ValueError, match="not offered"):
        tool_grammar(GENERIC, TOOLS, ToolChoice("tool", "missing"))


@pytest.mark.parametrize(("key", "text"), [(k, t) for k, texts in CALLS.items() for t in texts])
def test_each_familys_call_text_is_a_sentence_of_its_forced_grammar(
    vocab_model: Any, key: str, text: str
) -> None:
    probe = _probe(vocab_model, tool_grammar(FORMATS[key], TOOLS, ToolChoice("required")))
    try:
        assert probe.feed(text) is None
        assert probe.may_end()
    finally:
        probe.close()
    parsed = parse_calls(FORMATS[key], text)  # and the parser reads what the grammar writes
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == [
        ("get_weather", json.loads(ARGS))
    ]


@pytest.mark.parametrize("key", ["llama4", "hermes", "mistral", "mistral-args", "generic"])
def test_parallel_calls_where_the_format_has_them(vocab_model: Any, key: str) -> None:
    text = CALLS[key][0]
    second = {
        "llama4": '{"name": "now", "parameters": {}}',
        "hermes": '\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>',
        "mistral": "",
        "mistral-args": "[TOOL_CALLS]now[ARGS]{}",
        "generic": '<tool_call>{"name": "now", "arguments": {}}</tool_call>',
    }[key]
    if key == "mistral":
        text = text[:-1] + ', {"name": "now", "arguments": {}}]'
    else:
        text += second
    probe = _probe(vocab_model, tool_grammar(FORMATS[key], TOOLS, ToolChoice("required")))
    try:
        assert probe.feed(text) is None and probe.may_end()
    finally:
        probe.close()
    assert [c.name for c in parse_calls(FORMATS[key], text).calls] == ["get_weather", "now"]
    single = _probe(vocab_model, tool_grammar(FORMATS[key], TOOLS, ToolChoice("required"), False))
    try:
        assert single.feed(text) is not None  # one call only
    finally:
        single.close()


@pytest.mark.parametrize(
    ("text", "refused_after"),
    [
        ('<tool_call>{"name": "get_wether"', '{"name": "get_w'),  # not a tool
        ('<tool_call>{"name": "get_weather", "arguments": {"town"', "arguments"),  # no such key
        ('<tool_call>{"name": "get_weather", "arguments": {"city": 3', '"city":'),  # not a string
        (
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"',
            '"unit"',
        ),
        ('<tool_call>{"name": "now", "arguments": {"x": 1}', '"name": "now"'),  # no arguments
        ('Sure! <tool_call>{"name": "now"', ""),  # forced: a call from the first token
    ],
)
def test_wrong_names_and_arguments_are_refused(
    vocab_model: Any, text: str, refused_after: str
) -> None:
    probe = _probe(vocab_model, tool_grammar(GENERIC, TOOLS, ToolChoice("required")))
    try:
        accepted = probe.feed(text)
    finally:
        probe.close()
    assert accepted is not None and refused_after in accepted


def test_a_forced_tool_is_the_only_one_allowed(vocab_model: Any) -> None:
    grammar = tool_grammar(GENERIC, TOOLS, ToolChoice("tool", "now"))
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed(CALLS["generic"][0]) is not None
    finally:
        probe.close()
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed('<tool_call>{"name": "now", "arguments": {}}</tool_call>') is None
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("hermes", "Let me look that up. {} [] <b>\n"),
        ("generic", "Sure, here goes:\n"),
        ("mistral", "Checking now."),
        ("mistral-args", "Checking now."),
        ("llama3", "Sure."),
        ("llama4", "Sure. "),
    ],
)
def test_a_lazy_grammar_leaves_words_alone_and_starts_at_the_call(
    vocab_model: Any, key: str, words: str
) -> None:
    """Choice auto: anything goes until the call's marker (here plain text: SmolLM2 has none
    of these special tokens, so the patterns start it), then the call is held to the tools."""
    fmt = FORMATS[key]
    call = CALLS[key][-1]
    grammar = tool_grammar(fmt, TOOLS, ToolChoice("auto"))
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed(words + call) is None and probe.may_end()
    finally:
        probe.close()
    bad = call.replace("get_weather", "get_wether")
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed(words + bad) is not None  # started, and held to the tools
    finally:
        probe.close()


def test_a_llama_json_call_starts_the_lazy_grammar_only_at_the_answers_start(
    vocab_model: Any,
) -> None:
    grammar = tool_grammar(FORMATS["llama3"], TOOLS, ToolChoice("auto"))
    bad = '\n{"name": "get_wether", "parameters": {}}'
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed(bad) is not None  # the answer opens with a call: held to the tools
    finally:
        probe.close()
    probe = _probe(vocab_model, grammar)
    try:
        assert probe.feed("An example: " + bad) is None  # JSON later on is only words
    finally:
        probe.close()


def test_trigger_patterns_escape_the_markers() -> None:
    assert regex_escape("[TOOL_CALLS]") == r"\[TOOL_CALLS\]"
    assert regex_escape("<|python_tag|>") == r"<\|python_tag\|>"
    assert re.search(regex_escape("<|python_tag|>"), "x<|python_tag|>{")


@pytest.mark.parametrize("choice", [ToolChoice("tool", "get_weather"), ToolChoice("required")])
def test_smollm2_forced_through_the_grammar_writes_a_valid_call(
    smollm_path: str, extra_bufts: bool, choice: ToolChoice
) -> None:
    """A real generation: SmolLM2's template has no tools (generic, polyfilled); held to the
    grammar it writes a call the parser reads, with arguments its schema accepts. One call:
    allowed several, this small model repeats the same call until it runs out of tokens."""
    from desktop.core.tool_formats import detect_format
    from desktop.engine.llama_setup import model_params

    with model_params([], extra_bufts):  # in this process: the mode safe here
        llm = llama_cpp.Llama(model_path=smollm_path, n_ctx=2048, n_threads=2, verbose=False)
    try:
        fmt = detect_format(llm.metadata["tokenizer.chat_template"])
        assert fmt == GENERIC
        grammar = tool_grammar(fmt, [WEATHER, NOW], choice, parallel=False)
        assert grammar is not None
        question = [{"role": "user", "content": "What is the weather in Paris, in celsius?"}]
        messages = polyfill_messages(fmt, question, [WEATHER.openai(), NOW.openai()])
        result: Any = llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            grammar=LlamaGrammar.from_string(grammar.gbnf),
            temperature=0.0,
            max_tokens=160,
        )
    finally:
        llm.close()
    text = result["choices"][0]["message"]["content"]
    assert result["choices"][0]["finish_reason"] == "stop", text
    parsed = parse_calls(fmt, text)
    assert parsed.problem == "" and parsed.content == "", text
    assert len(parsed.calls) == 1, text
    (call,) = parsed.calls
    spec = {"get_weather": WEATHER, "now": NOW}[call.name]
    if choice.mode == "tool":
        assert call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), dict(spec.parameters))


ANSWER_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
        "$defs": {"Item": {"type": "string"}},
    }
)
PERSON_TEXT = '{"name": "Alice", "age": 30}'


@pytest.mark.parametrize("key", FORMATS)
def test_with_an_answer_format_the_answer_is_a_call_or_that_json_from_its_first_token(
    vocab_model: Any, key: str
) -> None:
    grammar = tool_grammar(FORMATS[key], TOOLS, ToolChoice("auto"), answer_schema=ANSWER_SCHEMA)
    assert grammar is not None and not grammar.lazy  # held from the first token
    for text in (CALLS[key][0], PERSON_TEXT):
        probe = _probe(vocab_model, grammar)
        try:
            assert probe.feed(text) is None, text
            assert probe.may_end(), text
        finally:
            probe.close()
    for wrong in ("Alice is 30.", '{"name": "Alice"}', '{"name": "Alice", "age": "old"}'):
        probe = _probe(vocab_model, grammar)
        try:
            refused = probe.feed(wrong)
            assert refused is not None or not probe.may_end(), wrong
        finally:
            probe.close()
    # Choice none: the answer's format alone; a forced call: the call alone.
    alone = tool_grammar(FORMATS[key], TOOLS, ToolChoice("none"), answer_schema=ANSWER_SCHEMA)
    forced = tool_grammar(FORMATS[key], TOOLS, ToolChoice("required"), answer_schema=ANSWER_SCHEMA)
    for grammar_, text, fits in ((alone, PERSON_TEXT, True), (forced, PERSON_TEXT, False)):
        probe = _probe(vocab_model, grammar_)
        try:
            assert (probe.feed(text) is None and probe.may_end()) == fits
        finally:
            probe.close()


@pytest.mark.parametrize("key", ["llama3", "llama4", "hermes", "generic"])
def test_an_answer_in_the_format_is_text_and_a_call_is_a_call(key: str) -> None:
    # Llama's bare calls open as any JSON object does: the answer is held back as a possible
    # call, then given as text when it is no call of an offered tool.
    use = ToolUse(FORMATS[key], TOOLS, ToolChoice("auto"), ANSWER_SCHEMA)
    shown = use.feed(PERSON_TEXT)
    tail, calls = use.finish()
    assert shown + tail == PERSON_TEXT and calls == []
    call = ToolUse(FORMATS[key], TOOLS, ToolChoice("auto"), ANSWER_SCHEMA)
    shown = call.feed(CALLS[key][0])
    tail, calls = call.finish()
    assert shown + tail == "" and [c.name for c in calls] == ["get_weather"]
