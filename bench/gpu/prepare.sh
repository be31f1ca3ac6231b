#!/usr/bin/env bash
# Here (a machine with the project's venv and PyPI): pack what a bare, offline GPU machine needs
# into .gpu/ (git-ignored) for build.sh and run.sh: the llama-cpp-python sdist of the installed
# version without its model files, docs and non-CUDA backends (about 4 MB), the pure-Python
# wheels the engine tests need that the machine lacks, and the bundled SmolLM2 GGUF cut in two
# (one call may carry 64 MiB; the GGUF is 98 MB): part a travels with build.sh, part b with run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
grep -qx '/.gpu-b/' .git/info/exclude || echo '/.gpu-b/' >> .git/info/exclude
grep -qx '/.gpu-build/' .git/info/exclude || echo '/.gpu-build/' >> .git/info/exclude
rm -rf .gpu .gpu-b && mkdir -p .gpu/whl .gpu-b
version=$(.venv/bin/python -c 'from importlib import metadata; print(metadata.version("llama_cpp_python"))')
src=$(.venv/bin/python -c 'import sys; sys.path.insert(0, "bench"); import native; print(native.source_tree(native.llama_cpp_version()).parent.parent)')
tmp=$(mktemp -d)
cp -r "$src" "$tmp/src"
(
    cd "$tmp/src"
    rm -rf .git docs docker examples tests scripts
    cd vendor/llama.cpp
    rm -rf .git models docs media benches examples tests scripts conversion tools/ui tools/server \
        tools/mtmd/test-*
    for b in virtgpu cann openvino webgpu et metal hexagon sycl vulkan opencl zdnn musa hip; do
        rm -rf "ggml/src/ggml-$b"
    done
)
tar czf .gpu/lcp.tar.gz -C "$tmp" src
rm -rf "$tmp"
.venv/bin/pip download -q --no-deps -d .gpu/whl diskcache platformdirs
model=$(.venv/bin/python -c 'from desktop.backends.local_models import bundled_model; print(bundled_model().path)')
size=$(stat -c %s "$model")
half=$((size / 2))
head -c "$half" "$model" > .gpu/model.a
tail -c +"$((half + 1))" "$model" > .gpu-b/model.b
sha256sum "$model" | cut -d' ' -f1 > .gpu-b/model.sha256
echo "llama-cpp-python $version; .gpu: $(du -sh .gpu | cut -f1), .gpu-b: $(du -sh .gpu-b | cut -f1)"
