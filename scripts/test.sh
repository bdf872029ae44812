#!/usr/bin/env bash
# THE test command (see README.md): install what is missing, then run every check.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# Steps: bootstrap, ruff check, ruff format --check, mypy (strict), the Sphinx docs build
# with warnings as errors, and the whole pytest suite (interop tests included). Every step
# runs even if an earlier one failed; the script prints a summary and exits non-zero if any
# step failed. pytest's exit code 5 ("no tests collected") counts as a failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

if ! bash scripts/bootstrap.sh; then
    echo "[test] bootstrap failed: nothing was checked" >&2
    exit 1
fi

BIN="$ROOT/.venv/bin"
# Docs build output goes outside the tree so repeated runs start clean.
DOCS_OUT="$(mktemp -d "${TMPDIR:-/tmp}/trio_engineio-docs.XXXXXX")"
trap 'rm -rf "$DOCS_OUT"' EXIT

names=()
results=()
times=()
failed=0

# run_step NAME COMMAND...: run one check, remember its outcome and duration.
run_step() {
    local name="$1"
    shift
    printf '\n===== [test] %s: %s\n' "$name" "$*"
    local start=$SECONDS
    "$@"
    local rc=$?
    local status="ok"
    if [ "$rc" -eq 5 ] && [ "$name" = "pytest" ]; then
        status="FAILED (exit 5: no tests collected)"
        failed=1
    elif [ "$rc" -ne 0 ]; then
        status="FAILED (exit $rc)"
        failed=1
    fi
    names+=("$name")
    results+=("$status")
    times+=("$((SECONDS - start))s")
}

run_step "ruff check" "$BIN/ruff" check .
run_step "ruff format" "$BIN/ruff" format --check .
run_step "mypy" "$BIN/mypy"
run_step "docs" "$BIN/sphinx-build" -W --keep-going -q -b html docs "$DOCS_OUT/html"
run_step "pytest" "$BIN/python" -m pytest "$@"

printf '\n===== [test] summary\n'
for i in "${!names[@]}"; do
    printf '  %-12s %-6s %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
done
if [ "$failed" -ne 0 ]; then
    printf '[test] FAILED\n'
    exit 1
fi
printf '[test] all checks passed\n'
