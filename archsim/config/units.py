"""Quantities with units: "4.8 TB/s" -> 4.8e12, and back.

A unit names a dimension (see archsim.config.params); values are SI base units. Which prefixes a
dimension accepts is deliberately narrow, so that a slip of the shift key is an error rather
than a factor of 10^9 (mHz vs MHz, ms vs Ms):

    dimension  accepted units
    B          B, kB/KB, MB, GB, TB, PB (10^3)   KiB, MiB, GiB, TiB, PiB (2^10)
    B/s        B/s, kB/s, KB/s, ..., PB/s         KiB/s, ..., PiB/s
    Hz         Hz, kHz, MHz, GHz, THz
    s          s, ms, us, µs, ns, ps, fs
    W          W, mW, uW, µW, kW
    J          J, kJ, mJ, uJ, µJ, nJ, pJ, fJ

The number may use scientific notation ("1.5e3 MB") and the space before the unit is optional.
Parsing is exact (fractions), so "1.98 GHz" is exactly the float nearest 1.98e9 and "1.5 KiB"
is the integer 1536.
"""
from __future__ import annotations

import re
from fractions import Fraction

EXAMPLES = {"B": "60 MiB", "B/s": "4.8 TB/s", "Hz": "1.98 GHz", "s": "409 ns", "W": "700 W",
            "J": "1.03 pJ"}
"""One typical quantity per dimension, quoted in error messages."""

_LARGE = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
_MICRO = Fraction(1, 10**6)
_SMALL = {"m": Fraction(1, 10**3), "u": _MICRO, "µ": _MICRO, "μ": _MICRO,
          "n": Fraction(1, 10**9), "p": Fraction(1, 10**12), "f": Fraction(1, 10**15)}


def _table(base: str, prefixes: dict) -> dict[str, Fraction]:
    return {p + base: Fraction(m) for p, m in ({"": 1} | prefixes).items()}


UNITS: dict[str, dict[str, Fraction]] = {
    "B": _table("B", _LARGE | {"K": 10**3} | _BINARY),
    "B/s": _table("B/s", _LARGE | {"K": 10**3} | _BINARY),
    "Hz": _table("Hz", {p: _LARGE[p] for p in "kMGT"}),
    "s": _table("s", {p: _SMALL[p] for p in "muµμnpf"}),
    "W": _table("W", {p: _SMALL[p] for p in "muµμ"} | {"k": 10**3}),
    "J": _table("J", {"k": 10**3} | _SMALL),
}
"""Every accepted unit string of each dimension, with its multiplier to the SI base unit."""

_QUANTITY = re.compile(r"""^\s*(?P<num>[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?)
                          \s*(?P<unit>.*?)\s*$""", re.VERBOSE)


class UnitError(ValueError):
    """A text is not a quantity of the wanted dimension; the message says why, for users."""


def _hint(unit_text: str, dimension: str) -> str:
    for other, table in UNITS.items():
        if unit_text in table:
            return f" (that is a unit of {other}, not of {dimension})"
    folded = [u for u in UNITS[dimension] if u.lower() == unit_text.lower()]
    bits = dimension in ("B", "B/s") and unit_text.endswith(("b", "b/s", "bps"))
    if bits and not (folded and "i" in unit_text):
        return " (a lowercase 'b' means bits; archsim counts bytes: use B)"
    if folded:
        return f" (units are case-sensitive: did you mean '{folded[0]}'?)"
    shown = [u for u in UNITS[dimension] if u[:1] not in ("µ", "μ")]
    return f" (accepted units: {', '.join(shown)})"


def parse_exact(text: str, dimension: str) -> Fraction:
    """The exact SI value of `text` ("60 MiB") in `dimension` ("B"); raises UnitError."""
    if dimension not in UNITS:
        raise KeyError(f"unknown dimension {dimension!r}; known: {', '.join(UNITS)}")
    m = _QUANTITY.match(text)
    if not m:
        raise UnitError("not a number followed by a unit")
    unit_text = m["unit"]
    if not unit_text:
        raise UnitError("the unit is missing")
    table = UNITS[dimension]
    if unit_text not in table:
        raise UnitError(f"unknown unit '{unit_text}'{_hint(unit_text, dimension)}")
    return Fraction(m["num"].replace("_", "")) * table[unit_text]


def parse_quantity(text: str, dimension: str, *, integer: bool = False) -> int | float:
    """SI value of `text` in `dimension`: an int if `integer` (error unless whole), else a float."""
    value = parse_exact(text, dimension)
    if integer:
        if value.denominator != 1:
            raise UnitError(f"not a whole number of {dimension} ({float(value):g} {dimension})")
        return int(value)
    return float(value)


def format_quantity(value: float, dimension: str, *, digits: int = 4) -> str:
    """`value` (SI) with the prefix that reads best: 62914560 B -> '60 MiB', 4.8e12 -> '4.8 TB/s'.

    For bytes a binary prefix is used when it gives the shorter number (60 MiB, not 62.91 MB).
    """
    if value == 0:
        return f"0 {dimension}"
    magnitude = abs(Fraction(value))
    units = [(u, m) for u, m in UNITS[dimension].items()
             if u[:1] not in ("µ", "μ") and u not in ("KB", "KB/s")]
    decimal = [(u, m) for u, m in units if "i" not in u]
    fitting = [(u, m) for u, m in decimal if magnitude >= m]
    best = max(fitting, key=lambda um: um[1]) if fitting else min(decimal, key=lambda um: um[1])
    binary = [(u, m) for u, m in units if "i" in u and magnitude >= m and magnitude % m == 0]
    if binary:
        b = max(binary, key=lambda um: um[1])
        if len(_exact_digits(magnitude / b[1])) < len(_exact_digits(magnitude / best[1])):
            best = b
    return f"{float(Fraction(value) / best[1]):.{digits}g} {best[0]}"


def _exact_digits(x: Fraction) -> str:
    """Significant digits of x written out exactly (long if x has no short decimal form)."""
    if x.denominator == 1:
        return str(x.numerator).rstrip("0") or "0"
    return repr(float(x)).replace(".", "").lstrip("0")
