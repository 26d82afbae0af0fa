"""How much work simulating a graph will take, estimated before anything runs, and the limit on it.

A workload spec is a few characters, but `gemm(M=2**40, N=2**40, K=2**40)` or
`conv2d(..., R=34107)` would keep a simulator busy for days (and overflow its C counters long
before). So a run's work is estimated from the graph alone — its flops, its compulsory bytes and
its kernel launches, each op counted `repeat` times — and refused past a limit with a message
saying how to raise it (the CLI's `--max-work` for `run` and `sweep`, `max_work=` of
`archsim.simulate.simulate`, which every caller goes through).

The unit is a flop-equivalent: one flop, or 1/BYTE_WEIGHT of a byte moved, or 1/KERNEL_WEIGHT
of a kernel launch. The weights come from the GPU model's own host cost, measured on the shared
2-core development machine (contended, so wall times are inflated): an 8192^3 GEMM (1.1e12 flops)
simulates in about 3 s, a 16384^3 one (8.8e12) in 34 s, a 2^31-element copy (1.7e10 bytes) in
5 s, ResNet-50 at batch 256 (2.1e12 flops, 4.2e10 bytes, 440 kernels) in 46 s. Roughly
2.5e11 flops or 3e9 bytes per host second: a byte costs about 64 flops. DEFAULT_MAX_WORK (1e14)
is then a few minutes of simulation; every shipped example is far below it.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.errors import UserError
from archsim.graph.graph import Graph

BYTE_WEIGHT = 64
KERNEL_WEIGHT = 10**8
DEFAULT_MAX_WORK = 1e14


class WorkLimitError(UserError):
    """A run would take more simulation work than the limit allows."""


@dataclass(frozen=True)
class Work:
    flops: int
    bytes: int
    kernels: int

    @property
    def total(self) -> int:
        """Flop-equivalents (see the module doc)."""
        return self.flops + BYTE_WEIGHT * self.bytes + KERNEL_WEIGHT * self.kernels


def estimate_work(graph: Graph, repeat: int = 1) -> Work:
    """The graph's flops, compulsory bytes and kernel launches (ops x their repeat counts),
    times `repeat` back-to-back runs. Pure integer arithmetic: never overflows."""
    flops = sum(int(op.flops) for op in graph.ops)
    nbytes = sum(int(op.bytes) for op in graph.ops)
    kernels = sum(op.repeat for op in graph.ops if op.kind != "view")
    r = max(1, int(repeat))
    return Work(flops * r, nbytes * r, kernels * r)


def check_work(graph: Graph, max_work: float = DEFAULT_MAX_WORK, repeat: int = 1) -> Work:
    """The graph's Work; WorkLimitError if its total exceeds `max_work`."""
    if not max_work > 0:
        raise UserError(f"--max-work must be a positive number, found {max_work!r}")
    w = estimate_work(graph, repeat)
    if w.total > max_work:
        raise WorkLimitError(
            f"workload {graph.attrs.get('spec', graph.name)!r} is too large to simulate: about "
            f"{w.total:.3g} flop-equivalents ({w.flops:.3g} flops, {w.bytes:.3g} bytes, "
            f"{w.kernels:,} kernels) against a limit of {max_work:.3g}; choose smaller sizes, or "
            f"raise the limit with --max-work {_suggest(w.total)} (max_work= in Python) if you mean it")
    return w


def _suggest(total: float) -> str:
    return f"{float(f'{total * 1.01:.2g}'):.2g}"


def max_work_arg(text: str) -> float:
    """argparse type of --max-work (archsim run, archsim sweep): a positive finite number."""
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 1e15, found {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, found {text!r}")
    return value
