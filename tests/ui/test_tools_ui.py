"""The Tools UI as a user meets it (issue 20): the question before a tool runs, the Tools page
(servers and their states, add, import, turn off, remove, always allowed, limits) and the chat's
Tools button. A real ToolsService with a real mcp.json in a temporary folder and a real MCP hub
running the SDK's test server (tests/mcp_servers/toolbox.py) where states matter."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop.backends.mcp_hub import McpHub
from desktop.core.mcp_config import McpConfigFile, McpServerConfig, network_refusal, stdio_note
from desktop.core.parts import ToolCall
from desktop.core.tools import ToolSpec
from desktop.services.tool_turn import Decision
from desktop.services.tools import ALWAYS_ALLOW_KEY, MAX_STEPS_KEY, TIMEOUT_KEY, ToolsService
from desktop.storage.mcp_store import McpStore
from desktop.storage.settings import Settings
from desktop.ui.chat_tools_button import ChatToolsButton
from desktop.ui.tool_approval import MAX_SHOWN_CHARS, ToolApprovalDialog
from desktop.ui.tool_server_forms import AddServerDialog, ImportDialog
from desktop.ui.tools_dialog import ToolsDialog
from tests.ui.driving import answer_modal
from tests.ui.test_accessibility import unnamed

REPO = Path(__file__).resolve().parents[2]
#: The SDK test server's tools.
TOOLBOX_TOOLS = 8
TOOLBOX = McpServerConfig(
    "toolbox", command=sys.executable, args=("-m", "tests.mcp_servers.toolbox"), cwd=str(REPO)
)
#: A program that says why on stderr and exits before speaking MCP.
BROKEN = McpServerConfig(
    "broken",
    command=sys.executable,
    args=("-c", "import sys; sys.stderr.write('broken: no API key in BROKEN_KEY\\n'); sys.exit(2)"),
)
#: Never reached in these tests (a local-only chat refuses it before any connection).
WEB = McpServerConfig("web", transport="http", url="http://127.0.0.1:9/mcp")
START_MS = 30_000


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[ToolsService]:
    service = ToolsService(
        McpStore(tmp_path / "config" / "mcp.json"), Settings(tmp_path / "settings.json"), McpHub()
    )
    service.load()
    yield service
    service.close()


def saved(tools: ToolsService) -> dict[str, dict[str, object]]:
    """mcp.json's servers as on disk."""
    servers = json.loads(tools.store.path.read_text())["mcpServers"]
    assert isinstance(servers, dict)
    return servers


