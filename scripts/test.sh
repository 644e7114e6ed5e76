#!/usr/bin/env bash
# Install raytuner with its test dependencies, then run ruff and the whole test suite.
# Exits non-zero if the install, ruff or any test fails. About 20-25 minutes on 2 cores.
#
# Torch comes from the pinned CPU-capable wheels; the browser test needs Debian's chromium.
# The test extra in pyproject.toml holds pytest, ruff and selenium to ranges known to work.
#
# Run it the way CI and a newcomer do, in a fresh virtual environment and a fresh clone, so
# that packages installed earlier by hand cannot hide a missing install step:
#
#   d=$(mktemp -d) && python -m venv $d/venv && . $d/venv/bin/activate \
#     && git clone . $d/src && cd $d/src && bash .ci/run
#
# Arguments go to pytest: `bash scripts/test.sh tests/config/test_validate.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q torch==2.14.1 torchvision==0.29.1 -e ".[test]"
python -m ruff check .
# The TensorBoard browser test drives Debian's chromium, the live-view test a real terminal
# under tmux; install them once if missing (their tests would otherwise be skipped).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python -m pytest -q "$@"
