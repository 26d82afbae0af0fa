"""Declaring config parameters once, with type, unit and doc (the gem5 `Param` idea).

A config section is a frozen dataclass; each field is declared with `param(...)`. The loader in
this package reads the metadata to parse units, check bounds and write error messages; reports
dump the resolved values. Units name a dimension; values are stored in SI base units:

    "B"     bytes (int)          accepts B, KB, MB, GB, TB (10^3) and KiB, MiB, GiB, TiB (2^10)
    "B/s"   bytes per second     accepts B/s, KB/s, MB/s, GB/s, TB/s, GiB/s, TiB/s, ...
    "Hz"    frequency            accepts Hz, kHz, MHz, GHz
    "s"     time                 accepts s, ms, us, ns, ps
    "W"     power                accepts W, mW, kW
    "J"     energy               accepts J, mJ, uJ, nJ, pJ, fJ
    None    a plain number, string or bool: no unit allowed

A `dict` field maps names to values; its `unit` (if any) applies to every value.

Every field is keyword-only, so a section may list required and defaulted fields in any order
(the loader always constructs by keyword) and adding an optional field never breaks a schema.
"""
from __future__ import annotations

import dataclasses
from typing import Any

MISSING = dataclasses.MISSING


def param(doc: str, unit: str | None = None, default: Any = MISSING, *,
          ge: float | None = None, gt: float | None = None, le: float | None = None,
          choices: tuple | None = None) -> Any:
    """A config field: `doc` is one line for users, `unit` a dimension from the module doc."""
    meta = {"doc": doc, "unit": unit, "ge": ge, "gt": gt, "le": le, "choices": choices}
    if isinstance(default, (dict, list)):
        frozen = dict(default) if isinstance(default, dict) else tuple(default)
        return dataclasses.field(default_factory=lambda: frozen, metadata=meta, kw_only=True)
    return dataclasses.field(default=default, metadata=meta, kw_only=True)


def section(doc: str, factory: Any = MISSING) -> Any:
    """A nested config section (another frozen dataclass)."""
    meta = {"doc": doc, "unit": None, "ge": None, "gt": None, "le": None, "choices": None}
    if factory is MISSING:
        return dataclasses.field(metadata=meta, kw_only=True)
    return dataclasses.field(default_factory=factory, metadata=meta, kw_only=True)
