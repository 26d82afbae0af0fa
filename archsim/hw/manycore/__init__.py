"""Many-core SIMD chips (UPCYCLE-style): tiles, caches, a multicast mesh, HBM."""
from archsim.hw.manycore.model import run_program

__all__ = ["run_program"]
