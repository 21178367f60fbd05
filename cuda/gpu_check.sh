#!/usr/bin/env bash
# The GPU check (../shared/docs/gpu-check.md): on a machine with an NVIDIA GPU, build fovea with
# the GPU backend and run what the emulator cannot show. Logs go to $OUT (default gpu-logs/).
#
# Before: on a machine with package access, from the repository root,
#   mkdir -p .gpu-deps && cd .gpu-deps && apt-get download doctest-dev libstb0 libstb-dev \
#     libopenblas0-openmp libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev
# and carry .gpu-deps to the GPU machine (the device tool: carry [".gpu-deps"]).
#
# Steps, each under its own timeout, each logged (a failure is recorded and the script goes on):
#   build      cmake + build with the GPU backend for this GPU's architecture only
#   suite      every CUDA test on the GPU (FOVEA_CUDA_BACKEND=gpu, FOVEA_REQUIRE_GPU=1: a
#              missing device fails instead of skipping)
#   memcheck   the CUDA parity tests under compute-sanitizer memcheck, racecheck on a subset
#   bench      bench_cuda (kernels and a ResNet-20 step, PyTorch beside it when importable)
#   train      two short epochs of train --device cuda on random CIFAR-format data
# Summary lines go to $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-gpu-logs}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: > "$summary"
step() {  # step NAME SECONDS COMMAND...
  local name="$1" limit="$2" t0=$SECONDS status=0
  shift 2
  echo "==== $name" | tee -a "$summary"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1 || status=$?
  echo "$name: exit $status, $((SECONDS - t0)) s" | tee -a "$summary"
  tail -n 5 "$OUT/$name.log" >> "$summary"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
deps=/opt/deps
if [ -d .gpu-deps ]; then
  mkdir -p "$deps"
  for deb in .gpu-deps/*.deb; do dpkg -x "$deb" "$deps"; done
fi
arch_dir="$deps/usr/lib/$(gcc -dumpmachine)"
export LD_LIBRARY_PATH="$arch_dir:$arch_dir/openblas-openmp:${LD_LIBRARY_PATH:-}"
cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d .)"
jobs="$(nproc)"

step build 420 bash -c "cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFOVEA_CUDA=ON \
  -DFOVEA_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES=${cc:-90} -DCMAKE_PREFIX_PATH=$deps/usr \
  -DOPENBLAS_LIBRARY=$arch_dir/openblas-openmp/libopenblas.so \
  -DSTB_INCLUDE_DIR=$deps/usr/include/stb && cmake --build build-gpu -j$jobs \
  --target fovea_tests bench_cuda train"

export FOVEA_CUDA_BACKEND=gpu FOVEA_REQUIRE_GPU=1
step suite 300 build-gpu/tests/fovea_tests -tc="cuda*" --duration=true
step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 3 \
  build-gpu/tests/fovea_tests -tc="cuda parity*" -tce="*three SGD*,*attention*"
step racecheck 300 compute-sanitizer --tool racecheck --error-exitcode 3 \
  build-gpu/tests/fovea_tests -tc="cuda parity: sum*,cuda parity: softmax*,cuda parity: batch_norm*"
step bench 300 build-gpu/examples/bench_cuda --repeat 20

data="$OUT/fake-cifar"
python3 - "$data" <<'PY'
import os, random, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = random.Random(0)
files = [(f"data_batch_{i}.bin", 128) for i in range(1, 6)] + [("test_batch.bin", 256)]
for name, n in files:
    with open(os.path.join(d, name), "wb") as f:
        for _ in range(n):
            f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
PY
step train 300 build-gpu/examples/train --device cuda --dataset cifar10 --data "$data" \
  --epochs 2 --batch-size 128 --quiet --out "$OUT/train-run"
cat "$summary"
