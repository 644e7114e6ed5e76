#!/usr/bin/env bash
# Install raytuner with its test dependencies, then run the whole test suite.
# Torch comes from the pinned CPU-capable wheels; the browser test needs Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q torch==2.14.1 torchvision==0.29.1 -e ".[test]"
python -m ruff check .
# The TensorBoard browser test drives Debian's chromium; install it once if missing.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
python -m pytest -q "$@"
