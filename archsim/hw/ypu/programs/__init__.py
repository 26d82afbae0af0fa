"""The case-study programs, as assembly source (`*.s`) and assembled binaries (`*.bin`).

`load(name)` returns the shipped binary as an `Image`; `python -m archsim.hw.ypu.programs`
re-assembles every source and rewrites the binaries (a test checks they match).
"""
from __future__ import annotations

import os
from pathlib import Path

from archsim.errors import UserError
from archsim.hw.ypu.asm import Image, assemble

HERE = Path(__file__).resolve().parent
NAMES = ("sm_util", "cycle_stack", "nextline", "value_hist")


def source(name: str) -> str:
    p = HERE / f"{name}.s"
    if not p.exists():
        raise UserError(f"no YPU program {name!r}; shipped programs: {', '.join(NAMES)}")
    return p.read_text()


def assemble_program(name: str) -> Image:
    return assemble(source(name), f"{name}.s")


def load(name: str) -> Image:
    """The shipped binary of a case-study program (symbols from its source)."""
    p = HERE / f"{name}.bin"
    if not p.exists():
        raise UserError(f"no YPU binary {name!r}.bin; shipped programs: {', '.join(NAMES)}")
    return Image.from_bytes(p.read_bytes(), assemble_program(name).symbols)


def build_all() -> list[Path]:
    """Assemble every shipped source into its .bin (written atomically)."""
    out = []
    for name in NAMES:
        blob = assemble_program(name).to_bytes()
        dst = HERE / f"{name}.bin"
        tmp = dst.with_suffix(".bin.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, dst)
        out.append(dst)
    return out
