"""The questions asked before anything goes to a cloud model: the first send to a provider, and
earlier messages of a chat that so far stayed on this computer."""

from __future__ import annotations

import html
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from desktop.core.chat_records import AT_LEAF
from desktop.core.models import CloudModel
from desktop.services.chat import ChatService

#: What the user said before a cloud send (see cloud_decision).
CloudDecision = Literal["go", "share", "new", "cancel"]
#: The widest an address is shown, in pixels; a wider one loses its middle ("…") and is
#: whole in the tooltip. A message box's words are about this wide on a small screen.
URL_WIDTH_PX = 300


def address_font(like: QFont) -> QFont:
    """The system's fixed-pitch font at the size of ``like`` (an address reads as one thing)."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if like.pointSizeF() > 0:
        font.setPointSizeF(like.pointSizeF())
    return font


def words_with_url(text: str, url: str, font: QFont, width: int = URL_WIDTH_PX) -> str:
    """``text`` as rich text with ``url`` on a line of its own, in one piece: a line that
    never breaks (a label wrapping the words broke "http://" from "127.0.0.1…"), in a
    fixed-pitch font, cut in the middle to ``width`` pixels if wider. Paragraphs (blank
    lines) stay apart."""
    shown = QFontMetrics(font).elidedText(url, Qt.TextElideMode.ElideMiddle, width)
    address = (
        f"<p style='white-space:pre; margin-left:12px; font-family:\"{font.family()}\"'>"
        f"{html.escape(shown, quote=False)}</p>"
    )
    blocks = []
    for paragraph in text.split("\n\n"):
        pieces = paragraph.split(url) if url else [paragraph]
        for position, piece in enumerate(pieces):
            words = piece
            if position > 0:
                blocks.append(address)
                words = piece.removeprefix(",").lstrip()  # "…at <address> to be answered…"
            if words.strip():
                blocks.append(f"<p>{html.escape(words, quote=False).replace(chr(10), '<br>')}</p>")
    return "".join(blocks)


def _set_details(box: QMessageBox, text: str, url: str) -> None:
    """The box's informative text, its address unbroken (and whole in the tooltip when cut)."""
    font = address_font(box.font())
    box.setInformativeText(words_with_url(text, url, font))
    label = box.findChild(QLabel, "qt_msgbox_informativelabel")
    if label is not None:
        label.setTextFormat(Qt.TextFormat.RichText)
        if url and url in text:
            label.setToolTip(f"The address: {url}")


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
    _set_details(box, details, config.base_url)
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
    _set_details(box, chat.consent_text(model), config.base_url)
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
