#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU: CUDA tests, then the GPU benchmarks.
#
#   bash scripts/gpu_check.sh [OUT_DIR]        (default: results/gpu)
#
# Uses the machine's own python3 with its CUDA build of torch and Triton (a GPU machine often has
# no package registry, and the CPU-pinned install of scripts/setup.sh is no use there): the
# project runs from the checkout through PYTHONPATH. Every step has its own time limit, writes its
# log and tables to OUT_DIR as it goes, and a failing step does not stop the next one; the exit
# status is that of the first failing step. The CPU kernels are switched off
# (HIGH_ORDER_LAYERS_CPU_KERNEL=0): the CPU references the tests compare with are then the
# pure-torch twins, and no time goes on compiling the C++ kernels.
#
# Time limits (seconds) may be set from outside: TESTS_S, FC_S, GPU_S, CONV_S, COMPILED_S, TILES_S.
# STEPS="tests bench_conv ..." runs only the named steps (a short lease spent on what changed).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/gpu}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HIGH_ORDER_LAYERS_CPU_KERNEL=0
python="${PYTHON:-python3}"
status=0

step() {  # step NAME SECONDS COMMAND...
    local name=$1 seconds=$2
    shift 2
    if [[ -n "${STEPS:-}" && " $STEPS " != *" $name "* ]]; then
        echo "=== $name: skipped (not in STEPS)"
        return 0
    fi
    echo "=== $name (limit ${seconds}s): $*"
    local start=$SECONDS
    timeout --kill-after=10 "$seconds" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 30 "$out/$name.log"
    echo "=== $name: exit $rc after $((SECONDS - start))s"
    [[ $rc -ne 0 && $status -eq 0 ]] && status=$rc
    return 0
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$python" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name())"

# In order of what matters most, so that a run cut short still brings the most important results.
step tests "${TESTS_S:-120}" "$python" -m pytest -q -p no:cacheprovider \
    tests/test_triton_kernel.py tests/test_cuda_layers.py -k "not compile_to_gpu_machine_code"
step bench_fc "${FC_S:-75}" "$python" -m benchmarks.bench_fc --device cuda --no-sweep --no-compile --repeats 30 \
    --out "$out/bench_fc.md"
step bench_gpu "${GPU_S:-150}" "$python" -m benchmarks.bench_gpu --sections sweep,train --out "$out/bench_gpu.md"
step bench_conv "${CONV_S:-60}" "$python" -m benchmarks.bench_conv --device cuda --no-compile --out "$out/bench_conv.md"
step bench_fc_bf16 "${FC_S:-75}" "$python" -m benchmarks.bench_fc --device cuda --no-sweep --repeats 30 --autocast bf16 \
    --no-compile --out "$out/bench_fc_bf16.md"
step bench_conv_bf16 "${CONV_S:-40}" "$python" -m benchmarks.bench_conv --device cuda --autocast bf16 --no-compile \
    --out "$out/bench_conv_bf16.md"
# compiled / eager for every FC row: one Inductor compile per case, so last and with its own limit
step bench_fc_compiled "${COMPILED_S:-300}" "$python" -m benchmarks.bench_fc --device cuda --no-sweep --repeats 10 \
    --out "$out/bench_fc_compiled.md"
step bench_tiles "${TILES_S:-60}" "$python" -m benchmarks.bench_gpu --sections tiles --out "$out/bench_tiles.md"
exit $status