def click(widget: QWidget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def started(qtbot: QtBot, tools: ToolsService, *configs: McpServerConfig) -> None:
    tools.save(McpConfigFile(configs))
    names = [c.name for c in configs if c.transport == "stdio"]
    tools.start_in_background(names)
    qtbot.waitUntil(
        lambda: all(tools.state(n).status in ("ready", "failed") for n in names), timeout=START_MS
    )


def row_of(dialog: ToolsDialog, name: str) -> list[str]:
    """The server's row in the list as shown ([] when it is not listed)."""
    for i in range(dialog.server_list.topLevelItemCount()):
        item = dialog.server_list.topLevelItem(i)
        if item is not None and item.text(0) == name:
            return [item.text(c) for c in range(4)]
    return []


def shown_state(dialog: ToolsDialog, name: str) -> str:
    row = row_of(dialog, name)
    return row[1] if row else ""


# -- the approval dialog -------------------------------------------------------------------------

CALL = ToolCall("c1", "weather", '{"city": "Lyon", "days": [1, 2]}', server="toolbox")
SPEC = ToolSpec("weather", "Today's (made-up) weather in a city.", server="toolbox")


#: The windows the dialogs belong to, kept alive as the main window is.
_WINDOWS: list[QWidget] = []


def approval(qtbot: QtBot, call: ToolCall = CALL, kind: str = "stdio") -> ToolApprovalDialog:
    parent = QWidget()
    _WINDOWS.append(parent)
    qtbot.addWidget(parent)
    parent.resize(900, 700)
    parent.show()
    dialog = ToolApprovalDialog(call, SPEC, kind, parent)
    dialog.open()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.mark.parametrize(
    ("button", "decision"),
    [
        ("allow_once_button", Decision.ALLOW_ONCE),
        ("always_button", Decision.ALWAYS),
        ("deny_button", Decision.DENY),
    ],
)
def test_each_button_answers_once(qtbot: QtBot, button: str, decision: Decision) -> None:
    dialog = approval(qtbot)
    assert dialog.windowModality() == Qt.WindowModality.WindowModal
    answers: list[Decision] = []
    dialog.decided.connect(answers.append)
    click(getattr(dialog, button))
    assert answers == [decision]
    assert dialog.decision == decision
    assert not dialog.isVisible()
    dialog.close()  # closing after the answer changes nothing
    assert answers == [decision] and dialog.decision == decision


def test_escape_and_closing_deny(qtbot: QtBot) -> None:
    dialog = approval(qtbot)
    answers: list[Decision] = []
    dialog.decided.connect(answers.append)
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert answers == [Decision.DENY] and not dialog.isVisible()

    closed = approval(qtbot)
    closed.decided.connect(answers.append)
    closed.close()
    assert answers == [Decision.DENY, Decision.DENY]
    assert closed.decision == Decision.DENY


def test_enter_never_runs_a_tool(qtbot: QtBot) -> None:
    dialog = approval(qtbot)
    QTest.keyClick(dialog, Qt.Key.Key_Return)
    assert dialog.decision == Decision.DENY


def test_it_says_what_runs_where_with_which_arguments(qtbot: QtBot) -> None:
    local = approval(qtbot)
    assert "weather" in local.heading.text()
    assert "toolbox" in local.server_label.text()
    assert "a program on this computer; it may reach the network itself" in (
        local.server_label.text()
    )
    assert local.description_label.text() == SPEC.description
    text = local.arguments.toPlainText()
    assert text == json.dumps({"city": "Lyon", "days": [1, 2]}, indent=2)
    assert local.arguments.isReadOnly()
    assert local.arguments.font().fixedPitch() or "mono" in local.arguments.font().family().lower()
    remote = approval(qtbot, kind="http")
    assert "remote address" in remote.server_label.text()


def test_a_huge_argument_does_not_make_a_huge_dialog(qtbot: QtBot) -> None:
    call = ToolCall("c2", "echo", json.dumps({"text": "x" * 2_000_000 + "\n" * 50_000}))
    dialog = approval(qtbot, call)
    assert dialog.width() <= 900 and dialog.height() <= 700
    shown = dialog.arguments.toPlainText()
    assert len(shown) < MAX_SHOWN_CHARS + 200 and "more characters not shown" in shown
    assert dialog.arguments.verticalScrollBar().maximum() > 0  # it scrolls instead
    click(dialog.deny_button)


def test_a_huge_name_or_description_does_not_either(qtbot: QtBot) -> None:
    call = ToolCall("c3", "n" * 3000, "{}", server="s" * 500)
    parent = QWidget()
    _WINDOWS.append(parent)
    qtbot.addWidget(parent)
    dialog = ToolApprovalDialog(
        call, ToolSpec("n" * 3000, "d" * 5000, server="s" * 500), "http", parent
    )
    dialog.open()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= 900 and dialog.height() <= 700, dialog.size()
    assert dialog.heading.toolTip() == call.name
    click(dialog.allow_once_button)
    assert dialog.decision == Decision.ALLOW_ONCE


# -- the Tools page ------------------------------------------------------------------------------


@pytest.fixture
def page(qtbot: QtBot, tools: ToolsService) -> ToolsDialog:
    dialog = ToolsDialog(tools)
    qtbot.addWidget(dialog)
    dialog.resize(860, 640)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def add_by_form(page: ToolsDialog, **fields: str) -> str:
    """Add server…, the form filled in as typed, then Add; returns the form's refusal ("" when
    it took the server)."""
    refusal: list[str] = []

    def fill(widget: QWidget) -> None:
        assert isinstance(widget, AddServerDialog)
        if fields.get("kind") == "http":
            widget.kind_combo.setCurrentIndex(widget.kind_combo.findData("http"))
        for edit, key in (
            (widget.name_edit, "name"),
            (widget.command_edit, "command"),
            (widget.args_edit, "args"),
            (widget.url_edit, "url"),
        ):
            if key in fields:
                QTest.keyClicks(edit, fields[key])
        click(widget.ok_button)
        if widget.isVisible():  # refused: the reason is on the form; give up
            refusal.append(widget.error.text())
            widget.reject()

    failures = answer_modal(fill, AddServerDialog)
    click(page.add_button)
    assert not failures, failures
    return "".join(refusal)


def test_add_a_program_writes_mcp_json_and_it_starts(
    qtbot: QtBot, tools: ToolsService, page: ToolsDialog
) -> None:
    assert page.title.text() == "No tool servers yet"
    add_by_form(page, name="toolbox", command=sys.executable, args="-m tests.mcp_servers.toolbox")
    entry = saved(tools)["toolbox"]
    assert entry == {"command": sys.executable, "args": ["-m", "tests.mcp_servers.toolbox"]}
    # cwd is ours (the repository), so the module is found.
    qtbot.waitUntil(lambda: shown_state(page, "toolbox") == "ready", timeout=START_MS)
    assert row_of(page, "toolbox") == ["toolbox", "ready", "local program", str(TOOLBOX_TOOLS)]
    assert page.selected == "toolbox"
    tool_names = [page.tool_list.item(i).text() for i in range(page.tool_list.count())]
    assert "add — Add two integers." in tool_names
    assert "may reach the network itself" in page.what.text()


def test_add_an_address_and_refusals_of_the_form(
    qtbot: QtBot, tools: ToolsService, page: ToolsDialog
) -> None:
    refusal = add_by_form(page, name="web", kind="http", url="ftp://nope")
    assert "http:// or https://" in refusal
    assert not tools.store.path.exists()
    assert add_by_form(page, name="web", kind="http", url="https://example.com/mcp") == ""
    assert saved(tools) == {"web": {"url": "https://example.com/mcp"}}
    assert row_of(page, "web")[2] == "remote address"
    assert "locked to this computer" in page.what.text()


def test_the_form_says_why_it_refuses(qtbot: QtBot, tools: ToolsService) -> None:
    tools.save(McpConfigFile((WEB,)))
    form = AddServerDialog({"web"})
    qtbot.addWidget(form)
    form.show()
    click(form.ok_button)
    assert form.isVisible() and "name" in form.error.text()
    QTest.keyClicks(form.name_edit, "web")
    click(form.ok_button)
    assert "already called" in form.error.text()
    form.name_edit.clear()
    QTest.keyClicks(form.name_edit, "files")
    click(form.ok_button)
    assert 'no "command"' in form.error.text() and form.server is None
    QTest.keyClicks(form.command_edit, "npx")
    QTest.keyClicks(form.args_edit, '-y "unclosed')
    click(form.ok_button)
    assert "arguments could not be read" in form.error.text()
    form.args_edit.clear()
    QTest.keyClicks(form.args_edit, '-y server-files "My notes"')
    click(form.ok_button)
    assert not form.isVisible()
    assert form.server == McpServerConfig(
        "files", command="npx", args=("-y", "server-files", "My notes")
    )


def test_disable_enable_and_remove(qtbot: QtBot, tools: ToolsService, page: ToolsDialog) -> None:
    started(qtbot, tools, TOOLBOX, WEB)
    qtbot.waitUntil(lambda: shown_state(page, "toolbox") == "ready", timeout=START_MS)
    page.select("toolbox")
    assert page.enable_button.text() == "Disable"
    click(page.enable_button)
    assert saved(tools)["toolbox"]["disabled"] is True
    qtbot.waitUntil(lambda: tools.state("toolbox").status == "stopped", timeout=START_MS)
    qtbot.waitUntil(lambda: shown_state(page, "toolbox") == "off")
    assert page.enable_button.text() == "Enable" and not page.restart_button.isEnabled()
    click(page.enable_button)
    assert "disabled" not in saved(tools)["toolbox"]
    qtbot.waitUntil(lambda: shown_state(page, "toolbox") == "ready", timeout=START_MS)

    def cancel(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        widget.button(QMessageBox.StandardButton.Cancel).click()

    failures = answer_modal(cancel, QMessageBox, "removeToolServerQuestion")
    click(page.remove_button)
    assert not failures and "toolbox" in saved(tools)

    def remove(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        [button] = [b for b in widget.buttons() if b.text() == "Remove"]
        button.click()

    failures = answer_modal(remove, QMessageBox, "removeToolServerQuestion")
    click(page.remove_button)
    assert not failures
    assert list(saved(tools)) == ["web"]
    assert row_of(page, "toolbox") == [] and page.selected == "web"
    qtbot.waitUntil(lambda: tools.state("toolbox").status == "stopped", timeout=START_MS)


def test_import_from_another_app(
    qtbot: QtBot,
    tools: ToolsService,
    page: ToolsDialog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "me"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    cursor = home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "web": {"url": "https://example.com/other"},
                    "same": {"url": WEB.url},
                    "bad": {"type": "sse", "url": "https://x"},
                }
            }
        )
    )
    tools.save(McpConfigFile((WEB,)))
    assert [(app, path) for app, path, _ in page.import_candidates()] == [("Cursor", cursor)]

    def take_first(widget: QWidget) -> None:
        assert isinstance(widget, ImportDialog)
        assert widget.files.count() == 1 and "Cursor" in widget.files.item(0).text()
        click(widget.ok_button)

    failures = answer_modal(take_first, ImportDialog)
    click(page.import_button)
    assert not failures, failures
    assert saved(tools) == {
        "web": {"url": WEB.url},
        "web-2": {"url": "https://example.com/other"},
    }
    said = page.message.text()
    assert "Added 1" in said and '"web" is called "web-2" here' in said
    assert "Already here: same." in said and "sse" in said
    assert row_of(page, "web-2")[2] == "remote address"


