#!/usr/bin/env bash
# Install everything the project needs, from scratch or on top of an existing setup.
#
# Idempotent and fast when nothing changed:
#   - .venv is created with `python3 -m venv` if missing;
#   - `pip install -e '.[dev]'` runs only when pyproject.toml changed since the last
#     successful install (stamp: .venv/.bootstrap-stamp) or the package is not importable;
#   - `npm ci` runs in tests/js only if tests/js/package-lock.json exists and changed since
#     the last successful install (stamp: tests/js/node_modules/.bootstrap-stamp);
#   - Debian's chromium is installed with apt-get only if /usr/bin/chromium is missing;
#   - Debian's redis-server and nginx (the scale-out tests start them as plain processes on
#     free loopback ports) are installed only if their binaries are missing;
#   - Debian's tinyproxy and microsocks (the client's proxy tests start them the same way)
#     likewise.
#
# Options:
#   --no-python                    skip the .venv part (nox's interop session uses this to get
#                                  the npm packages and chromium into its own environment)
#
# Environment knobs:
#   PYTHON=python3.11              interpreter used to create the venv (default: python3)
#   TRIO_ENGINEIO_SKIP_CHROMIUM=1  do not try to install chromium (browser tests then skip or fail)
#   TRIO_ENGINEIO_SKIP_SERVERS=1   do not try to install redis-server, nginx, tinyproxy, microsocks
#   TRIO_ENGINEIO_FORCE=1          ignore the stamps and reinstall Python and npm packages
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
FORCE="${TRIO_ENGINEIO_FORCE:-0}"
WITH_PYTHON=1
for arg in "$@"; do
    case "$arg" in
        --no-python) WITH_PYTHON=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bootstrap.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { printf '[bootstrap] %s\n' "$*"; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root for: $* (not root and no sudo)"
        return 1
    fi
}

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found; please install: $*"
        return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# sha256 of a file, portable enough for Debian and macOS.
file_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# --- Python virtual environment -------------------------------------------------------
if [ "$WITH_PYTHON" = 0 ]; then
    log "--no-python: leaving .venv alone"
elif [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
    if ! "$PYTHON" -m venv "$VENV"; then
        # Debian's system python ships venv/ensurepip in a separate package.
        rm -rf "$VENV"
        py_minor="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python${py_minor}-venv" || apt_install python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
fi

py_stamp="$VENV/.bootstrap-stamp"
py_want="$(file_hash pyproject.toml)"
py_have="$(cat "$py_stamp" 2>/dev/null || true)"
if [ "$WITH_PYTHON" = 0 ]; then
    :
elif [ "$FORCE" = 1 ] || [ "$py_want" != "$py_have" ] \
    || ! "$VENV/bin/python" -c 'import importlib.metadata as m, sphinx, furo, nox, pytest
m.version("trio-engineio-v4")' >/dev/null 2>&1; then
    log "pip install -e '.[dev]'"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
    printf '%s\n' "$py_want" >"$py_stamp"
else
    log "python packages up to date"
fi

# --- JavaScript peers for the interop tests -------------------------------------------
if [ -f tests/js/package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        log "npm not found: the JavaScript interop tests need Node.js and npm"
        exit 1
    fi
    js_stamp="tests/js/node_modules/.bootstrap-stamp"
    js_want="$(file_hash tests/js/package-lock.json)"
    js_have="$(cat "$js_stamp" 2>/dev/null || true)"
    if [ "$FORCE" = 1 ] || [ "$js_want" != "$js_have" ]; then
        log "npm ci in tests/js"
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
        printf '%s\n' "$js_want" >"$js_stamp"
    else
        log "npm packages up to date"
    fi
else
    log "no tests/js/package-lock.json: skipping npm ci"
fi

# --- Chromium for the browser test ----------------------------------------------------
if [ -x /usr/bin/chromium ]; then
    log "chromium present"
elif [ "${TRIO_ENGINEIO_SKIP_CHROMIUM:-0}" = 1 ]; then
    log "chromium missing, skipped (TRIO_ENGINEIO_SKIP_CHROMIUM=1)"
else
    apt_install chromium
fi

# --- redis-server and nginx for the scale-out tests ---------------------------------
# Looked up on PATH and in /usr/sbin (Debian's nginx lives there, outside a user's PATH).
missing_servers=()
for binary in redis-server nginx; do
    if command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || [ -x "/usr/bin/$binary" ]; then
        log "$binary present"
    else
        missing_servers+=("$binary")
    fi
done
if [ "${#missing_servers[@]}" -eq 0 ]; then
    :
elif [ "${TRIO_ENGINEIO_SKIP_SERVERS:-0}" = 1 ]; then
    log "${missing_servers[*]} missing, skipped (TRIO_ENGINEIO_SKIP_SERVERS=1)"
else
    # The package names are the binaries' names.
    apt_install "${missing_servers[@]}"
fi

# --- tinyproxy and microsocks for the client's proxy tests -----------------------------
missing_proxies=()
for binary in tinyproxy microsocks; do
    if command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || [ -x "/usr/bin/$binary" ]; then
        log "$binary present"
    else
        missing_proxies+=("$binary")
    fi
done
if [ "${#missing_proxies[@]}" -eq 0 ]; then
    :
elif [ "${TRIO_ENGINEIO_SKIP_SERVERS:-0}" = 1 ]; then
    log "${missing_proxies[*]} missing, skipped (TRIO_ENGINEIO_SKIP_SERVERS=1)"
else
    # The package names are the binaries' names. The tests run them as plain processes;
    # Debian's tinyproxy package also enables a service on port 8888 that they do not use.
    apt_install "${missing_proxies[@]}"
fi

log "done"
