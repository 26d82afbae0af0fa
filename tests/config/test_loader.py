"""load_config: schema checking, extends, overrides, to_dict/from_dict, describe, kinds."""
import copy
import dataclasses
import json
import pathlib
import pickle
import textwrap
from typing import Literal

import pytest

from archsim.config import (REQUIRED, ConfigError, FrozenDict, GpuConfig, describe, from_dict,
                            kinds, load_config, load_config_text, param, register_kind,
                            section, to_dict, validate_file)

HERE = pathlib.Path(__file__).parent
MINIMAL = HERE / "minimal_gpu.yaml"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the minimal GPU fixture

def test_minimal_gpu_loads_with_si_values():
    cfg = load_config(MINIMAL)
    assert isinstance(cfg, GpuConfig) and cfg.kind == "gpu"
    assert cfg.l2.size == 50 * 2**20 and type(cfg.l2.size) is int
    assert cfg.hbm.size == 80 * 2**30
    assert cfg.sm.shared_memory == 228 * 1024
    assert cfg.clocks.boost == 1.98e9
    assert cfg.hbm.latency == 409e-9
    assert cfg.launch.overhead == 2.5e-6
    assert cfg.crossbar.bandwidth == 6e12
    assert cfg.power.cap == 700.0
    assert cfg.energy == {"dram_byte": 7.0e-12, "l2_byte": 1.03e-12}
    assert cfg.sm.tensor_flops_per_cycle["bf16"] == 2048
    assert cfg.sm.load_store_bytes_per_cycle == 128.0 and type(cfg.sm.load_store_bytes_per_cycle) is float
    assert cfg.sm.simt_flops_per_cycle == {}  # a default


def test_validate_file_is_load_config():
    assert validate_file(MINIMAL) == load_config(MINIMAL)
    assert validate_file(str(MINIMAL), ["l2.ways=8"]).l2.ways == 8


