"""The cache component: one set-associative, line-granular cache for every machine.

`Cache` is the Cython implementation when it was compiled, else its pure-Python twin `PyCache`
(same API, same answers: tests/hw/cache). The semantics and the API are in README.md here.
"""
from archsim.hw.cache.pycache import PREFETCHERS, REPLACEMENTS, PyCache

try:
    from archsim.hw.cache._cache import Cache
    BACKEND = "cython"
except ImportError:  # no compiled extension: the twin (archsim.engine already warned once)
    Cache = PyCache
    BACKEND = "python"

__all__ = ["BACKEND", "Cache", "PREFETCHERS", "PyCache", "REPLACEMENTS"]
