"""The signal contract: bus, levels, pulses, subscriptions and window aggregation."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from archsim.engine.signals import SignalBus, WindowMonitor
from archsim.errors import UserError


def _bus():
    bus = SignalBus()
    for i in range(3):
        bus.declare(f"sm[{i}].tensor_busy")
        bus.declare(f"sm[{i}].simt_busy")
    bus.declare("l2[0].miss", kind="pulse", width=32)
    return bus


def test_declare_order_index_and_lookup():
    bus = _bus()
    assert bus.names()[:2] == ["sm[0].tensor_busy", "sm[0].simt_busy"]
    assert [bus.get(n).index for n in bus.names()] == list(range(len(bus.names())))
    assert bus.get("l2[0].miss").kind == "pulse" and bus.get("l2[0].miss").width == 32


def test_duplicate_and_bad_declarations_are_user_errors():
    bus = _bus()
    with pytest.raises(UserError, match="twice"):
        bus.declare("sm[0].tensor_busy")
    with pytest.raises(UserError, match="kind"):
        bus.declare("x", kind="edge")
    with pytest.raises(UserError, match="width"):
        bus.declare("y", width=65)


def test_unknown_name_suggests_close_match():
    with pytest.raises(UserError, match="did you mean 'sm\\[1\\].tensor_busy'"):
        _bus().get("sm[1].tensor_bsy")


def test_match_glob_and_prefix():
    bus = _bus()
    got = [s.name for s in bus.match("sm[[]*].tensor_busy")]
    assert got == [f"sm[{i}].tensor_busy" for i in range(3)]
    assert [s.name for s in bus.match_prefix("sm[", ".simt_busy")] == [f"sm[{i}].simt_busy" for i in range(3)]


def test_level_notifies_only_on_change_pulse_every_call():
    bus = _bus()
    seen = []
    sub = bus.subscribe(["sm[0].tensor_busy", "l2[0].miss"], lambda t, s, v: seen.append((t, s.name, v)))
    lvl, pul = bus.get("sm[0].tensor_busy"), bus.get("l2[0].miss")
    lvl.set(1, 1); lvl.set(2, 1); lvl.set(3, 0)
    pul.pulse(4, 64); pul.pulse(4, 64)
    assert seen == [(1, "sm[0].tensor_busy", 1), (3, "sm[0].tensor_busy", 0),
                    (4, "l2[0].miss", 64), (4, "l2[0].miss", 64)]
    bus.unsubscribe(sub)
    assert not lvl.subscribed and not pul.subscribed
    lvl.set(5, 1)
    assert len(seen) == 4 and lvl.value == 1   # the level is still tracked


def test_unsubscribed_signal_keeps_level_and_calls_nothing():
    bus = _bus()
    s = bus.get("sm[2].simt_busy")
    assert not s.subscribed
    s.set(10, 1)
    assert s.value == 1


def test_window_monitor_level_fraction_and_pulse_sum():
    bus = _bus()
    # 1 GHz clock -> 1000 ticks per cycle; window of 4 cycles = 4000 ticks.
    mon = WindowMonitor(bus, ["sm[0].tensor_busy", "l2[0].miss"], window_cycles=4, clock_hz=1e9)
    b, m = bus.get("sm[0].tensor_busy"), bus.get("l2[0].miss")
    b.set(1000, 1)      # high from 1000
    m.pulse(500, 32)
    m.pulse(4500, 64)
    b.set(6000, 0)      # low from 6000: window 0 high 3000/4000, window 1 high 2000/4000
    out = mon.finish(10000)  # windows [0,4000) [4000,8000) [8000,10000)
    np.testing.assert_allclose(out["sm[0].tensor_busy"], [0.75, 0.5, 0.0])
    np.testing.assert_allclose(out["l2[0].miss"], [32, 64, 0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50_000), st.integers(0, 1)), max_size=40),
       st.integers(1, 16))
def test_window_means_integrate_to_total_high_time(changes, wcycles):
    bus = SignalBus()
    s = bus.declare("x")
    mon = WindowMonitor(bus, [s], window_cycles=wcycles, clock_hz=1e9)
    high, t_prev, v_prev = 0, 0, 0
    for t, v in sorted(changes):
        high += v_prev * (t - t_prev)
        t_prev, v_prev = t, v
        s.set(t, v)
    end = 60_000
    high += v_prev * (end - t_prev)
    out = mon.finish(end)["x"]
    W = wcycles * 1000
    lengths = np.full(len(out), W, dtype=float)
    lengths[-1] = end - (len(out) - 1) * W
    assert np.all((out >= 0) & (out <= 1))
    assert abs(float((out * lengths).sum()) - high) < 1e-6 * max(1, high)
