#!/usr/bin/env bash
# Installs what nvfp4 needs into the current Python environment and builds the package in place
# (editable). With --test, also the test tools.
#
# Honours TORCH_CUDA_ARCH_LIST (default: the visible GPU, or 9.0a;10.0a;12.0a without one),
# CUDA_HOME, MAX_JOBS (default 2), NVFP4_CPU_ONLY=1 and PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.14.1
CUTLASS_VERSION=4.2.0.0
pip_install() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

# torch: keep the one that is there (a GPU machine has its own build), else the pinned release.
"$PYTHON" -c "import torch" 2>/dev/null || pip_install "torch==${TORCH_VERSION}"
# CUTLASS C++ headers only: the package's Python dependencies are not needed.
"$PYTHON" -c "import cutlass_library" 2>/dev/null || pip_install --no-deps "nvidia-cutlass==${CUTLASS_VERSION}"
"$PYTHON" -c "import setuptools, wheel, numpy" 2>/dev/null || pip_install setuptools wheel numpy
# transformers: the demo's model and the whole-model tests.
"$PYTHON" -c "import transformers" 2>/dev/null || pip_install transformers
if [[ "${1:-}" == "--test" ]]; then
  # compressed-tensors: its own ModelOpt -> nvfp4-pack-quantized converter makes a test checkpoint.
  pip_install pytest hypothesis expecttest numpy ruff "compressed-tensors==0.20.0"
fi

if [[ -z "${CUDA_HOME:-}" && -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDA_HOME=/usr/local/cuda
fi
export MAX_JOBS=${MAX_JOBS:-2}
"$PYTHON" -m pip install --disable-pip-version-check -q --no-build-isolation --no-deps -e .
