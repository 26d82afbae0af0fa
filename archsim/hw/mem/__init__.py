"""Memory-system models: the L2 cache (Cython, archsim.hw.mem._l2) in front of HBM.

Where the Cython extension was not compiled, the pure-Python twin (pyl2) is used — the same
model, much slower — and COMPILED is False (archsim.hw.gpu samples the L2 more heavily then).
"""
import os
import warnings

_WANT = os.environ.get("ARCHSIM_ENGINE", "auto") or "auto"  # as archsim.engine reads it
try:
    if _WANT == "python":
        raise ImportError("ARCHSIM_ENGINE=python")
    from archsim.hw.mem._l2 import L2Cache
    COMPILED = True
except ImportError as _exc:  # no compiler at install time
    if _WANT == "cython":
        raise
    if _WANT != "python":
        warnings.warn(f"archsim.hw.mem: compiled L2 unavailable ({_exc}); using the pure-Python "
                      "L2, which is much slower", RuntimeWarning, stacklevel=2)
    from archsim.hw.mem.pyl2 import L2Cache
    COMPILED = False

__all__ = ["COMPILED", "L2Cache"]
