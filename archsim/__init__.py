"""archsim: a cycle-level computer-architecture simulator framework."""

__version__ = "0.1.0"
