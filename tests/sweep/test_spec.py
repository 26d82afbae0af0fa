"""Sweep files: expansion (cartesian, zipped, ranges) and errors that name file, line and key."""
import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.cli import main
from archsim.errors import ConfigError
from archsim.sweep import load_sweep, plan


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def test_cartesian_times_zip_in_file_order(tmp_path):
    f = write(tmp_path, """
        machines: [h200]
        workloads: ["gemm(M=64, N=64, K=64)", "add(n=1024)"]
        seeds: [0, 1]
        grid:
          l2.size: [20 MiB, 40 MiB, 60 MiB]
          sm.count: [66, 132]
        zip:
          - {clocks.boost: [1.5 GHz, 1.98 GHz], power.cap: [500 W, 700 W]}
        """)
    spec = load_sweep(f)
    assert len(spec.points) == 2 * 2 * 3 * 2 * 2
    first, last = spec.points[0], spec.points[-1]
    assert first.workload == "gemm(M=64, N=64, K=64)" and first.seed == 0
    assert dict(first.overrides) == {"l2.size": "20 MiB", "sm.count": 66, "clocks.boost": "1.5 GHz",
                                     "power.cap": "500 W"}
    assert dict(last.overrides) == {"l2.size": "60 MiB", "sm.count": 132, "clocks.boost": "1.98 GHz",
                                    "power.cap": "700 W"}
    # zipped keys always move together
    assert {(dict(p.overrides)["clocks.boost"], dict(p.overrides)["power.cap"]) for p in spec.points} \
        == {("1.5 GHz", "500 W"), ("1.98 GHz", "700 W")}
    assert spec.db == str(tmp_path.resolve() / "s.db")


def test_ranges_keep_units_and_integers(tmp_path):
    f = write(tmp_path, """
        machines: [h200]
        workloads: [add(n=1024)]
        grid:
          hbm.bandwidth: {from: 2 TB/s, to: 6 TB/s, num: 5}
          sm.count: {from: 33, to: 132, step: 33}
          l2.size: {from: 10 MiB, to: 80 MiB, factor: 2}
        """)
    spec = load_sweep(f)
    vals = {k: sorted({dict(p.overrides)[k] for p in spec.points}, key=str) for k in
            ("hbm.bandwidth", "sm.count", "l2.size")}
    assert vals["hbm.bandwidth"] == ["2 TB/s", "3 TB/s", "4 TB/s", "5 TB/s", "6 TB/s"]
    assert sorted(vals["sm.count"]) == [33, 66, 99, 132]
    assert sorted(vals["l2.size"], key=lambda s: float(s.split()[0])) == \
        ["10 MiB", "20 MiB", "40 MiB", "80 MiB"]
    assert len(spec.points) == 5 * 4 * 4


@settings(max_examples=25)
@given(sizes=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       zipped=st.lists(st.integers(1, 3), min_size=0, max_size=2),
       n_wl=st.integers(1, 2))
def test_point_count_is_the_product_and_points_are_distinct(tmp_path_factory, sizes, zipped, n_wl):
    tmp = tmp_path_factory.mktemp("h")
    grid = "".join(f"  k{i}.x: {list(range(n))}\n" for i, n in enumerate(sizes))
    zips = "".join(f"  - {{z{i}.a: {list(range(n))}, z{i}.b: {list(range(10, 10 + n))}}}\n"
                   for i, n in enumerate(zipped))
    text = ("machines: [h200]\nworkloads: " + str([f"add(n={2 ** (10 + i)})" for i in range(n_wl)])
            + "\n" + (f"grid:\n{grid}" if sizes else "") + (f"zip:\n{zips}" if zipped else ""))
    spec = load_sweep(write(tmp, text))
    assert len(spec.points) == n_wl * math.prod(sizes) * math.prod(zipped)
    assert len({(p.workload, p.overrides) for p in spec.points}) == len(spec.points)


