"""Which model may be sent pictures, said before anything is saved or sent: a local model with
its vision projector, a cloud model that takes images. The attach button's tooltip, the send
path's refusal and a comparison column's note read the same sentence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from desktop.core.answer import Prompt
from desktop.core.errors import LlamasideError
from desktop.core.models import CloudModel, LocalModel
from desktop.core.parts import Image
from desktop.core.vision import MAX_IMAGES_PER_MESSAGE, cannot_see_note, cloud_model_sees


class CannotSeeImages(LlamasideError):
    """The chosen model takes no pictures (nothing was saved or sent)."""


def vision_note(model: LocalModel | CloudModel | None) -> str:
    """ "" when the model takes pictures, else why not (a sentence for a tooltip)."""
    if model is None:
        return "No model is chosen."
    if isinstance(model, LocalModel):
        return "" if model.mmproj else cannot_see_note(model.name, local=True)
    return "" if cloud_model_sees(model.model) else cannot_see_note(model.name, local=False)


def check_images(model: LocalModel | CloudModel | None, images: Sequence[Image]) -> None:
    """Raise CannotSeeImages when these pictures cannot go to this model."""
    if not images:
        return
    if len(images) > MAX_IMAGES_PER_MESSAGE:
        raise CannotSeeImages(
            f"A message may carry {MAX_IMAGES_PER_MESSAGE} pictures; this one has {len(images)}."
        )
    note = vision_note(model)
    if note:
        raise CannotSeeImages(note)


def without_images(prompt: Prompt) -> Prompt:
    """The prompt for a model that cannot see: earlier turns' pictures left out (their words
    stay), so a chat that began with a screenshot can go on with a text model."""
    if not prompt.images:
        return prompt
    messages = tuple(
        replace(m, parts=tuple(p for p in m.parts if not isinstance(p, Image)))
        for m in prompt.messages
    )
    return replace(prompt, messages=messages)