def test_config_is_immutable_hashable_and_picklable():
    cfg = load_config(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.l2.size = 1
    with pytest.raises(TypeError):
        cfg.energy["dram_byte"] = 1.0
    with pytest.raises(TypeError):
        cfg.energy.update(x=1)
    assert isinstance(cfg.energy, FrozenDict) and isinstance(cfg.energy, dict)
    assert hash(cfg) == hash(load_config(MINIMAL))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg
    assert dataclasses.replace(cfg, name="other").name == "other"


def test_missing_file():
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(HERE / "nope.yaml")


# ------------------------------------------------------------------ extends

def test_extends_deep_merges_and_child_wins(tmp_path):
    child = write(tmp_path, "child.yaml", f"""\
        extends: {MINIMAL}
        name: child
        l2:
          size: 80 MiB
        sm:
          tensor_flops_per_cycle: {{fp8: 8192, fp16: 2048}}
        energy:
          sram_byte: 0.5 pJ
        """)
    base, cfg = load_config(MINIMAL), load_config(child)
    assert cfg.name == "child"
    assert cfg.l2.size == 80 * 2**20
    assert cfg.l2.ways == base.l2.ways and cfg.l2.latency == base.l2.latency  # kept from base
    assert cfg.sm.tensor_flops_per_cycle == {"bf16": 2048, "fp8": 8192, "fp16": 2048}
    assert cfg.energy == {"dram_byte": 7e-12, "l2_byte": 1.03e-12, "sram_byte": 0.5e-12}
    assert cfg.hbm == base.hbm


def test_extends_chain_with_relative_paths(tmp_path):
    write(tmp_path, "presets/base.yaml", f"extends: {MINIMAL}\nl2: {{size: 40 MiB, ways: 8}}\n")
    write(tmp_path, "presets/mid.yaml", "extends: base.yaml\nl2: {ways: 4}\nname: mid\n")
    leaf = write(tmp_path, "machines/leaf.yaml", "extends: ../presets/mid.yaml\nname: leaf\n")
    cfg = load_config(leaf)
    assert (cfg.name, cfg.l2.size, cfg.l2.ways) == ("leaf", 40 * 2**20, 4)


def test_extends_list_merges_in_order(tmp_path):
    write(tmp_path, "a.yaml", "l2: {ways: 2}\npower: {cap: 500 W}\n")
    write(tmp_path, "b.yaml", "l2: {ways: 3}\n")
    leaf = write(tmp_path, "leaf.yaml", f"extends: [{MINIMAL}, a.yaml, b.yaml]\nname: leaf\n")
    cfg = load_config(leaf)
    assert cfg.l2.ways == 3                     # b is later in the list than a
    assert cfg.power.cap == 500.0               # a is later than the minimal file
    assert cfg.l2.size == 50 * 2**20            # from the minimal file


def test_diamond_extends_is_not_a_cycle(tmp_path):
    write(tmp_path, "a.yaml", f"extends: {MINIMAL}\nl2: {{ways: 2}}\n")
    write(tmp_path, "b.yaml", f"extends: {MINIMAL}\nsm: {{count: 100}}\n")
    leaf = write(tmp_path, "leaf.yaml", "extends: [a.yaml, b.yaml]\n")
    cfg = load_config(leaf)
    # b re-reads the minimal file, whose l2.ways (16) is merged over a's: later bases win
    # for every key they hold, including keys they inherit.
    assert (cfg.l2.ways, cfg.sm.count) == (16, 100)


def test_self_extends_is_circular(tmp_path):
    path = write(tmp_path, "self.yaml", "extends: self.yaml\n")
    with pytest.raises(ConfigError, match=r"self.yaml:1: extends: circular extends: "
                                          r"self.yaml -> self.yaml"):
        load_config(path)


def test_errors_point_into_the_base_file(tmp_path):
    write(tmp_path, "base.yaml", f"extends: {MINIMAL}\nl2:\n  ways: many\n")
    leaf = write(tmp_path, "leaf.yaml", "extends: base.yaml\nname: leaf\n")
    with pytest.raises(ConfigError) as info:
        load_config(leaf)
    assert str(info.value).startswith(f"{tmp_path / 'base.yaml'}:3: l2.ways: expected an integer")


def test_load_config_text(tmp_path):
    cfg = load_config_text(f"extends: {MINIMAL.name}\nname: inline\n", file=str(HERE / "x.yaml"))
    assert cfg.name == "inline"
    with pytest.raises(ConfigError, match=r"^<string>:1: invalid YAML"):
        load_config_text("a: [")


# ------------------------------------------------------------------ overrides

def test_overrides_from_the_brief():
    cfg = load_config(MINIMAL, overrides=["l2.size=80MiB", "hbm.peak_bandwidth=7TB/s",
                                          "hbm.bandwidth=6TB/s",
                                          "sm.tensor_flops_per_cycle.bf16=4096",
                                          "energy.dram_byte=60pJ"])
    assert cfg.l2.size == 80 * 2**20
    assert cfg.hbm.bandwidth == 6e12
    assert cfg.sm.tensor_flops_per_cycle == {"bf16": 4096, "fp8": 4096}
    assert cfg.energy["dram_byte"] == 60e-12 and cfg.energy["l2_byte"] == 1.03e-12


def test_overrides_apply_after_extends_and_in_order(tmp_path):
    child = write(tmp_path, "child.yaml", f"extends: {MINIMAL}\nl2: {{size: 10 MiB}}\n")
    cfg = load_config(child, ["l2.size=20 MiB", "l2.size=30MiB", "name=over ridden"])
    assert cfg.l2.size == 30 * 2**20 and cfg.name == "over ridden"


def test_override_adds_dict_keys_and_merges_mappings():
    cfg = load_config(MINIMAL, ["energy.hbm_byte=3 pJ", "l2={ways: 4, partitions: 8}"])
    assert cfg.energy["hbm_byte"] == 3e-12 and "dram_byte" in cfg.energy
    assert (cfg.l2.ways, cfg.l2.partitions, cfg.l2.size) == (4, 8, 50 * 2**20)


def test_override_values_are_yaml_scalars():
    cfg = load_config(MINIMAL, ["sm.count=108", "sm.load_store_bytes_per_cycle=6.4e1",
                                "name='108'"])
    assert cfg.sm.count == 108 and cfg.sm.load_store_bytes_per_cycle == 64.0 and cfg.name == "108"


def test_overrides_as_a_mapping():
    cfg = load_config(MINIMAL, {"l2.size": "80 MiB", "sm.count": 100})
    assert cfg.l2.size == 80 * 2**20 and cfg.sm.count == 100


@pytest.mark.parametrize("override, message", [
    ("l2.size", "--set l2.size: expected KEY=VALUE"),
    ("l2..size=1", "--set l2..size: expected a dotted key path"),
    ("name.first=x", "--set name.first: name is 'test-gpu', not a section"),
    ("l3.size=1MiB", "--set l3.size: l3: unknown key 'l3' in the top level"),
    ("sm.cuont=1", "--set sm.cuont: unknown key 'cuont' in section 'sm'; did you mean 'count'?"),
    ("size=1MiB", "--set size: unknown key 'size' in the top level; did you mean 'l2.size' or "
                  "'hbm.size'?"),
    ("sm.count=[1", "--set sm.count: invalid YAML"),
    ("sm.count=", "--set sm.count: expected an integer, found null"),
    ("hbm.latency=-1 ns", "--set hbm.latency: expected a value > 0 s, found '-1 ns'"),
])
def test_override_errors_name_the_override(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(MINIMAL, [override])
    assert str(info.value).startswith(message), str(info.value)


def test_several_errors_are_reported_together():
    with pytest.raises(ConfigError) as info:
        load_config(MINIMAL, ["l2.size=lots", "hbm.size=-1 GiB", "l2.ways=many"])
    err = info.value
    assert len(err.errors) == 3
    assert err.key == "l2.size"
    lines = str(err).splitlines()
    assert lines[0].startswith("--set l2.size: ") and lines[1].startswith("--set l2.ways: ")
    assert lines[2].startswith("--set hbm.size: ")


# ------------------------------------------------------------------ to_dict / from_dict / describe

def test_to_dict_is_plain_json_and_round_trips():
    cfg = load_config(MINIMAL, ["energy.x=1 fJ"])
    data = to_dict(cfg)
    assert type(data["energy"]) is dict and type(data["l2"]) is dict
    assert data["l2"]["size"] == 50 * 2**20 and data["hbm"]["bandwidth"] == 3e12
    text = json.dumps(data)
    assert from_dict(json.loads(text)) == cfg
    assert from_dict(data) == cfg
    assert from_dict(data, ["l2.ways=2"]).l2.ways == 2


def test_from_dict_still_checks():
    data = to_dict(load_config(MINIMAL))
    data["l2"]["size"] = 1.5
    with pytest.raises(ConfigError, match="l2.size: expected a whole number of B"):
        from_dict(data)


def test_describe_lists_every_parameter():
    rows = {r.path: r for r in describe(GpuConfig)}
    assert rows == {r.path: r for r in describe("gpu")}
    assert rows["l2"].type == "section"
    size = rows["l2.size"]
    assert (size.type, size.unit, size.default) == ("int", "B", REQUIRED)
    assert size.doc == "total L2 capacity"
    assert rows["energy"].type == "dict[str, float]" and rows["energy"].unit == "J"
    assert rows["energy"].default == {}
    assert rows["kind"].default == "gpu"
    path, type_, unit, doc, default = rows["hbm.bandwidth"]  # a plain 5-tuple too
    assert (type_, unit) == ("float", "B/s")


def test_every_described_leaf_is_reachable_by_an_override():
    cfg = load_config(MINIMAL)
    data = to_dict(cfg)
    for row in describe(GpuConfig):
        if row.type == "section":
            continue
        node = data
        for part in row.path.split("."):
            node = node[part]


# ------------------------------------------------------------------ YAML details

def test_yaml_features(tmp_path):
    path = write(tmp_path, "anchors.yaml", f"""\
        extends: {MINIMAL}
        clocks: &clk {{boost: 2 GHz, base: 1 GHz, min: 1e2 MHz}}
        sm:
          load_store_bytes_per_cycle: 1e2
        power:
          <<: {{cap: 1 kW, idle: 10 W}}
          idle: 20 W
        """)
    cfg = load_config(path)
    assert cfg.clocks.min == 1e8
    assert cfg.sm.load_store_bytes_per_cycle == 100.0  # a YAML 1.2 float, not the string '1e2'
    assert (cfg.power.cap, cfg.power.idle) == (1000.0, 20.0)


# ------------------------------------------------------------------ other kinds and field types

@dataclasses.dataclass(frozen=True)
class CacheLevel:
    size: int = param("capacity", "B", gt=0)
    policy: str = param("replacement policy", default="lru", choices=("lru", "fifo", "random"))


@dataclasses.dataclass(frozen=True)
class Noc:
    topology: Literal["mesh", "ring"] = param("topology", default="mesh")
    dims: tuple[int, ...] = param("grid dimensions", default=(4, 4))


@dataclasses.dataclass(frozen=True)
class WidgetConfig:
    cores: int = param("cores", ge=1)
    caches: dict[str, CacheLevel] = param("cache levels by name")
    noc: Noc = section("network", Noc)
    simd: bool = param("has SIMD", default=False)
    turbo: float | None = param("turbo clock, if any", "Hz", default=None)
    latencies: tuple[float, ...] = param("pipeline latencies", "s", default=())
    tags: dict[str, str] = param("free-form labels", default={})

    def __post_init__(self):
        if self.cores % 2:
            raise ValueError(f"cores must be even, found {self.cores}")


register_kind("test-widget", WidgetConfig)

WIDGET = """\
kind: test-widget
cores: 8
caches:
  l1: {size: 32 KiB}
  l2: {size: 1 MiB, policy: fifo}
"""


def test_registered_kind_with_rich_types():
    assert kinds()["test-widget"] is WidgetConfig
    cfg = load_config_text(WIDGET + "turbo: 3 GHz\nlatencies: [1 ns, 2.5 ns]\ntags: {a: b}\n")
    assert isinstance(cfg, WidgetConfig)
    assert cfg.caches["l1"] == CacheLevel(size=32768)
    assert cfg.caches["l2"].policy == "fifo"
    assert cfg.noc == Noc() and cfg.noc.dims == (4, 4)
    assert cfg.turbo == 3e9 and cfg.latencies == (1e-9, 2.5e-9) and cfg.tags == {"a": "b"}
    assert load_config_text(WIDGET).turbo is None
    over = load_config_text(WIDGET, ["caches.l1.size=64KiB", "noc.dims=[2, 8]", "simd=true"])
    assert over.caches["l1"].size == 65536 and over.noc.dims == (2, 8) and over.simd is True
    assert from_dict(to_dict(over)) == over
    assert to_dict(over)["noc"]["dims"] == [2, 8]


@pytest.mark.parametrize("extra, message", [
    ("noc: {topology: torus}", "<string>:6: noc.topology: expected one of 'mesh', 'ring', found 'torus'"),
    ("noc: {dims: [1, 2], topology: ring, width: 3}",
     "<string>:6: noc.width: unknown key 'width' in section 'noc'"),
    ("turbo: ~\nlatencies: [1 ns, 2 ns, lots]",
     "<string>:7: latencies[2]: expected a quantity in s such as '409 ns', found 'lots'"),
    ("simd: 1", "<string>:6: simd: expected true or false, found 1"),
    ("turbo: fast", "<string>:6: turbo: expected a quantity in Hz such as '1.98 GHz', found 'fast'"),
    ("noc: {dims: [4, x]}", "<string>:6: noc.dims[1]: expected an integer, found 'x'"),
    ("latencies: 1 ns", "<string>:6: latencies: expected a list, found '1 ns'"),
    ("tags: {1: b}", "<string>:6: tags.1: expected a name as key, found 1"),
])
def test_rich_type_errors(extra, message):
    with pytest.raises(ConfigError) as info:
        load_config_text(WIDGET + extra + "\n")
    assert str(info.value).startswith(message), str(info.value)


def test_dict_of_sections_errors_and_post_init_checks():
    bad_policy = WIDGET.replace("policy: fifo", "policy: lru2")
    with pytest.raises(ConfigError, match=r"^<string>:5: caches.l2.policy: expected one of 'lru', "
                                          r"'fifo', 'random', found 'lru2'; did you mean 'lru'\?"):
        load_config_text(bad_policy)
    with pytest.raises(ConfigError, match=r"^<string>:1: cores must be even, found 7"):
        load_config_text(WIDGET.replace("cores: 8", "cores: 7"))


def test_unknown_kind_and_kind_stripping():
    with pytest.raises(ConfigError, match=r"^<string>:1: kind: unknown config kind 'test-widgit'.*"
                                          r"did you mean 'test-widget'\?"):
        load_config_text(WIDGET.replace("test-widget", "test-widgit"))
    assert to_dict(load_config_text(WIDGET))["kind"] == "test-widget"  # not a field, still kept


def test_kind_registry_rejects_conflicts():
    register_kind("test-widget", WidgetConfig)  # same class again: fine
    with pytest.raises(ValueError):
        register_kind("test-widget", GpuConfig)
    with pytest.raises(TypeError):
        register_kind("test-plain", dict)


def test_empty_values_mean_nothing_to_change(tmp_path):
    child = write(tmp_path, "child.yaml", f"""\
        extends: {MINIMAL}
        l2:
          # size: 1 MiB   (commented out: l2 stays as the base has it)
        energy:
        """)
    cfg = load_config(child)
    assert cfg.l2 == load_config(MINIMAL).l2 and cfg.energy["dram_byte"] == 7e-12
    assert load_config(MINIMAL, ["energy="]).energy["dram_byte"] == 7e-12


def test_extends_cannot_be_overridden():
    with pytest.raises(ConfigError, match="^--set extends: extends cannot be overridden"):
        load_config(MINIMAL, ["extends=other.yaml"])


def test_override_can_change_kind():
    cfg = load_config_text(WIDGET.replace("kind: test-widget", "kind: gpu"), ["kind=test-widget"])
    assert isinstance(cfg, WidgetConfig)


def test_describe_other_kinds():
    rows = {r.path: r for r in describe("test-widget")}
    assert rows["caches"].type == "dict[str, section]"
    assert rows["caches.*.size"][1:3] == ("int", "B")
    assert rows["noc"].default == {"topology": "mesh", "dims": [4, 4]}
    assert rows["noc.topology"].type == "'mesh' | 'ring'"
    assert rows["turbo"].type == "float | None" and rows["turbo"].default is None
    assert rows["latencies"].type == "tuple[float, ...]" and rows["latencies"].default == []
