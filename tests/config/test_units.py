"""Parsing and formatting quantities with units (archsim.config.units)."""
import math
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from archsim.config.units import (UNITS, UnitError, format_quantity, parse_exact,
                                  parse_quantity)


@pytest.mark.parametrize("text, dimension, expected", [
    ("4.8 TB/s", "B/s", 4.8e12),
    ("60 MiB", "B", 60 * 2**20),
    ("80MiB", "B", 80 * 2**20),
    ("1.98 GHz", "Hz", 1.98e9),
    ("409 ns", "s", 409e-9),
    ("700 W", "W", 700.0),
    ("1.03 pJ", "J", 1.03e-12),
    ("1.5e3 MB", "B", 1.5e9),
    ("2.5E-3 s", "s", 2.5e-3),
    ("6TB/s", "B/s", 6e12),
    ("40 KiB", "B", 40960),
    ("1 KB", "B", 1000),
    ("1 kB", "B", 1000),
    ("3 µs", "s", 3e-6),
    ("3 us", "s", 3e-6),
    ("-2 W", "W", -2.0),
    (".5 GHz", "Hz", 5e8),
    ("1_000 MHz", "Hz", 1e9),
    ("  8 TiB/s  ", "B/s", 8 * 2**40),
])
def test_parse_examples(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-15)


def test_parsing_is_exact():
    assert parse_exact("1.98 GHz", "Hz") == 1_980_000_000
    assert parse_quantity("1.98 GHz", "Hz") == 1.98e9
    assert parse_exact("1.03 pJ", "J") == Fraction(103, 10**14)
    assert parse_quantity("1.5 KiB", "B", integer=True) == 1536
    assert type(parse_quantity("1.5 KiB", "B", integer=True)) is int


@pytest.mark.parametrize("text, dimension, reason", [
    ("4.8", "B/s", "unit is missing"),
    ("fast", "B/s", "not a number"),
    ("60 MiB", "B/s", "unit of B, not of B/s"),
    ("4.8 TB/s", "B", "unit of B/s, not of B"),
    ("1 GHz", "s", "unit of Hz"),
    ("60 Mb", "B", "bits"),
    ("3 Gbps", "B/s", "bits"),
    ("60 mib", "B", "did you mean 'MiB'"),
    ("3 mHz", "Hz", "did you mean 'MHz'"),   # no milli-hertz: too easy to mistype MHz
    ("3 Ms", "s", "did you mean 'ms'"),      # no mega-seconds, likewise
    ("60 MiB MiB", "B", "unknown unit"),
    ("1e3", "s", "unit is missing"),
])
def test_parse_errors(text, dimension, reason):
    with pytest.raises(UnitError, match=None) as info:
        parse_quantity(text, dimension)
    assert reason in str(info.value)


def test_integer_requires_whole_value():
    with pytest.raises(UnitError, match="whole number"):
        parse_quantity("1.5 B", "B", integer=True)


@pytest.mark.parametrize("value, dimension, text", [
    (60 * 2**20, "B", "60 MiB"), (4.8e12, "B/s", "4.8 TB/s"), (1.98e9, "Hz", "1.98 GHz"),
    (409e-9, "s", "409 ns"), (700, "W", "700 W"), (1.03e-12, "J", "1.03 pJ"), (0, "B", "0 B"),
    (1024, "B", "1 KiB"), (1000, "B", "1 kB"), (128, "B", "128 B"), (2**41, "B/s", "2 TiB/s"),
])
def test_format_examples(value, dimension, text):
    assert format_quantity(value, dimension) == text


PREFIXED = [(dim, unit, mult) for dim, table in UNITS.items() for unit, mult in table.items()]
mantissas = st.one_of(
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**9).map(float))


@given(st.sampled_from(PREFIXED), mantissas, st.sampled_from(["{:g}", "{!r}", "{:.6e}", "{:E}"]),
       st.sampled_from([" ", "", "  "]), st.booleans())
def test_format_then_parse_gives_the_same_si_value(unit_entry, mantissa, fmt, space, negative):
    dimension, unit, multiplier = unit_entry
    mantissa = -mantissa if negative else mantissa
    text = fmt.format(mantissa) + space + unit
    expected = float(Fraction(fmt.format(mantissa)) * multiplier)
    assert math.isclose(parse_quantity(text, dimension), expected, rel_tol=1e-12, abs_tol=0)
    assert math.isclose(parse_quantity(text, dimension), mantissa * float(multiplier),
                        rel_tol=1e-12 if fmt == "{!r}" else 1e-5, abs_tol=0)


@given(st.sampled_from(list(UNITS)), st.floats(min_value=1e-15, max_value=1e15))
def test_format_quantity_parses_back(dimension, value):
    text = format_quantity(value, dimension, digits=17)
    assert math.isclose(parse_quantity(text, dimension), value, rel_tol=1e-12)
