"""Does a LoRA adapter fit a base model? Read from the two GGUF headers, never the weights.

The rules are llama.cpp's own (src/llama-adapter.cpp): the file is an adapter (general.type
"adapter", adapter.type "lora"), made for the model's architecture, and each adapted tensor
``<name>.lora_a`` / ``<name>.lora_b`` names a weight of the model whose shape the pair fits (ne
[n_in, n_out] takes lora_a [n_in, r] and lora_b [r, n_out]; the token embedding the other way
round). Checking first lets the window and the CLI refuse an adapter, naming what does not fit,
before a chat is saved or the engine is asked; the engine checks again when it reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop.backends.gguf_check import _part_path
from desktop.backends.gguf_header import _Header, _read_header
from desktop.core.adapters import Adapter
from desktop.core.errors import ModelLoadError

TOKEN_EMBEDDING = "token_embd.weight"


class AdapterRefused(ModelLoadError):
    """An adapter that cannot be used with the model: the message names both and why."""


@dataclass(frozen=True)
class AdapterFacts:
    """What an adapter that fits says of itself: its name, rank and how many weights it changes."""

    name: str
    architecture: str
    rank: int
    tensors: int


def _shape(dims: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in dims)


def _model_shapes(model_path: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """The base model's architecture and its tensors' shapes, across a split model's parts."""
    header = _read_header(model_path)
    shapes = dict(header.shapes)
    for number in range(1, header.split_count):
        shapes.update(_read_header(_part_path(header, number)).shapes)
    return header.text("general.architecture") or "", shapes


def check_adapter(adapter: Adapter, model_path: str | Path) -> AdapterFacts:
    """The adapter's facts, or AdapterRefused with a sentence naming the adapter and what does
    not fit the model at ``model_path``."""
    file = Path(adapter.path)
    if not file.is_file():
        raise AdapterRefused(f"LoRA adapter not found: {adapter.path}")
    try:
        header = _read_header(file)
    except ModelLoadError as exc:
        raise AdapterRefused(
            str(exc).replace("Cannot load", "Cannot use the LoRA adapter")
        ) from None
    _is_lora(header)
    architecture, shapes = _model_shapes(Path(model_path))
    model = Path(model_path).name
    made_for = header.text("general.architecture") or "?"
    if made_for != architecture:
        raise AdapterRefused(
            f"Cannot use the LoRA adapter {file.name} with {model}: it was made for a "
            f"{made_for} model, and {model} is a {architecture} model."
        )
    ranks: set[int] = set()
    pairs = sorted({n.rsplit(".lora_", 1)[0] for n in header.shapes if ".lora_" in n})
    for name in pairs:
        ranks.add(_check_pair(header, name, shapes, file.name, model))
    if not pairs:
        raise AdapterRefused(f"Cannot use the LoRA adapter {file.name}: it changes no weights.")
    return AdapterFacts(adapter.name, made_for, max(ranks), len(pairs))


def _is_lora(header: _Header) -> None:
    kind, adapter_type = header.text("general.type"), header.text("adapter.type")
    if kind == "adapter" and adapter_type == "lora":
        return
    what = "a model, not an adapter" if kind in (None, "model") else f'a "{kind}" file'
    if kind == "adapter":
        what = f'a "{adapter_type}" adapter, not a LoRA'
    raise AdapterRefused(
        f"Cannot use {header.path.name} as a LoRA adapter: it is {what}. A LoRA adapter is "
        "the GGUF that llama.cpp's convert_lora_to_gguf.py writes from a fine-tune."
    )


def _check_pair(
    header: _Header, name: str, shapes: dict[str, tuple[int, ...]], file: str, model: str
) -> int:
    """The pair's rank, or AdapterRefused saying which weight does not fit."""
    a, b = header.shapes.get(f"{name}.lora_a"), header.shapes.get(f"{name}.lora_b")
    if a is None or b is None:
        raise AdapterRefused(
            f"Cannot use the LoRA adapter {file}: it has only half of the change to {name} "
            "(lora_a and lora_b come in pairs). The file is damaged or was cut short."
        )
    base = shapes.get(name)
    if base is None:
        raise AdapterRefused(
            f"Cannot use the LoRA adapter {file} with {model}: it changes {name}, which "
            f"{model} does not have. It was made for another base model."
        )
    a2, b2 = (*a, 1)[:2], (*b, 1)[:2]
    if name == TOKEN_EMBEDDING:
        fits, rank = base[0] == b2[1] and base[1] == a2[1], a2[0]
    else:
        fits, rank = base[0] == a2[0] and base[1] == b2[1] and a2[1] == b2[0], a2[1]
    if not fits:
        raise AdapterRefused(
            f"Cannot use the LoRA adapter {file} with {model}: it was made for a base model "
            f"whose {name} is {_shape(a2[:1] + b2[1:])}; {model}'s is {_shape(base[:2])}. "
            "Pick the model it was fine-tuned from."
        )
    return rank
