"""ChatService with the real engine: what is saved, when, and how each ending is recorded."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.errors import ModelLoadError
from desktop.core.messages import MessageStatus, Role
from desktop.core.params import LoadParams, SamplingParams
from desktop.services.chat import ChatService
from desktop.storage.paths import AppPaths
from tests.gguf_edit import with_chat_template

TIMEOUT_MS = 60_000


def test_send_saves_user_message_first_then_answer(chat: ChatService, qtbot: QtBot) -> None:
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_started, timeout=TIMEOUT_MS):
        assert chat.send(conv.id, "What is the capital of France?")
    # Before any token: the question is on disk, the answer row exists as streaming.
    user, answer = chat.store.messages(conv.id)
    assert (user.role, user.content) == (Role.USER, "What is the capital of France?")
    assert answer.status == MessageStatus.STREAMING
    deltas: list[str] = []
    chat.answer_delta.connect(lambda _c, _a, text: deltas.append(text))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        pass
    assert finished.args is not None and finished.args[2] == "complete"
    saved = chat.store.get_message(answer.id)
    assert saved.status == MessageStatus.COMPLETE
    assert saved.content == "".join(deltas) and saved.content
    assert saved.usage is not None and saved.usage["output_tokens"] > 0
    assert saved.model == "local:smollm2-135m-instruct"
    conversation = chat.store.get_conversation(conv.id)
    assert conversation.title == "What is the capital of France?"
    assert conversation.model == "local:smollm2-135m-instruct"
    assert conversation.sampling is not None
    assert (conversation.sampling.temperature, conversation.sampling.max_tokens) == (0.0, 24)
    assert not chat.busy


def test_empty_message_is_not_sent(chat: ChatService) -> None:
    conv = chat.store.create_conversation()
    assert not chat.send(conv.id, "  \n\t ")
    assert chat.store.messages(conv.id) == []
    assert not chat.engine.running


def test_stop_keeps_what_was_shown(chat: ChatService, qtbot: QtBot) -> None:
    chat.sampling = SamplingParams(temperature=0.8, seed=5, max_tokens=2000)
    conv = chat.store.create_conversation()
    shown: list[str] = []
    chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    chat.send(conv.id, "Tell me a very long story about llamas.")
    qtbot.waitUntil(lambda: len(shown) >= 5, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(chat.answer_finished, timeout=5_000) as finished:
        chat.stop()
    assert finished.args is not None and finished.args[2] == "stopped"
    answer = chat.store.messages(conv.id)[-1]
    assert answer.status == MessageStatus.STOPPED
    assert answer.content == "".join(shown)
    assert answer.usage is not None and answer.usage["stop_reason"] == "cancelled"


def test_too_long_message_is_given_back_unsent(chat: ChatService, qtbot: QtBot) -> None:
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    conv = chat.store.create_conversation()
    text = "hello " * 2000
    with qtbot.waitSignal(chat.rejected, timeout=TIMEOUT_MS) as rejected:
        chat.send(conv.id, text)
    assert rejected.args is not None
    assert rejected.args[1] == text
    assert "too long for this model's context" in rejected.args[2]
    assert "limit 256" in rejected.args[2]
    assert chat.store.messages(conv.id) == []
    assert chat.store.get_conversation(conv.id).title == "New chat"  # the title is restored
    assert not chat.busy


def test_engine_crash_saves_partial_as_failed_and_restarts(chat: ChatService, qtbot: QtBot) -> None:
    chat.sampling = SamplingParams(temperature=0.8, seed=9, max_tokens=2000)
    conv = chat.store.create_conversation()
    shown: list[str] = []
    chat.answer_delta.connect(lambda _c, _a, text: shown.append(text))
    errors: list[str] = []
    chat.error.connect(errors.append)
    chat.send(conv.id, "Tell me a very long story about llamas.")
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=TIMEOUT_MS)
    pid = chat.engine.pid
    assert pid is not None
    with qtbot.waitSignal(chat.answer_finished, timeout=10_000) as finished:
        os.kill(pid, signal.SIGABRT)
    assert finished.args is not None and finished.args[2] == "failed"
    answer = chat.store.messages(conv.id)[-1]
    assert answer.status == MessageStatus.FAILED
    assert answer.content.startswith("".join(shown)[:20])
    assert answer.error is not None and "SIGABRT" in answer.error
    assert errors and "SIGABRT" in errors[0]

    chat.sampling = SamplingParams(temperature=0.0, max_tokens=10)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as again:
        assert chat.send(conv.id, "Hello again")
    assert again.args is not None and again.args[2] == "complete"
    assert chat.engine.pid != pid
    # The failed exchange stays in the history but is not fed back to the model, so roles
    # still alternate (templates such as Mistral's refuse two user messages in a row).
    last = chat.store.messages(conv.id)[-1]
    context = chat.context_messages(conv.id, last.id)
    assert [m["role"] for m in context] == ["user"]
    assert context[0]["content"] == "Hello again"


def test_broken_template_fails_the_turn_instead_of_hanging(
    chat: ChatService, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    broken = with_chat_template(smollm_path, "{% endfor %}", tmp_path / "badtemplate.gguf")
    conv = chat.store.create_conversation()
    chat.add_model_file(str(broken), conv.id)
    errors: list[str] = []
    chat.error.connect(errors.append)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        chat.send(conv.id, "hello")
    assert finished.args is not None and finished.args[2] == "failed"
    assert not chat.busy
    assert errors and "badtemplate.gguf" in errors[0] and "chat template" in errors[0]
    assert chat.store.messages(conv.id)[-1].status == MessageStatus.FAILED


def test_a_file_that_is_no_model_is_refused_when_added(chat: ChatService, tmp_path: Path) -> None:
    bad = tmp_path / "random.gguf"
    bad.write_bytes(os.urandom(2048))
    with pytest.raises(ModelLoadError, match=r"random\.gguf: it is not a GGUF model file"):
        chat.add_model_file(str(bad))
    assert chat.store.user_models() == []
    assert all(m.path != str(bad) for m in chat.models)


def test_bad_model_file_fails_the_answer_and_keeps_history(
    chat: ChatService, qtbot: QtBot, tmp_path: os.PathLike[str], smollm_path: str
) -> None:
    """A file that passed the check when added and was overwritten since: the engine's own
    check names it when the message is sent."""
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        chat.send(conv.id, "first, with the bundled model")
    bad = os.path.join(tmp_path, "random.gguf")
    shutil.copyfile(smollm_path, bad)
    chat.add_model_file(bad, conv.id)  # the chat's model from now on
    with open(bad, "wb") as handle:
        handle.write(os.urandom(2048))
    errors: list[str] = []
    chat.error.connect(errors.append)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        chat.send(conv.id, "second, with a broken file")
    assert finished.args is not None and finished.args[2] == "failed"
    assert errors and "random.gguf" in errors[0] and "not a GGUF" in errors[0]
    messages = chat.store.messages(conv.id)
    assert [m.content for m in messages[:3]][:1] == ["first, with the bundled model"]
    assert messages[1].status == MessageStatus.COMPLETE
    assert messages[2].content == "second, with a broken file"
    assert messages[3].status == MessageStatus.FAILED
    recorded = chat.store.model_errors()[bad]
    assert "not a GGUF" in recorded


def test_catalog_quant_loads_as_the_fit_planner_advises(
    home: AppPaths, qtbot: QtBot, tmp_path: Path, smollm_path: str
) -> None:
    """A downloaded Scout quant on a 24 GB NVIDIA machine loads with the experts of 22 layers
    in RAM (the planner's answer for UD-IQ1_S there). The weights are a tiny llama4 stand-in."""
    from desktop.core.catalog import GB
    from desktop.core.fit import Gpu, Machine
    from desktop.services.engine_host import EngineHost
    from desktop.storage.settings import Settings
    from desktop.storage.store import ChatStore
    from tests.gguf_make import tiny_llama4

    repo = "unsloth/Llama-4-Scout-17B-16E-Instruct-GGUF"
    repo_path = "Llama-4-Scout-17B-16E-Instruct-UD-IQ1_S.gguf"
    target = home.models / "unsloth" / "Llama-4-Scout-17B-16E-Instruct-GGUF" / repo_path
    target.parent.mkdir(parents=True)
    tiny_llama4(target, smollm_path)
    rtx_24 = Machine(
        system="Linux",
        ram_total=64 * GB,
        ram_available=60 * GB,
        disk_free=500 * GB,
        gpus=(Gpu("RTX", "nvidia", 24 * GB, int(23.5 * GB)),),
        offload_supported=True,
        backend="CUDA",
    )
    store = ChatStore(home.database)
    store.record_download(
        str(target),
        repo=repo,
        path=repo_path,
        url="http://x",
        size=1,
        sha256=None,
        status="verified",
    )
    chat = ChatService(
        store, Settings(home.settings), home.models, EngineHost(), machine=lambda: rtx_24
    )
    chat.sampling = SamplingParams(temperature=0.0, max_tokens=6)
    model = next(m for m in chat.models if m.path == str(target))
    params, advice = chat.load_params_for(model)
    assert (params.n_cpu_moe, params.n_ctx) == (22, 8192)
    assert "experts of 22 of 48 layers in system RAM" in advice
    chat.select_model(model.id)
    statuses: list[str] = []
    chat.engine_status.connect(statuses.append)
    conv = store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        chat.send(conv.id, "Hello")
    assert finished.args is not None and finished.args[2] == "complete"
    assert any("experts of 22 of 48 layers" in s for s in statuses)
    # A Llama 4 chat starts with Meta's recommended sampling; the answer length stays ours.
    chosen = store.get_conversation(conv.id)
    assert chosen.preset == "Llama 4 (recommended)" and chosen.sampling is not None
    sampling = chosen.sampling
    assert (sampling.temperature, sampling.top_p, sampling.min_p) == (0.6, 0.9, 0.01)
    assert sampling.max_tokens == 6
    chat.shutdown()
    store.close()


def test_a_conversations_preset_sets_its_prompt_and_sampling(
    chat: ChatService, qtbot: QtBot
) -> None:
    from desktop.core.presets import Preset

    chat.save_preset(
        Preset("Three tokens", "Answer in French.", SamplingParams(temperature=0.0, max_tokens=3))
    )
    conv = chat.store.create_conversation()
    chat.apply_preset(conv.id, "Three tokens")
    assert chat.store.get_conversation(conv.id).system_prompt == "Answer in French."
    assert chat.context_messages(conv.id, 10**9)[0] == {
        "role": "system",
        "content": "Answer in French.",
    }
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        chat.send(conv.id, "Tell me a long story.")
    answer = chat.store.messages(conv.id)[-1]
    assert answer.usage is not None and answer.usage["output_tokens"] <= 3
    assert chat.store.get_conversation(conv.id).preset == "Three tokens"
    # Another chat without a preset keeps the app's defaults.
    assert chat.sampling_for(chat.store.create_conversation().id) == chat.sampling


def test_an_outgrown_chat_asks_and_dropping_the_oldest_turns_lets_it_go_on(
    chat: ChatService, qtbot: QtBot
) -> None:
    chat.load_params = LoadParams(n_ctx=256, n_threads=2)
    conv = chat.store.create_conversation("Long one")
    for i in range(8):
        chat.store.add_message(conv.id, Role.USER, f"Question {i}: " + "tell me about llamas " * 6)
        chat.store.add_message(
            conv.id, Role.ASSISTANT, f"Answer {i}: " + "llamas are camelids " * 6, model="local:x"
        )
    with qtbot.waitSignal(chat.outgrown, timeout=TIMEOUT_MS) as outgrown:
        chat.send(conv.id, "And alpacas?")
    assert outgrown.args is not None
    conversation_id, text, n_tokens, limit, after, _images = outgrown.args
    assert after == -1  # it followed the end of the chat (not an edit)
    assert (conversation_id, text, limit) == (conv.id, "And alpacas?", 256) and n_tokens > 256
    assert len(chat.store.messages(conv.id)) == 16  # nothing half-sent stays
    dropped = chat.drop_oldest(conv.id, n_tokens, limit, text)
    assert dropped > 0 and dropped % 2 == 0  # whole turns, from a question on
    sent = chat.context_messages(conv.id, 10**9)
    assert sent[0]["content"].startswith(f"Question {dropped // 2}")
    used: list[tuple[int, int, int]] = []
    chat.context_used.connect(lambda c, u, n: used.append((c, u, n)))
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        chat.send(conv.id, "And alpacas?")
    assert finished.args is not None and finished.args[2] == "complete"
    assert len(chat.store.messages(conv.id)) == 18  # every message is still in the history
    assert used and used[-1][0] == conv.id and 0 < used[-1][1] <= 256 and used[-1][2] == 256


def test_dropping_never_goes_back_and_the_question_is_always_sent(chat: ChatService) -> None:
    conv = chat.store.create_conversation("Long")
    ids = []
    for i in range(6):
        ids.append(chat.store.add_message(conv.id, Role.USER, f"Q{i} " + "x" * 200).id)
        chat.store.add_message(conv.id, Role.ASSISTANT, f"A{i} " + "y" * 200, model="local:x")
    chat.drop_oldest(conv.id, 1000, 256, "new")
    first = chat.store.get_conversation(conv.id).context_from
    # A smaller overflow later (only what is still sent is counted) never moves it back.
    chat.drop_oldest(conv.id, 300, 256, "new")
    second = chat.store.get_conversation(conv.id).context_from
    assert second >= first
    # Changing the preset keeps it.
    chat.apply_preset(conv.id, "Precise")
    assert chat.store.get_conversation(conv.id).context_from == second
    # Regenerating the very first answer still sends its question.
    first_answer = chat.store.messages(conv.id)[1]
    sent = chat.context_messages(conv.id, first_answer.id)
    assert [m["content"][:2] for m in sent if m["role"] == "user"] == ["Q0"]