def test_a_failed_server_shows_its_error_and_stderr(
    qtbot: QtBot, tools: ToolsService, page: ToolsDialog
) -> None:
    started(qtbot, tools, BROKEN)
    qtbot.waitUntil(lambda: shown_state(page, "broken") == "failed", timeout=START_MS)
    page.select("broken")
    assert page.error_label.isVisible()
    assert page.error_label.text().startswith('Last error: The MCP server "broken"')
    assert "broken: no API key in BROKEN_KEY" in page.stderr_view.toPlainText()
    assert page.stderr_view.isReadOnly()
    assert "failed" in page.message.text()  # the service's problem is said on the page


def test_ask_every_time_and_the_limits(qtbot: QtBot, tools: ToolsService) -> None:
    tools.remember_always("toolbox/add")
    tools.remember_always("toolbox/echo")
    page = ToolsDialog(tools)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitExposed(page)
    asks = {b.accessibleName(): b for b in page.findChildren(QWidget, "askEveryTimeButton")}
    assert set(asks) == {"Ask every time before toolbox/add", "Ask every time before toolbox/echo"}
    click(asks["Ask every time before toolbox/add"])
    assert Settings(tools.settings.path).get(ALWAYS_ALLOW_KEY) == ["toolbox/echo"]
    assert tools.always_allowed == {"toolbox/echo"}
    qtbot.waitUntil(lambda: page.allowed_list.count() == 1)

    for spin, typed, key in (
        (page.timeout_spin, "45", TIMEOUT_KEY),
        (page.steps_spin, "4", MAX_STEPS_KEY),
    ):
        spin.setFocus()
        QTest.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        QTest.keyClicks(spin, typed)
        QTest.keyClick(spin, Qt.Key.Key_Return)
        assert Settings(tools.settings.path).get(key) == int(typed)
    assert tools.timeout_s == 45.0 and tools.max_steps == 4


