#!/usr/bin/env bash
# The GPU checks of docs/benchmarks.md in one go: the GPU tests, `brainchat bench speed` on the GPU
# (the brain you talk to at 200k with the NumPy comparison; the random sheet, brain.layout = "sheet",
# 32 random synapses per neuron + 4 neighbours, plasticity off, for the speed targets), and the
# plain-CuPy comparison (on the sheet). Results go to OUT (default gpu-results/).
# The timeouts add up to 590 s, inside one 10-minute call of the device tool; the most important come first.
#   bash benchmarks/gpu_check.sh [OUT]
set -u
out=${1:-gpu-results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
  $python -c "import cupy, numpy, sys; print('python', sys.version.split()[0], 'cupy', cupy.__version__, 'numpy', numpy.__version__)"; } 2>&1 | tee "$out/machine.txt"
timeout 200 $python -m pytest -q -m "gpu and not slow" -p no:cacheprovider tests/test_fused_gpu.py tests/test_brain.py tests/test_backend.py tests/test_digits.py tests/test_all_to_all.py 2>&1 | tee "$out/gpu_tests.txt"
timeout 60 $python -m brainchat bench speed --device gpu --neurons 200k --steps 2000 --compare --json > "$out/speed_200k_compare.json" 2> "$out/speed_200k_compare.err"
BRAINCHAT_LAYOUT=sheet BRAINCHAT_PLASTICITY_ENABLED=false timeout 90 $python -m brainchat bench speed --device gpu --neurons 200k,1m --steps 2000 --json > "$out/speed_plasticity_off.json" 2> "$out/speed_plasticity_off.err"
timeout 120 $python benchmarks/gpu_plain_cupy.py --neurons 200000,1000000 --steps 1000 --repeats 3 --json > "$out/plain_cupy.json" 2> "$out/plain_cupy.err"
BRAINCHAT_LAYOUT=sheet BRAINCHAT_PLASTICITY_ENABLED=false timeout 120 $python -m brainchat bench speed --device gpu --neurons 10m --steps 1000 --warmup 200 --chunk 100 --json > "$out/speed_10m.json" 2> "$out/speed_10m.err"
tail -n 3 "$out"/*.err
cat "$out"/*.json
