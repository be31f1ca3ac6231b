"""Model → GPU backend… in the real window: it asks a real engine child what the installed
llama-cpp-python runs on, and for a machine with an NVIDIA GPU and a CPU-only build it offers
the CUDA rebuild command, copied with one click."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from desktop.app import build_window
from desktop.core import gpu_builds
from desktop.core.fit import Gpu, Machine
from desktop.services.model_catalog import BackendReport
from desktop.storage.paths import AppPaths
from desktop.ui.main_window import MainWindow
from tests.core.test_gpu_builds import CPU_INFO


@pytest.fixture
def window(home: AppPaths, qtbot: QtBot) -> Iterator[MainWindow]:
    win = build_window(home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.chat.store.close()


def test_backend_page_reports_the_installed_build(window: MainWindow, qtbot: QtBot) -> None:
    window.backend_action.trigger()  # Model → GPU backend…
    dialog = window.backend_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    report = dialog.report
    assert report is not None
    import llama_cpp  # the test process may; the window's process does not

    assert report.llama_cpp_version == llama_cpp.__version__
    assert "CPU" in report.system_info  # llama.cpp's own description, from the child
    assert f"llama-cpp-python {llama_cpp.__version__}" in dialog.summary.text()
    cells = [
        (dialog.table.item(r, 0), dialog.table.item(r, 1)) for r in range(dialog.table.rowCount())
    ]
    rows = {name.text(): built.text() for name, built in cells if name and built}
    assert set(rows) == {"CUDA", "Metal", "Vulkan", "ROCm", "SYCL"}
    assert [name for name, built in rows.items() if built == "yes"] == list(report.built)
    assert sys.executable in dialog.command.toPlainText()
    dialog.close()


def test_nvidia_machine_with_a_cpu_build_gets_the_cuda_command(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.backend_action.trigger()  # Model → GPU backend…
    dialog = window.backend_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=60_000)
    machine = Machine(
        "Linux", 64 << 30, 48 << 30, 500 << 30, gpus=(Gpu("NVIDIA RTX 4090", "nvidia", 24 << 30),)
    )
    python = "/home/me/.venv/bin/python"
    report = BackendReport(
        llama_cpp_version="0.3.36",
        system_info=CPU_INFO,
        built=(),
        machine=machine,
        advice=gpu_builds.advise(
            "Linux", "x86_64", ["nvidia"], [], python=python, version="0.3.36"
        ),
        commands=tuple(gpu_builds.all_commands(python, "Linux", "0.3.36")),
    )
    dialog.show_report(report)
    assert "the CPU only" in dialog.summary.text() and "NVIDIA RTX 4090" in dialog.summary.text()
    assert "rebuild llama-cpp-python with CUDA" in dialog.advice.text()
    command = dialog.command.toPlainText()
    assert command.startswith('CMAKE_ARGS="-DGGML_CUDA=on" /home/me/.venv/bin/python -m pip')
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == command
    dialog.close()
