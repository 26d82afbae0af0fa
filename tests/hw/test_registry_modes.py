"""register_mode: a package adds an execution mode to a machine kind registered elsewhere."""
import pytest

from archsim.errors import UserError
from archsim.hw import registry


def test_register_mode_adds_a_mode_with_its_own_run(monkeypatch):
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))
    monkeypatch.setattr(registry, "_PENDING", {})
    calls = []
    registry.register_mode("toy", "extra", lambda g, c, m, **o: calls.append(("extra", m)))
    assert "toy" not in registry._KINDS          # pending until the kind registers
    registry.register_machine("toy", modes=("base",), run=lambda g, c, m, **o: calls.append(("base", m)))
    mk = registry._KINDS["toy"]
    assert mk.modes == ("base", "extra")
    mk.run_for("base")(None, None, "base")
    mk.run_for("extra")(None, None, "extra")
    assert calls == [("base", "base"), ("extra", "extra")]


def test_unknown_kind_is_a_user_error():
    with pytest.raises(UserError, match="no machine model"):
        registry.machine_kind("no-such-kind")
