"""The window's tool controls, wired in one place: the chat's Tools button beside the preset,
Tools → "Tools and MCP servers…", and the approval dialog each call opens (Stop, or the answer
ending, closes it as a Deny).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence

from desktop.core.parts import ToolCall
from desktop.core.tools import ToolChoice, ToolSpec
from desktop.services.tools import ToolsService
from desktop.ui.chat_tools_button import ChatToolsButton
from desktop.ui.icon_set import set_icon
from desktop.ui.tool_approval import ToolApprovalDialog
from desktop.ui.tools_dialog import ToolsDialog

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow


class ToolsUi(QObject):
    """Owns the tool widgets of one window; the window tells it which chat is shown."""

    def __init__(self, window: MainWindow, tools: ToolsService) -> None:
        super().__init__(window)
        self.window = window
        self.tools = tools
        self.button = ChatToolsButton(tools, window.composer)
        window.composer.add_to_row(self.button)
        self.dialog: ToolsDialog | None = None
        self.approval: ToolApprovalDialog | None = None
        self.manage_action = QAction("&Tools and MCP servers…", window)
        self.manage_action.setObjectName("toolsAction")
        set_icon(self.manage_action, "tools")
        self.manage_action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.manage_action.triggered.connect(self.show_tools)
        menu = window.menuBar().addMenu("&Tools")
        menu.setObjectName("toolsMenu")
        menu.addAction(self.manage_action)
        # Beside Cloud, before View: where the app's other connections are.
        view = next((a for a in window.menuBar().actions() if a.text() == "&View"), None)
        if view is not None:
            window.menuBar().insertAction(view, menu.menuAction())
        self.button.changed.connect(self._on_chat_tools_changed)
        self.button.manage_requested.connect(self.show_tools)
        self.button.choice_changed.connect(self._on_choice_changed)
        chat = window.chat
        chat.tool_approval.connect(self._on_approval)
        chat.busy_changed.connect(self._on_busy)
        tools.problem.connect(window.banner.show_message)

    def show_chat(self, conversation_id: int) -> None:
        conversation = self.window.library.conversation(conversation_id)
        cloud = self.window.chat.cloud
        self.button.set_chat(
            conversation.tools,
            conversation.local_only,
            offline=cloud.offline if cloud is not None else False,
            choice=conversation.tool_choice,
        )

    @Slot()
    def show_tools(self) -> ToolsDialog:
        if self.dialog is None:
            self.dialog = ToolsDialog(self.tools, self.window)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    @Slot(list)
    def _on_chat_tools_changed(self, servers: list[str]) -> None:
        conversation_id = self.window.conversation_id
        if conversation_id is not None:
            self.window.library.set_tools(conversation_id, servers)
            self.show_chat(conversation_id)

    @Slot(object)
    def _on_choice_changed(self, choice: object) -> None:
        conversation_id = self.window.conversation_id
        if conversation_id is not None and isinstance(choice, ToolChoice):
            self.window.library.set_tool_choice(conversation_id, choice)

    @Slot(int, int, object, object)
    def _on_approval(
        self, conversation_id: int, _answer_id: int, call: object, spec: object
    ) -> None:
        if not isinstance(call, ToolCall):
            return
        tool = spec if isinstance(spec, ToolSpec) else None
        if conversation_id != self.window.conversation_id:
            self.window.open_conversation(conversation_id)  # the call is about this chat
        server = self.tools.config.server(tool.server if tool is not None else call.server)
        kind = server.transport if server is not None else "stdio"
        dialog = self.approval = ToolApprovalDialog(call, tool, kind, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.decided.connect(self.window.chat.decide)
        dialog.destroyed.connect(self._forget_approval)
        dialog.open()

    @Slot()
    def _forget_approval(self) -> None:
        self.approval = None

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        if not busy and self.approval is not None:
            self.approval.reject()  # the turn ended (Stop): its question is moot
