"""Kitsune's grid scheduler change: one round-robin arbiter per resource type (SIMT, TENSOR).

A kernel's primary resource type is `kernel_kind(k)`: "tensor" when it issues tensor-core
work, "simt" otherwise (a pipeline stage carries it as `Stage.kind`). Each arbiter admits the
next kernel of its own type once no active kernel of that type still has CTAs waiting to be
dispatched; the two types do not wait for each other, so a SIMT-heavy CTA and a tensor-heavy
CTA end up sharing an SM wherever occupancy (threads, registers, shared memory, CTA slots,
checked by the machine's dispatch as for every kernel) lets them. Among ready kernels of a
type the arbiter goes round robin over streams: the stream after the one whose kernel of that
type was admitted last. The arbiter is stateless: it reads that from the active kernels.

The BSP default stays `fifo` (archsim.hw.gpu.machine): one queue over all kernels.
"""
from __future__ import annotations

from archsim.hw.gpu.machine import register_arbiter


def kernel_kind(k) -> str:
    """The arbiter a kernel goes through: its primary resource type."""
    return "tensor" if getattr(k, "tensor_flops", 0) > 0 else "simt"


@register_arbiter("kitsune")
def kitsune_arbiter(ready: list, active: list) -> int | None:
    """ready: (launch_seq, stream, op index, kernel) in launch order; active: KernelExec.
    Returns the index in `ready` of the kernel to dispatch next, or None."""
    blocked = {kernel_kind(a.kernel) for a in active if not a.dispatched_all}
    last = {}
    for a in active:
        t = kernel_kind(a.kernel)
        if a.idx >= last.get(t, (-1, 0))[0]:
            last[t] = (a.idx, a.stream)
    best = None
    for i, (seq, s, _, k) in enumerate(ready):
        t = kernel_kind(k)
        if t in blocked:
            continue
        after = last.get(t, (-1, -1))[1]
        # round robin: streams after the last admitted one first, then the rest, by launch
        key = (0 if s > after else 1, s, seq)
        if best is None or key < best[0]:
            best = (key, i)
    return None if best is None else best[1]
