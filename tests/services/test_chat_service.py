"""ChatService with the real engine: what is saved, when, and how each ending is recorded."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from pytestqt.qtbot import QtBot

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
    assert conversation.params["temperature"] == 0.0
    assert conversation.params["max_tokens"] == 24
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
    chat.add_model_file(str(broken))
    conv = chat.store.create_conversation()
    errors: list[str] = []
    chat.error.connect(errors.append)
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS) as finished:
        chat.send(conv.id, "hello")
    assert finished.args is not None and finished.args[2] == "failed"
    assert not chat.busy
    assert errors and "badtemplate.gguf" in errors[0] and "chat template" in errors[0]
    assert chat.store.messages(conv.id)[-1].status == MessageStatus.FAILED


def test_bad_model_file_fails_the_answer_and_keeps_history(
    chat: ChatService, qtbot: QtBot, tmp_path: os.PathLike[str]
) -> None:
    conv = chat.store.create_conversation()
    with qtbot.waitSignal(chat.answer_finished, timeout=TIMEOUT_MS):
        chat.send(conv.id, "first, with the bundled model")
    bad = os.path.join(tmp_path, "random.gguf")
    with open(bad, "wb") as handle:
        handle.write(os.urandom(2048))
    chat.add_model_file(bad)
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
    [(recorded,)] = chat.store.db.execute(
        "SELECT last_error FROM user_models WHERE path = ?", [bad]
    ).fetchall()
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
    chat.shutdown()
    store.close()
