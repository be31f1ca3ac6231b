"""The status bar's parts: the engine's state, the latest answer's numbers, the context meter,
the engine's memory, safe mode and OFFLINE."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtWidgets import QLabel, QSizeGrip, QStatusBar, QWidget

from desktop.core.chat_records import StoredMessage
from desktop.core.models import CloudModel, is_local_id
from desktop.core.usage import Usage
from desktop.services.chat import ChatService
from desktop.services.chat_served import NO_MODEL
from desktop.services.engine_memory import MB, EngineMemory, EngineMemoryUse
from desktop.ui.context_meter import ContextMeter
from desktop.ui.design import Colours
from desktop.ui.elided_label import MIN_WIDTH, ElidedLabel
from desktop.ui.tone_colours import PaletteFollower, theme_colours


def memory_text(use: EngineMemoryUse) -> str:
    """A memory reading in a few words: "Engine 312 MB RAM", "Engine 1.4 GB RAM · 2.1 GB VRAM"."""
    text = f"Engine {_size(use.ram_bytes)} RAM"
    if use.vram_bytes is not None:
        text += f" · {_size(use.vram_bytes)} VRAM"
    return text


def _size(count: int) -> str:
    megabytes = count / MB
    return f"{megabytes / 1024:.1f} GB" if megabytes >= 1024 else f"{megabytes:.0f} MB"


def badge_colours(c: Colours) -> dict[str, tuple[str, str, str]]:
    """The OFFLINE and safe-mode badges' text, surface and border in the theme ``c``: filled
    with the danger and warning tones, written in Base (white in the light theme, near black
    in the dark, where the tones are light): AA contrast in both (tests/ui/test_contrast.py)."""
    return {
        "offline": (c.base, c.danger, c.danger),
        "safe": (c.base, c.warning, c.warning),
    }


#: What a status bar takes beside its widgets: the gap after each, and the size grip and
#: margins at its ends (generous: a line a few pixels short is cut, parts never overlap).
SPACING = 8
GRIP_AND_MARGINS = 40


class StatusLine(QObject):
    """Owns the status bar's labels and their words: the local engine's state (or, while a
    cloud model answers, where the answer comes from), tokens per second and the latest
    answer's usage, the engine child's memory (shown while it runs), the safe-mode and
    OFFLINE marks; and places the context meter among them.
    """

    def __init__(self, chat: ChatService, bar: QStatusBar, meter: ContextMeter) -> None:
        super().__init__(bar)
        self.chat = chat
        #: The local engine's state in words (a cloud answer's line replaces it while it runs).
        self._engine_text = NO_MODEL
        parent: QWidget | None = bar.window()
        self.engine_label = ElidedLabel(NO_MODEL, parent)
        self.engine_label.setAccessibleName("Engine status")
        self.speed_label = ElidedLabel("", parent)
        self.speed_label.setAccessibleName("Tokens per second")
        self.offline_label = QLabel("OFFLINE", parent)
        self.offline_label.setObjectName("offlineIndicator")
        self.offline_label.setAccessibleName("Offline: nothing is sent over the network")
        self.offline_label.hide()
        self.safe_mode_label = QLabel("", parent)
        self.safe_mode_label.setObjectName("safeModeIndicator")
        self.safe_mode_label.setAccessibleName("The local engine runs in safe mode")
        self.safe_mode_label.hide()
        self._style_badges()
        #: The badges are drawn in the theme's colours, again after a switch.
        self.badge_follower = PaletteFollower(bar, self._style_badges)
        self.memory_label = ElidedLabel("", parent)
        self.memory_label.setObjectName("engineMemory")
        self.memory_label.setAccessibleName("Memory used by the local engine")
        self.memory_label.hide()
        #: The engine child's memory, read every 2 s while it runs.
        self.memory = EngineMemory(chat.engine, self)
        self.memory.changed.connect(self.show_memory)
        bar.addWidget(self.engine_label, 1)
        for widget in (
            meter,
            self.speed_label,
            self.memory_label,
            self.safe_mode_label,
            self.offline_label,
        ):
            bar.addPermanentWidget(widget)
        self.bar = bar
        bar.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # A part's text changed (the layout is asked again) or the bar's width did.
        if watched is self.bar and event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest):
            self._keep_engine_room()
        return False

    def _say(self, text: str) -> None:
        self.engine_label.setText(text)
        self._keep_engine_room()

    def _keep_engine_room(self) -> None:
        """The engine's line first: it says what happens now ("The model unloads when the
        served request ends…"), so the last answer's numbers are cut before it is (they were
        kept whole and the line cut to "The model unl…"), as far as the other parts keep
        their least. A cap on the numbers rather than a minimum on the line, which Qt may pass
        up to the window's own minimum."""
        label, numbers = self.engine_label, self.speed_label
        need = label.fontMetrics().horizontalAdvance(label.text()) + 2 * label.margin() + 4
        # Every other part (the server's address and a load's progress too), as little as
        # each can be.
        others = sum(
            max(w.minimumWidth(), w.minimumSizeHint().width()) + SPACING
            for w in self.bar.findChildren(
                QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly
            )
            if w not in (label, numbers) and not w.isHidden() and not isinstance(w, QSizeGrip)
        )
        room = self.bar.width() - need - others - SPACING - GRIP_AND_MARGINS
        cap = max(MIN_WIDTH, room)
        if cap != numbers.maximumWidth():
            numbers.setMaximumWidth(cap)

    @Slot(object)
    def show_memory(self, use: object) -> None:
        """The engine child's memory now; hidden when no engine runs."""
        if not isinstance(use, EngineMemoryUse):
            self.memory_label.hide()
            return
        self.memory_label.setText(memory_text(use))
        gpu = "" if use.vram_bytes is None else f", and {_size(use.vram_bytes)} of GPU memory"
        self.memory_label.setToolTip(
            f"The local engine (process {use.pid}) uses {_size(use.ram_bytes)} of RAM{gpu}."
        )
        self.memory_label.show()

    @Slot(str)
    def show_engine(self, text: str) -> None:
        self._engine_text = text
        self._say(text)

    def show_busy(self, busy: bool) -> None:
        if not busy:
            self._say(self._engine_text)  # a cloud answer's line ends with it

    def show_answering(self, conversation_id: int, model_id: str | None) -> None:
        """An answer starts in the chat on screen: its numbers come later; a cloud model's
        line says where it comes from."""
        self.speed_label.setText("")
        if model_id is not None and not is_local_id(model_id):
            # The local engine's line would say "No model loaded" while the cloud answers.
            model = self.chat.model_of(conversation_id)
            where = ""
            if isinstance(model, CloudModel) and self.chat.cloud is not None:
                url = self.chat.cloud.provider(model.provider).base_url
                where = f" at {urlsplit(url).netloc or url}"
            self._say(f"☁ {self.chat.model_name(model_id)}{where} is answering")

    @Slot(float)
    def show_speed(self, tokens_per_second: float) -> None:
        self.speed_label.setText(f"{tokens_per_second:.1f} tok/s")

    @Slot(object)
    def show_usage(self, usage: object) -> None:
        if not isinstance(usage, Usage):
            return
        self.speed_label.setText(
            f"{usage.output_tokens} tokens · {usage.tokens_per_second:.1f} tok/s · "
            f"first token {usage.time_to_first_token_s * 1000:.0f} ms · "
            f"prompt {usage.prompt_tokens} tokens · {usage.stop_reason.value}"
        )

    def show_usage_of(self, messages: list[StoredMessage]) -> None:
        """The numbers of this chat's latest answer (none for a new chat: never the numbers of
        the chat shown before)."""
        self.speed_label.setText("")
        for message in reversed(messages):
            if message.role.value == "assistant" and message.usage:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    self.show_usage(Usage.from_dict(message.usage))
                return

    @Slot(str, str, str)
    def show_safe_mode(self, short: str, note: str, detail: str) -> None:
        self.safe_mode_label.setText(short)
        self.safe_mode_label.setToolTip(
            f"{note[:1].upper() + note[1:]}.\n\n{detail}" if note else ""
        )
        self.safe_mode_label.setVisible(bool(note))

    def _style_badges(self) -> None:
        c = theme_colours()
        for label, badge in ((self.offline_label, "offline"), (self.safe_mode_label, "safe")):
            text, background, border = badge_colours(c)[badge]
            label.setStyleSheet(
                f"color: {text}; background: {background}; border: 1px solid {border}; "
                "padding: 0px 7px; border-radius: 3px"
            )

    def show_offline(self, offline: bool) -> None:
        self.offline_label.setVisible(offline)
