"""The "Tools" button beside the composer: which tool servers this chat has on, and how many
tools that gives the model ("Tools · 3").

Its menu lists the servers of mcp.json, each a check for this chat. In a chat locked to this
computer the remote (HTTP) ones are greyed out and say why; local programs say what they may do
that Llamaside cannot see. "Manage tools…" asks for the Tools page. The window keeps the chat's
choice: the button only says what the user toggled (``changed``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from desktop.core.mcp_config import McpServerConfig, network_refusal, stdio_note
from desktop.core.tools import ToolChoice
from desktop.services.tools import ToolsService
from desktop.ui.icon_set import set_icon

SERVER_PROPERTY = "toolServer"
REQUIRED = ToolChoice("required")


class ChatToolsButton(QToolButton):
    """The chat's tool servers, as a button with a menu of checks.

    Signals:
        changed(list): the servers this chat now has on (names, in mcp.json's order).
        manage_requested(): "Manage tools…" was chosen.
        choice_changed(object): the ToolChoice picked under "When to call".
    """

    changed = Signal(list)
    manage_requested = Signal()
    #: When the model is to call a tool (a ToolChoice): it decides, always, or this tool.
    choice_changed = Signal(object)

    def __init__(self, tools: ToolsService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self._servers_on: tuple[str, ...] = ()
        self._choice = ToolChoice()
        self._local_only = False
        self._offline = False
        self.setObjectName("chatToolsButton")
        self.setAccessibleName("Tools for this chat")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        set_icon(self, "tools")
        # The style draws the menu arrow over the text's end ("8▾"): room is made for it.
        self.setStyleSheet("QToolButton#chatToolsButton { padding-right: 12px; }")
        self._menu = QMenu(self)
        self._menu.setObjectName("chatToolsMenu")
        self._menu.setToolTipsVisible(True)
        # Built again just before it opens: states change while the menu is closed.
        self._menu.aboutToShow.connect(self.rebuild)
        self.setMenu(self._menu)
        # From the service's start/stop threads: queued to this (UI) thread.
        tools.servers_changed.connect(self.rebuild, Qt.ConnectionType.QueuedConnection)
        self.rebuild()

    def set_chat(
        self,
        servers_on: tuple[str, ...],
        local_only: bool,
        *,
        offline: bool = False,
        choice: ToolChoice | None = None,
    ) -> None:
        """Another chat is shown, or its lock (or File → Work offline) changed."""
        self._servers_on = tuple(servers_on)
        self._choice = choice or ToolChoice()
        self._local_only = local_only
        self._offline = offline
        self.rebuild()

    @property
    def servers_on(self) -> tuple[str, ...]:
        return self._servers_on

    def tool_count(self) -> int:
        """Tools the model is offered now: those of this chat's ready servers it may reach."""
        return len(self.tools.tools_of(self._servers_on, self._local_only))

    @Slot()
    def rebuild(self) -> None:
        """The menu and the button's text from the file, the servers' states and the chat."""
        if self._menu.isVisible():  # never rebuilt under the user's pointer; next opening is
            self._show_count()
            return
        self._menu.clear()
        servers = self.tools.servers()
        for config in servers:
            self._menu.addAction(self._entry(config))
        if not servers:
            none = self._menu.addAction("No tool servers yet")
            none.setEnabled(False)
        if self._servers_on and servers:
            self._menu.addMenu(self._choice_menu())
        self._menu.addSeparator()
        manage = self._menu.addAction("Manage tools…")
        manage.setObjectName("manageToolsAction")
        manage.triggered.connect(self.manage_requested)
        self._show_count()

    def _choice_menu(self) -> QMenu:
        """ "When to call": the model decides, it must call a tool, or it must call this one
        (forced from the first token: for a model that talks about tools instead of calling)."""
        menu = QMenu("When to call", self._menu)
        menu.setObjectName("toolChoiceMenu")
        group = QActionGroup(menu)
        options = [("When the model decides", ToolChoice()), ("Must call a tool", REQUIRED)]
        options += [
            (f"Must call {spec.name}", ToolChoice("tool", spec.name))
            for spec in self.tools.tools_of(self._servers_on, self._local_only)
        ]
        for label, choice in options:
            action = menu.addAction(label)
            action.setObjectName(f"toolChoice:{choice.mode}:{choice.name}")
            action.setCheckable(True)
            action.setChecked(choice == self._choice)
            group.addAction(action)
            action.triggered.connect(lambda _on=False, c=choice: self._choose(c))
        return menu

    def _choose(self, choice: ToolChoice) -> None:
        self._choice = choice
        self.choice_changed.emit(choice)

    def _entry(self, config: McpServerConfig) -> QAction:
        state = self.tools.state(config.name)
        if not config.enabled:
            status = "off"
        elif state.status == "ready":
            status = f"{len(state.tools)} tools"
        else:
            status = state.status
        action = QAction(f"{config.name}  ({status})", self._menu)
        action.setObjectName(f"toolServer:{config.name}")
        action.setProperty(SERVER_PROPERTY, config.name)
        action.setCheckable(True)
        action.setChecked(config.name in self._servers_on)
        refusal = network_refusal(config, local_only=self._local_only, offline=self._offline)
        if refusal is not None:
            action.setEnabled(False)
            action.setToolTip(refusal)
        elif not config.enabled:
            action.setEnabled(False)
            action.setToolTip(f'"{config.name}" is turned off on the Tools page.')
        elif config.transport == "stdio":
            action.setToolTip(stdio_note(config.name))
        else:
            action.setToolTip(f"A remote address: {config.url}")
        if state.status == "failed" and state.last_error and refusal is None:
            action.setToolTip(f"{action.toolTip()}\n\nIt failed: {state.last_error}")
        action.triggered.connect(self._toggled)
        return action

    @Slot(bool)
    def _toggled(self, _checked: bool) -> None:
        """The user checked or unchecked a server: the chat's list, in the file's order."""
        on = {
            str(a.property(SERVER_PROPERTY))
            for a in self._menu.actions()
            if a.isCheckable() and a.isChecked()
        }
        # A server the chat had on that the menu does not list (removed from mcp.json) stays:
        # only the user's click changes the list.
        listed = {str(a.property(SERVER_PROPERTY)) for a in self._menu.actions() if a.isCheckable()}
        kept = [name for name in self._servers_on if name not in listed]
        ordered = [s.name for s in self.tools.servers() if s.name in on] + kept
        self._servers_on = tuple(ordered)
        names = list(self._servers_on)
        for name in on:
            self.tools.start_in_background([name])
        self._show_count()
        self.changed.emit(names)

    def _show_count(self) -> None:
        count = self.tool_count()
        self.setText(f"Tools · {count}" if self._servers_on else "Tools")
        on = ", ".join(self._servers_on) or "none"
        self.setToolTip(f"Tool servers on in this chat: {on}. {count} tools offered to the model.")
