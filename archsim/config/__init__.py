"""archsim.config: YAML machine descriptions -> validated, immutable config objects.

    cfg = load_config("hwconfigs/h200.yaml", overrides=["l2.size=80MiB"])
    cfg.l2.size          # 83886080 (bytes; every quantity is stored in SI units)

A schema is a frozen dataclass declared with `param`/`section` (archsim.config.params) and
registered under a `kind:` name with `register_kind`. See README.md in this folder.
"""
from archsim.config.loader import (REQUIRED, FrozenDict, ParamInfo, describe, from_dict, kinds,
                                   load_config, load_config_text, register_kind, schema_for,
                                   to_dict, validate_file)
from archsim.config.params import param, section
from archsim.config.units import UnitError, format_quantity, parse_quantity
from archsim.errors import ConfigError

# Built-in kinds. A new kind's module defines its schema and is registered here, one line each.
from archsim.config.cpu import CpuConfig  # noqa: E402
from archsim.config.gpu import GpuConfig  # noqa: E402

register_kind("gpu", GpuConfig)
register_kind("cpu", CpuConfig)
from archsim.config.manycore import ManycoreConfig  # noqa: E402  (issue 11)
register_kind("manycore", ManycoreConfig)

__all__ = [
    "ConfigError", "CpuConfig", "FrozenDict", "GpuConfig", "ParamInfo", "REQUIRED", "UnitError", "describe",
    "format_quantity", "from_dict", "kinds", "load_config", "load_config_text", "param",
    "parse_quantity", "register_kind", "schema_for", "section", "to_dict", "validate_file",
]