BAD = [
    ("machines: [h200]\nworkloads: [add(n=8)]\ngird:\n  l2.size: [1 MiB]\n", 3, "gird",
     "did you mean 'grid'"),
    ("machines: [h200]\nworkloads: [add(n=8)]\nzip:\n  - {l2.size: [1 MiB, 2 MiB],\n     sm.count: [1]}\n",
     5, "zip[0].sm.count", "same length"),
    ("machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  sm.count: {from: 1, to: 9, stp: 2}\n", 4,
     "grid.sm.count.stp", "did you mean 'step'"),
    ("machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  hbm.bandwidth: {from: 1 TB/s, to: 2 GB/s, num: 3}\n",
     4, "grid.hbm.bandwidth.to", "same unit"),
    ("machines: [h200, no-such-gpu]\nworkloads: [add(n=8)]\n", 1, "machines[1]", "not found"),
    ("machines: [h200]\nworkloads:\n  - add(n=8)\n  - gemm(M=1, N=2, K=__import__('os'))\n", 4,
     "workloads[1]", "literal"),
    ("machines: [h200]\nworkloads: [add(n=8)]\nmodes: [inferense]\n", 3, "modes[0]",
     "did you mean 'inference'"),
    ("machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  l2.size: []\n", 4, "grid.l2.size", "non-empty"),
    ("workloads: [add(n=8)]\n", 1, None, "needs 'machines'"),
]


@pytest.mark.parametrize("text,line,key,msg", BAD, ids=[b[3][:20] for b in BAD])
def test_bad_sweep_files_name_line_and_key(tmp_path, text, line, key, msg):
    f = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_sweep(f)
    err = ei.value
    assert err.file == str(f) and err.line == line and err.key == key, (str(err), err.line, err.key)
    assert msg in str(err)


@pytest.mark.parametrize("axis,value,key,msg", [
    ("l2.size", "[20 MiB, banana]", "grid.l2.size", "banana"),
    ("l2.sise", "[20 MiB]", "grid.l2.sise", "did you mean"),
])
def test_bad_override_values_are_reported_at_their_sweep_line(tmp_path, axis, value, key, msg):
    f = write(tmp_path, f"machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  sm.count: [66]\n"
                        f"  {axis}: {value}\n")
    spec = load_sweep(f)
    with pytest.raises(ConfigError) as ei:
        plan(spec, None)
    assert ei.value.file == str(f) and ei.value.line == 5 and ei.value.key == key, str(ei.value)
    assert msg in str(ei.value)


def test_unknown_workload_fails_before_running(tmp_path):
    spec = load_sweep(write(tmp_path, "machines: [h200]\nworkloads: [bert-bse(layers=1)]\n"))
    with pytest.raises(ConfigError, match="did you mean bert-base"):
        plan(spec, None)


def test_cli_bad_sweep_exits_2_with_one_line(tmp_path, capsys):
    f = write(tmp_path, "machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  l2.size: [banana]\n")
    assert main(["sweep", str(f), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"archsim: error: {f}:4: grid.l2.size:"), err


def test_dry_run_lists_points_and_marks_twins(tmp_path, capsys):
    # sm.count 132 is the h200 file's own value: the point resolves to the same config as no override
    f = write(tmp_path, "machines: [h200]\nworkloads: [add(n=8)]\nzip:\n"
                        "  - {sm.count: [132, 66], l2.size: [60 MiB, 60 MiB]}\n")
    assert main(["sweep", str(f), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 points, 2 distinct, 0 already in" in out and "to run" in out
    f2 = write(tmp_path, "machines: [h200]\nworkloads: [add(n=8)]\ngrid:\n  sm.count: [132]\n"
                         "set:\n  l2.size: 60 MiB\n", "t.yaml")
    spec = load_sweep(f2)
    bare = load_sweep(write(tmp_path, "machines: [h200]\nworkloads: [add(n=8)]\n", "u.yaml"))
    assert plan(spec, None).jobs[0].key == plan(bare, None).jobs[0].key
