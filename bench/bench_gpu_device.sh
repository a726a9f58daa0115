#!/usr/bin/env bash
# Issue 16's checks on a lent GPU machine, in two calls of the device tool, logs under $OUT.
#
# Here first (project root, venv active), after the last code change, since it rebuilds the
# codegend wheel from this checkout:   bash ../shared/device/stage.sh
# Then the onnxruntime-gpu part calls of ../shared/device/README.md (one per .device/ortN),
# then back to back, the bench first (it is the issue's table; its JSON is rewritten after
# every row, so a cut-short run keeps its rows):
#   run  command="bash bench/bench_gpu_device.sh bench"  carry=[".device/whl"]  timeout_s=540
#   run  command="bash bench/bench_gpu_device.sh tests"  carry=[".device/whl"]  timeout_s=330
# Both time boxes in full do not fit 15 device minutes with the start and the part calls;
# where little is left: "bash bench/bench_gpu_device.sh bench --skip torch-tp-eager,transformers".
#
# tests: the GPU tests of the fused fp16 graph, its CUDA-graph decode and the compiled TP
#        decode, then where ONNX Runtime places the fused graph's nodes (a CUDA graph needs
#        every compute node on the CUDA provider and no copy between host and device).
# bench: bench/bench_gpu.py on CodeGen-350M's shape (fp16, 1,024-token prompt, 64 new
#        tokens), writing $OUT/gpu.json and the table in $OUT/bench.log.
set -uo pipefail
. .device/whl/on-device.sh
OUT=${OUT:-/tmp/codegend-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

case "${1:-tests}" in
tests)
  timeout 300 python3 -m pytest -q -p no:cacheprovider -rs \
    tests/engine/onnx/test_fused_fp16_gpu.py tests/engine/torch/test_tp_gpu.py \
    tests/engine/test_gpu.py 2>&1 | tee "$OUT/tests.log"
  graph=$(ls -t /tmp/pytest-of-*/pytest-*/codegend-cache/artifacts/optimized-fp16-*/model.onnx \
          /tmp/cgcache/artifacts/optimized-fp16-*/model.onnx 2>/dev/null | head -1)
  [ -n "$graph" ] && timeout 60 python3 - "$graph" 2>&1 <<'EOF' | grep -E -i -A6 \
      "placed on|number of nodes|cuda graph|memcpy|captur|error" | head -40 | tee "$OUT/placement.log"
import sys
import onnxruntime as ort
options = ort.SessionOptions()
options.log_severity_level = 0  # verbose: ORT lists which provider each node went to
options.log_verbosity_level = 0
ort.InferenceSession(sys.argv[1], options,
                     providers=[("CUDAExecutionProvider", {"enable_cuda_graph": "1"})])
print("session with enable_cuda_graph created")
EOF
  ;;
bench)
  timeout 510 python3 bench/bench_gpu.py --shape 350m --prompt 1024 --new 64 --repeats 3 \
    --workdir /tmp/codegend-bench --out "$OUT/gpu.json" "${@:2}" 2>&1 \
    | grep -v -E "TracerWarning|^\s*(if|return) " | tee "$OUT/bench.log"
  ;;
*)
  echo "usage: bash bench/bench_gpu_device.sh tests|bench" >&2
  exit 2
  ;;
esac
