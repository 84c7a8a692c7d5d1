#!/usr/bin/env bash
# Static checks, all run even when one fails: ruff lint, ruff format, mypy, import-linter's layer contracts.
#   bash scripts/lint.sh        (after scripts/setup.sh --test)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
failed=()
run() {
  echo ">> $*"
  "$@" || failed+=("$1")
}
run "$BIN/ruff" check .
run "$BIN/ruff" format --check .
run "$BIN/mypy"
run "$BIN/lint-imports" --no-cache
if (( ${#failed[@]} )); then
  echo "!! failed: ${failed[*]}"
  exit 1
fi
echo ">> static checks passed"
