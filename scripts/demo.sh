#!/usr/bin/env bash
# Run the demo chat server (examples/chat), after installing what is missing.
#
#   bash scripts/demo.sh [arguments for python -m examples.chat, e.g. --help]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh
exec "$ROOT/.venv/bin/python" -m examples.chat "$@"
