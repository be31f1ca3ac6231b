#!/usr/bin/env bash
# Builds the Linux one-folder bundle and its tar.gz, then runs the bundle's --self-test.
#
#   bash packaging/build_linux.sh            # from the repository root, with .venv set up
#
# Output:
#   dist/llamaside/                          the bundle (run dist/llamaside/llamaside)
#   dist/llamaside-<version>-linux-<arch>.tar.gz
#                                            the bundle plus install.sh, uninstall.sh, icons
# Environment:
#   PYTHON=...                  the interpreter whose packages are bundled (default .venv/bin/python)
#   LLAMASIDE_BUNDLE_MODEL=0    leave the SmolLM2 model out (see llamaside.spec)
#   SKIP_SELF_TEST=1            build only
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
# PyInstaller is a build-only dependency: the `package` extra in pyproject.toml.
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet 'pyinstaller>=6,<7'
fi

version=$("$PYTHON" -c "import desktop; print(desktop.__version__)")
arch=$(uname -m)
name="llamaside-${version}-linux-${arch}"

echo "== pyinstaller (llamaside ${version}, ${arch})"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/llamaside.spec
echo "pyinstaller took $(($(date +%s) - start)) s"

# The installer and icons sit at the top of the folder, beside the executable, so the tar.gz
# unpacks to one folder a user can run in place or install.
bundle=dist/llamaside
cp packaging/install.sh packaging/uninstall.sh "$bundle/"
rm -rf "$bundle/share"
mkdir -p "$bundle/share/icons"
cp resources/llamaside.svg resources/llamaside-*.png "$bundle/share/icons/"

echo "== size"
du -sh "$bundle"

echo "== tar.gz"
rm -f "dist/${name}.tar.gz"
tar -C dist -czf "dist/${name}.tar.gz" llamaside
du -h "dist/${name}.tar.gz"

if [ "${SKIP_SELF_TEST:-0}" != "1" ]; then
    echo "== self-test of the bundle"
    # Offscreen: a build server has no display, and the check must not open a window anyway.
    # A temporary LLAMASIDE_HOME: the self-test writes nowhere else, this makes sure of it.
    home=$(mktemp -d)
    trap 'rm -rf "$home"' EXIT
    start=$(date +%s)
    QT_QPA_PLATFORM=offscreen LLAMASIDE_HOME="$home" "$bundle/llamaside" --self-test
    echo "self-test took $(($(date +%s) - start)) s"
fi