# -- the chat's Tools button ---------------------------------------------------------------------


def test_the_chat_button_counts_tools_and_greys_out_the_network(
    qtbot: QtBot, tools: ToolsService
) -> None:
    started(qtbot, tools, TOOLBOX, WEB)
    button = ChatToolsButton(tools)
    qtbot.addWidget(button)
    button.show()
    assert button.text() == "Tools"
    button.set_chat(("toolbox",), local_only=True)
    assert button.text() == f"Tools · {TOOLBOX_TOOLS}"
    menu = button.menu()
    menu.aboutToShow.emit()  # as opening it does: built from the states of now
    entries = {a.text(): a for a in menu.actions() if not a.isSeparator()}
    web = entries["web  (stopped)"]
    assert not web.isEnabled()
    assert web.toolTip() == network_refusal(WEB, local_only=True, offline=False)
    toolbox = entries[f"toolbox  ({TOOLBOX_TOOLS} tools)"]
    assert toolbox.isEnabled() and toolbox.isChecked()
    assert toolbox.toolTip() == stdio_note("toolbox")

    changes: list[list[str]] = []
    button.changed.connect(changes.append)
    toolbox.trigger()  # unchecked by the user
    assert changes == [[]] and button.text() == "Tools"
    toolbox.trigger()
    assert changes == [[], ["toolbox"]] and button.text() == f"Tools · {TOOLBOX_TOOLS}"

    button.set_chat(("toolbox",), local_only=False)
    menu.aboutToShow.emit()
    button.set_chat(("toolbox",), local_only=False, offline=True)
    menu.aboutToShow.emit()
    web = next(a for a in menu.actions() if a.text().startswith("web"))
    assert not web.isEnabled()
    assert web.toolTip() == network_refusal(WEB, local_only=False, offline=True)
    button.set_chat(("toolbox",), local_only=False)
    menu.aboutToShow.emit()
    web = next(a for a in menu.actions() if a.text().startswith("web"))
    assert web.isEnabled()
    web.trigger()
    assert changes[-1] == ["toolbox", "web"]

    asked: list[bool] = []
    button.manage_requested.connect(lambda: asked.append(True))
    manage = next(a for a in menu.actions() if a.text() == "Manage tools…")
    manage.trigger()
    assert asked == [True]


