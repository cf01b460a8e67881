#!/usr/bin/env bash
# Sets up nvfp4 (scripts/install.sh --test) and runs every test: pytest (which also builds and
# runs the C++ host tests through ctest) and ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

bash scripts/install.sh --test
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m pytest tests "$@"
