#!/usr/bin/env bash
# Builds the Linux one-folder bundle and its tar.gz, then runs the bundle's --self-test.
#
#   bash packaging/build_linux.sh            # from the repository root, with .venv set up
#
# By default the bundle gets a *portable* llama.cpp: llama-cpp-python (the version installed in
# .venv) is compiled once more with GGML_NATIVE=OFF and a fixed x86-64-v3 baseline (AVX2, FMA,
# F16C, BMI2), so the bundle runs on any x86-64 CPU from about 2013-2015 on, not only on CPUs
# like this build machine's. The wheel is cached in build/portable-wheels/ and the bundle is
# built from its own venv, build/bundle-venv, so .venv is never changed. See packaging/README.md.
#
# Output:
#   dist/llamaside/                          the bundle (run dist/llamaside/llamaside)
#   dist/llamaside-<version>-linux-<arch>.tar.gz
#                                            the bundle plus install.sh, uninstall.sh, icons
# Environment:
#   PYTHON=...                  the developer's interpreter (default .venv/bin/python): its
#                               llama-cpp-python version is rebuilt (PORTABLE=1), or its packages
#                               are bundled as they are (PORTABLE=0)
#   PORTABLE=0                  bundle .venv's llama-cpp-python as it is (a quick local build;
#                               built from source with default flags it runs on this CPU only)
#   PORTABLE_CMAKE_ARGS=...     the CMake flags of the portable build (default: see below)
#   LLAMASIDE_BUNDLE_MODEL=0    leave the SmolLM2 model out (see llamaside.spec)
#   SKIP_SELF_TEST=1            build only
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
PORTABLE=${PORTABLE:-1}
arch=$(uname -m)

if [ "$PORTABLE" = "1" ]; then
    # x86-64-v3 (Haswell 2013, AMD Excavator 2015 and newer). Not the GGML_CPU_ALL_VARIANTS
    # backends: llama.cpp looks for those beside the executable or in the working directory,
    # never in llama_cpp/lib where llama-cpp-python (and so the bundle) keeps them.
    if [ "$arch" = "x86_64" ]; then
        default_flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    else
        default_flags="-DGGML_NATIVE=OFF"   # the architecture's generic baseline
    fi
    cmake_args=${PORTABLE_CMAKE_ARGS:-$default_flags}
    llama_version=$("$PYTHON" -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
    key=$(printf '%s\n' "$llama_version" "$arch" "$cmake_args" | sha256sum | cut -c1-12)
    wheels="build/portable-wheels/${llama_version}-${arch}-${key}"

    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        echo "== portable llama-cpp-python ${llama_version}: compiling (CMAKE_ARGS=${cmake_args})"
        start=$(date +%s)
        rm -rf "$wheels.partial"
        mkdir -p "$wheels.partial"
        # --no-binary: PyPI's own wheel for this package is a source build anyway, but never
        # take one from an index or pip's cache, whose flags are unknown.
        CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
            nice -n 10 "$PYTHON" -m pip wheel --quiet --no-deps --no-cache-dir \
            --no-binary llama-cpp-python "llama-cpp-python==${llama_version}" -w "$wheels.partial"
        printf '%s\n' "$cmake_args" >"$wheels.partial/CMAKE_ARGS"
        rm -rf "$wheels"
        mv "$wheels.partial" "$wheels"   # only a finished wheel is ever found in the cache
        echo "portable wheel took $(($(date +%s) - start)) s"
    else
        echo "== portable llama-cpp-python ${llama_version}: cached in ${wheels}"
    fi
    wheel=$(ls "$wheels"/llama_cpp_python-*.whl | head -n 1)

    echo "== build venv (build/bundle-venv)"
    venv=build/bundle-venv
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv"
    fi
    # The developer's versions of everything else, so the bundle holds what was tested.
    "$PYTHON" -m pip freeze --exclude-editable 2>/dev/null \
        | grep -v -i -e '^llama[-_]cpp[-_]python' -e ' @ ' -e '^-e ' >"$venv/constraints.txt" || true
    # The wheel as a file requirement: pip takes it for llama-cpp-python and builds nothing ...
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$venv/constraints.txt" "$wheel" -e '.[bundled,package]'
    # ... and replaces a portable wheel of the same version but other flags from an earlier run.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --force-reinstall "$wheel"
    PYTHON=$venv/bin/python
fi

# PyInstaller is a build-only dependency: the `package` extra in pyproject.toml.
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet 'pyinstaller>=6,<7'
fi

version=$("$PYTHON" -c "import desktop; print(desktop.__version__)")
name="llamaside-${version}-linux-${arch}"

echo "== pyinstaller (llamaside ${version}, ${arch}, from ${PYTHON})"
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

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT

echo "== llama.cpp in the bundle"
# The bundle's own engine child says hello with llama_print_system_info() and exits when its
# stdin closes: the CPU features its llama.cpp was compiled for.
hello=$(LLAMASIDE_HOME="$home" timeout 120 "$bundle/llamaside" --engine </dev/null | head -n 1) || true
info=$(printf '%s' "$hello" | sed -n 's/.*"system_info": *"\([^"]*\)".*/\1/p')
if [ -z "$info" ]; then
    echo "the bundle's engine did not report its llama.cpp build: ${hello:-no output}" >&2
    exit 1
fi
echo "$info"
if [ "$PORTABLE" = "1" ]; then
    # AVX512 or AMX in the bundle means -march=native (or a flag) crept in: most CPUs lack them.
    native=$(printf '%s' "$info" | grep -o -E '(AVX512[A-Z0-9_]*|AMX[A-Z0-9_]*|AVX_VNNI) = 1' || true)
    if [ -n "$native" ]; then
        echo "portable build, but the bundled llama.cpp uses: $(echo $native)" >&2
        exit 1
    fi
    echo "portable: no AVX512/AMX/AVX-VNNI"
fi

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
    start=$(date +%s)
    QT_QPA_PLATFORM=offscreen LLAMASIDE_HOME="$home" "$bundle/llamaside" --self-test
    echo "self-test took $(($(date +%s) - start)) s"
fi
