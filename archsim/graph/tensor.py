"""TensorSpec: the shape, element type and role of one tensor in a workload graph."""
from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.graph.dtypes import dtype_bytes

ROLES = ("activation", "input", "param", "grad", "state", "index")


@dataclass(frozen=True)
class TensorSpec:
    """A tensor, identified in its graph by `name`.

    role: "input" (fed from outside), "param" (a weight: trained, updated by the optimizer),
    "activation" (produced by an op), "grad" (a gradient), "state" (optimizer state),
    "index" (integer indices for gathers and scatters).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "bf16"
    role: str = "activation"

    def __post_init__(self) -> None:
        dims = tuple(self.shape)
        if any(isinstance(d, bool) or not float(d).is_integer() for d in dims):
            raise ValueError(f"tensor {self.name}: dimensions must be whole numbers, got {dims}")
        object.__setattr__(self, "shape", tuple(int(d) for d in dims))
        if any(d < 0 for d in self.shape):
            raise ValueError(f"tensor {self.name}: negative dimension in {self.shape}")
        dtype_bytes(self.dtype)
        if self.role not in ROLES:
            raise ValueError(f"tensor {self.name}: role {self.role!r} not in {ROLES}")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return dtype_bytes(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    def with_(self, **changes) -> "TensorSpec":
        """A copy with some fields changed."""
        fields = {"name": self.name, "shape": self.shape, "dtype": self.dtype, "role": self.role}
        fields.update(changes)
        return TensorSpec(**fields)
