#!/usr/bin/env bash
# Fresh machine -> full test suite: installs everything, starts PostgreSQL on loopback, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${PLURALIS_SKIP_SETUP:-0}" == 1 ]] || bash scripts/setup.sh --test  # .ci/run has just run it
eval "$(bash scripts/start_postgres.sh)"
export PLAYWRIGHT_CHROMIUM_EXECUTABLE=${PLAYWRIGHT_CHROMIUM_EXECUTABLE:-$(command -v chromium || true)}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg CI=${CI:-true}
# also load the SmolLM2 GGUF through transformers (gguf_file=), ~25 s
export PLURALIS_TEST_TRANSFORMERS_GGUF=${PLURALIS_TEST_TRANSFORMERS_GGUF:-1}
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
