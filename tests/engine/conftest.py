"""Backends under test: every engine test runs on each one that is importable."""
from __future__ import annotations

import importlib

import pytest

from archsim.engine import pyengine, reference


def _cython_core():
    try:
        return importlib.import_module("archsim.engine._core")
    except ImportError:
        return None


CORE = _cython_core()
#: (name, module) pairs; each module exposes Simulator, Component, Channel.
BACKENDS = [("python", pyengine), ("simpy", reference)]
if CORE is not None:
    BACKENDS.insert(0, ("cython", CORE))
BACKEND_IDS = [name for name, _ in BACKENDS]

@pytest.fixture(params=[mod for _, mod in BACKENDS], ids=BACKEND_IDS)
def eng(request):
    """An engine module (Simulator, Component, Channel) — one test per backend."""
    return request.param


@pytest.fixture(scope="session")
def backends():
    """All importable backends as (name, module) pairs, for differential tests."""
    return list(BACKENDS)


@pytest.fixture(scope="session")
def core():
    """The compiled core module; skips the test where it was not built."""
    if CORE is None:
        pytest.skip("compiled archsim.engine._core not built")
    return CORE
