"""``python -m pluralis.llm serve|chat|models`` — the same commands as ``pluralis llm ...``."""

from pluralis.cli.llm import build_llm_app

if __name__ == "__main__":
    build_llm_app()(prog_name="python -m pluralis.llm")
