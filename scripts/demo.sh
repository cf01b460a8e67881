#!/usr/bin/env bash
# Sets up nvfp4 (scripts/install.sh), shows what the build holds, and runs a quantize /
# dequantize round trip on the best device present.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

bash scripts/install.sh
"$PYTHON" -m nvfp4 info
"$PYTHON" -m nvfp4 demo
