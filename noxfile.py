"""Developer task runner: ``nox -s <session>`` (``nox -l`` lists them).

``bash scripts/test.sh`` is the one command that runs every check in the project's
``.venv``; these sessions run single parts in isolated virtual environments that nox
creates (and reuses) under ``.nox/``. They install from PyPI on first use.

Sessions: ``tests``, ``lint``, ``typecheck``, ``docs``, ``interop``, ``bench``, ``fuzz``.
Extra arguments after ``--`` go to the underlying tool, e.g.
``nox -s tests -- tests/protocol -x``.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole pytest suite (interop tests included when their peers are installed)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint (including the ASYNC trio rules) and the ruff formatting check."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (other settings in pyproject.toml's [tool.mypy])."""
    session.install("-e", ".[lint]")
    session.run("mypy", "--strict", "trio_engineio", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx HTML docs into docs/_build/html, warnings as errors."""
    session.install("-e", ".[docs]")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )


@nox.session
def interop(session: nox.Session) -> None:
    """Tests marked ``interop``: npm engine.io peers, python-engineio and Chromium."""
    session.install("-e", ".[test]")
    # npm ci in tests/js and Debian's chromium, without touching the project's .venv.
    session.run("bash", "scripts/bootstrap.sh", "--no-python", external=True)
    session.run("pytest", "-m", "interop", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ``python -m benchmarks`` (~10 min; ``-- --quick`` ~2 min, ``-- --help``).

    Compares trio_engineio with a raw ASGI ceiling and python-engineio (hypercorn,
    uvicorn); results go to benchmarks/results/. ``nox -s bench -- profile`` runs
    ``python -m benchmarks.profile`` instead (py-spy and an in-server census).
    """
    session.install("-e", ".[bench]")
    if session.posargs[:1] == ["profile"]:
        session.run("python", "-m", "benchmarks.profile", *session.posargs[1:])
    else:
        session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Soak the server: ``python -m tests.hypercorn.bad_inputs.soak`` (100 000 cycles, 5 000 idle websockets).

    Smaller runs: ``nox -s soak -- --cycles 10000 --idle 2000``.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.hypercorn.bad_inputs.soak", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Tests marked or named ``fuzz``, with the long hypothesis profile (HYPOTHESIS_PROFILE=long)."""
    session.install("-e", ".[test]")
    env = {"HYPOTHESIS_PROFILE": "long"}
    # `-k fuzz` selects by test/module/class name and by marker name alike.
    listing = session.run(
        "pytest", "--collect-only", "-q", "-k", "fuzz", env=env, silent=True, success_codes=[0, 5]
    )
    if not any("::" in line for line in str(listing or "").splitlines()):
        session.error("no tests are marked `fuzz` or have `fuzz` in their name: nothing to fuzz")
    session.run("pytest", "-k", "fuzz", "-p", "no:cacheprovider", *session.posargs, env=env)
