"""Element types of workload tensors and their sizes in bytes."""
from __future__ import annotations

from archsim.errors import WorkloadError

DTYPE_BYTES: dict[str, int] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "c128": 16, "c64": 8,  # complex (fp64 and fp32 parts)
}

# numpy dtype names -> ours (the tracer and the importers use this)
NUMPY_NAMES: dict[str, str] = {
    "float64": "fp64", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16",
    "int64": "int64", "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8",
    "bool": "bool", "complex128": "c128", "complex64": "c64",
}


def dtype_bytes(dtype: str) -> int:
    """Size in bytes of one element of `dtype`; a clear error for an unknown name."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        known = ", ".join(sorted(DTYPE_BYTES))
        raise WorkloadError(f"unknown dtype {dtype!r}; known: {known}") from None
