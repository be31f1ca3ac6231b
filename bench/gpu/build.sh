#!/usr/bin/env bash
# On the GPU machine (bare, offline; nvcc, cmake, ninja and Python 3.12 with numpy there):
# build llama.cpp from the sdist that prepare.sh packed, with CUDA for Hopper (sm_90), as shared
# libraries (for llama-cpp-python's Python code, through LLAMA_CPP_LIB_PATH) plus llama-bench.
# One build serves both, so the yardstick and the bindings run the very same kernels.
# It builds in $GPU_BUILD (/tmp/gpu-build): the repository copy is made afresh for every call,
# /tmp lasts as long as the machine. Resumable there: a second call continues a cut-off one.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${GPU_BUILD:-/tmp/gpu-build}
[ -d "$build/src" ] || { mkdir -p "$build" && tar xzf .gpu/lcp.tar.gz -C "$build"; }
cp .gpu/model.a "$build/model.a"
cp -r .gpu/whl "$build/"
nvcc --version | tail -1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
cmake -S "$build/src/vendor/llama.cpp" -B "$build/out" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF > "$build/cmake.log"
time cmake --build "$build/out" --target llama-bench llama mtmd -j "$(nproc)" | tail -3
ls "$build/out/bin"
