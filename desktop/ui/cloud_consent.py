"""The questions asked before anything goes to a cloud model: the first send to a provider, and
earlier messages of a chat that so far stayed on this computer."""

from __future__ import annotations

from typing import Literal

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.chat_records import AT_LEAF
from desktop.core.models import CloudModel
from desktop.services.chat import ChatService

#: What the user said before a cloud send (see cloud_decision).
CloudDecision = Literal["go", "share", "new", "cancel"]


def cloud_decision(
    parent: QWidget,
    chat: ChatService,
    conversation_id: int | None,
    *,
    local_only: bool,
    after: int | None = AT_LEAF,
    answer_id: int | None = None,
) -> CloudDecision:
    """Before anything goes to a cloud model, the user's word: on the first send to its
    provider, and whenever earlier messages of this chat that so far stayed on this
    computer would go with it. "go": nothing to ask (or a local model); "share": yes, the
    earlier messages too; "new": only this message, in a new chat; "cancel"."""
    model = chat.model_of(conversation_id)
    cloud = chat.cloud
    if not isinstance(model, CloudModel) or local_only or cloud is None:
        return "go"  # a locked chat is refused by the service, with its reason
    if cloud.offline or conversation_id is None:
        return "go"  # refused by the service too: nothing to agree to
    share = chat.unshared_history(conversation_id, after=after, answer_id=answer_id)
    first = chat.needs_consent(model)
    if share is None:
        return "go" if not first or ask_consent(parent, chat, model) else "cancel"
    config = cloud.provider(model.provider)
    label = config.label or config.name
    box = QMessageBox(parent)
    box.setObjectName("historyConsentDialog")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(f"Send this chat's earlier messages to {label}?")
    box.setText(share.describe())
    details = (
        "So far they have stayed on this computer. Send them, or start a new chat with "
        "just this message (this chat stays as it is)."
    )
    if first:
        details += f"\n\n{chat.consent_text(model)}"
    box.setInformativeText(details)
    send = box.addButton("Send them too", QMessageBox.ButtonRole.AcceptRole)
    fresh = box.addButton("New chat with just this message", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is send or clicked is fresh:
        cloud.grant_consent(model.provider)  # either way this message goes to the provider
        return "share" if clicked is send else "new"
    return "cancel"


def ask_consent(parent: QWidget, chat: ChatService, model: CloudModel) -> bool:
    """The one question before a provider first receives anything."""
    assert chat.cloud is not None
    config = chat.cloud.provider(model.provider)
    box = QMessageBox(parent)
    box.setObjectName("consentDialog")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(f"Send to {config.label or config.name}?")
    box.setText(f"Send this chat to {config.label or config.name}?")
    box.setInformativeText(chat.consent_text(model))
    send = box.addButton(
        f"Send to {config.label or config.name}", QMessageBox.ButtonRole.AcceptRole
    )
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is not send:
        return False
    chat.cloud.grant_consent(model.provider)
    return True