def test_the_chat_button_follows_the_servers(qtbot: QtBot, tools: ToolsService) -> None:
    button = ChatToolsButton(tools)
    qtbot.addWidget(button)
    button.set_chat(("toolbox",), local_only=False)
    assert button.text() == "Tools · 0"  # on, but not running yet
    none = [a for a in button.menu().actions() if not a.isSeparator()]
    assert [a.text() for a in none] == ["No tool servers yet", "Manage tools…"]
    started(qtbot, tools, TOOLBOX)
    qtbot.waitUntil(lambda: button.text() == f"Tools · {TOOLBOX_TOOLS}", timeout=START_MS)


def test_every_control_has_a_name(qtbot: QtBot, tools: ToolsService, page: ToolsDialog) -> None:
    started(qtbot, tools, TOOLBOX, WEB)
    tools.remember_always("toolbox/add")
    page.refresh()
    form = AddServerDialog(set())
    picker = ImportDialog([("Cursor", Path("/home/me/.cursor/mcp.json"), 2)])
    button = ChatToolsButton(tools)
    roots: list[QWidget] = [page, approval(qtbot), form, picker, button]
    for root in roots[2:]:
        qtbot.addWidget(root)
        root.show()
    assert [m for root in roots for m in unnamed(root)] == []
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("http"))
    assert unnamed(form) == []
