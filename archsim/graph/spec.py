"""Parsing workload specs such as `gemm(M=4096, N=4096, K=4096, dtype='bf16')`.

The keyword values are Python literals read with ast.literal_eval: a spec is never eval'd.
Names may contain '-' and '.' (`bert-base`, `llama3-8b`).
"""
from __future__ import annotations

import ast
import re

from archsim.errors import WorkloadError

_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(\(.*\))?\s*$", re.S)


def parse_spec(spec: str) -> tuple[str, dict]:
    """'name(k=v, ...)' or 'name' -> (name, {k: v}); WorkloadError on anything else."""
    m = _NAME.match(spec or "")
    if not m:
        raise WorkloadError(f"cannot parse workload spec {spec!r}: expected name(key=value, ...)")
    name, args = m.group(1), m.group(2)
    if not args:
        return name, {}
    try:
        call = ast.parse("f" + args, mode="eval").body
    except SyntaxError as exc:
        raise WorkloadError(f"workload spec {spec!r}: syntax error at column {exc.offset}") from None
    if not isinstance(call, ast.Call):
        raise WorkloadError(f"workload spec {spec!r}: expected name(key=value, ...)")
    if call.args:
        raise WorkloadError(f"workload spec {spec!r}: arguments must be keywords (key=value)")
    kwargs: dict = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise WorkloadError(f"workload spec {spec!r}: ** is not allowed")
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise WorkloadError(f"workload spec {spec!r}: value of {kw.arg!r} must be a literal "
                                f"(number, string, bool, tuple, list), found "
                                f"{ast.unparse(kw.value)!r}") from None
    return name, kwargs


def format_spec(name: str, kwargs: dict) -> str:
    """The inverse of parse_spec (keys in the given order)."""
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
