#!/usr/bin/env bash
# Sets up nvfp4 (scripts/install.sh), shows what the build holds, and quantizes a small transformer
# to NVFP4, runs it on this machine's backend and compares it with its bf16 self.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

bash scripts/install.sh
"$PYTHON" -m nvfp4 info
"$PYTHON" -m nvfp4 demo
