"""The monitor tap and the YPU: a small RV32I unit watching a machine's signals (README.md)."""
from archsim.hw.ypu.monitor import Monitor, MonitorResult, attach
from archsim.hw.ypu.tap import Tap, Trigger
from archsim.hw.ypu.unit import UnitConfig, UnitResult

__all__ = ["Monitor", "MonitorResult", "attach", "Tap", "Trigger", "UnitConfig", "UnitResult"]
