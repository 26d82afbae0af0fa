"""Parsing workload specs such as `gemm(M=4096, N=4096, K=4096, dtype='bf16')`.

The keyword values are Python literals read with ast.literal_eval: a spec is never eval'd.
Names may contain '-' and '.' (`bert-base`, `llama3-8b`).
"""
from __future__ import annotations

import ast
import re

from archsim.errors import WorkloadError

MAX_SPEC_CHARS = 4096
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(\(.*\))?\s*$", re.S)


def parse_spec(spec: str) -> tuple[str, dict]:
    """'name(k=v, ...)' or 'name' -> (name, {k: v}); WorkloadError on anything else."""
    if not isinstance(spec, str):
        raise WorkloadError(f"a workload spec is text such as 'gemm(M=64, N=64, K=64)', found "
                            f"{type(spec).__name__}")
    if len(spec) > MAX_SPEC_CHARS:
        raise WorkloadError(f"workload spec of {len(spec)} characters: at most {MAX_SPEC_CHARS}")
    bad = next((c for c in spec if ord(c) < 32 and c not in "\t\n\r"), None)
    if bad is not None:
        raise WorkloadError(f"workload spec {spec[:40]!r}: control character {bad!r} is not allowed")
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
    except (RecursionError, MemoryError, ValueError):
        raise WorkloadError(f"workload spec {spec[:40]!r}...: nested too deeply to parse") from None
    if not isinstance(call, ast.Call):
        raise WorkloadError(f"workload spec {spec!r}: expected name(key=value, ...)")
    if call.args:
        raise WorkloadError(f"workload spec {spec!r}: arguments must be keywords (key=value)")
    kwargs: dict = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise WorkloadError(f"workload spec {spec!r}: ** is not allowed")
        if kw.arg in kwargs:  # Python's compiler rejects this; ast.parse alone does not
            raise WorkloadError(f"workload spec {spec!r}: {kw.arg!r} is given more than once")
        try:
            kwargs[kw.arg] = _literal(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise WorkloadError(f"workload spec {spec!r}: value of {kw.arg!r} must be a literal "
                                f"(number, string, bool, tuple, list, or integer arithmetic such as 2**20), found "
                                f"{ast.unparse(kw.value)[:60]!r}") from None
    return name, kwargs


# Integer arithmetic a user writes for sizes (`n=2**24`, `M=4*1024`) is folded here, on literal
# operands only and with bounded results, so a spec stays data: `10**10**10` is refused rather
# than computed.
_MAX_FOLDED = 2**64
_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
         ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b}


def _literal(node: ast.AST):
    if isinstance(node, ast.BinOp) and type(node.op) in _FOLD:
        a, b = _literal(node.left), _literal(node.right)
        if not all(type(v) is int for v in (a, b)):
            raise ValueError("arithmetic only on integers")
        if isinstance(node.op, ast.Pow) and (b < 0 or b > 64 or abs(a) > _MAX_FOLDED):
            raise ValueError("exponent out of range")
        if isinstance(node.op, ast.FloorDiv) and b == 0:
            raise ValueError("division by zero")
        out = _FOLD[type(node.op)](a, b)
        if abs(out) > _MAX_FOLDED ** 2:
            raise ValueError("result too large")
        return out
    return ast.literal_eval(node)


def format_spec(name: str, kwargs: dict) -> str:
    """The inverse of parse_spec (keys in the given order)."""
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
