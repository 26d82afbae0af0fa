"""Hostile and odd inputs get an answer or a clear UserError: never another exception (issue 16).

The same generators drive benchmarks/fuzz.py (10,000 CLI cases in child processes with a
deadline); here they run in-process on a few hundred cases: machine YAML, --set lists and
workload specs, checked up to (not through) simulation so the file stays quick, plus a handful
of full CLI runs. Seeds come from hypothesis (derandomized with CI=true).
"""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzgen
from archsim import cli
from archsim.config import load_config, load_config_text
from archsim.errors import UserError
from archsim.graph import build_workload
from archsim.graph.work import check_work

seeds = st.integers(0, 2**32 - 1)


def quick(n):
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
FAST_NAMES = [n for n in fuzzgen.WORKLOADS if n not in fuzzgen.TRACED]


@quick(100)
@given(seeds)
def test_generated_yaml_loads_or_raises_a_config_error(seed):
    text = fuzzgen.yaml_config(random.Random(seed))
    try:
        cfg = load_config_text(text, file=str(fuzzgen.H200.parent / "fuzz.yaml"))
    except UserError as e:
        assert str(e).strip(), "an error must say something"
    else:
        assert cfg.name


@quick(60)
@given(seeds, st.booleans())
def test_generated_set_lists_load_or_raise_a_config_error(seed, cpu):
    overrides = fuzzgen.set_list(random.Random(seed), cpu)
    hw = "xeon-host" if cpu else "h200"
    try:
        cfg = load_config(fuzzgen.ROOT / "hwconfigs" / f"{hw}.yaml", overrides)
    except UserError as e:
        assert str(e).strip()
    else:
        assert cfg.kind == ("cpu" if cpu else "gpu")


@quick(80)
@given(seeds)
def test_generated_workload_specs_build_or_raise_a_user_error(seed):
    spec = fuzzgen.workload_spec(random.Random(seed), FAST_NAMES)
    try:
        graph = build_workload(spec)
        check_work(graph, 5e11)
    except UserError as e:
        assert str(e).strip()
    else:
        assert len(graph) >= 1


@quick(8)
@given(seed=seeds)
def test_generated_cli_cases_exit_0_or_2(seed, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("fuzz")
    rng = random.Random(seed)
    kind, argv, files = fuzzgen.case(rng, tmp)
    if kind == "spec":  # keep this test quick: no traced solvers here (the benchmark runs them)
        argv[argv.index("-w") + 1] = fuzzgen.workload_spec(rng, FAST_NAMES)
    if "--max-work" in argv:  # seconds, not minutes, of simulation per case here
        argv[argv.index("--max-work") + 1] = "5e10"
    for name, text in files.items():
        (tmp / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc in (0, 2), err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["run", "-q", "--set", "l2.line=4GiB", "-w", "add(n=1000)"],
    ["run", "-q", "-w", "conv2d(N=1, C=64, K=64, H=56, W=56, R=34107)"],
    ["run", "-q", "-w", "attention(B=1, H=1, S=100000000000, D=64)"],
    ["run", "-q", "-w", "jacobi(n=96208)"],
    ["run", "-q", "-w", "vamp(ratio=307315)"],
    ["run", "-q", "-w", "gemm(M=10**30, N=64, K=64)"],
    ["run", "-q", "--set", "sm.tensor_flops_per_cycle.bf16=0", "-w", "gemm(M=64, N=64, K=64)"],
    ["run", "-q", "-w", "elementwise(n=10, arity=0)"],
    ["run", "-q", "-w", "gemm(M='64', N=64, K=64)"],
    ["run", "-q", "-w", "gemm(M=64, M=64, N=64, K=64)"],
    ["run", "-q", "-w", "conv2d(N=1, C=64, K=64, H=56, W=56, R=3, stride=0)"],
    ["run", "-q", "--set", "clocks.boost=1e-30 GHz", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "l2.size=1e30 B", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "launch.kernel_fixed=1e15 us", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "power.idle=800W", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "clocks.min=3GHz", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "l2.sector=256B", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "hbm.bandwidth=6TB/s", "-w", "add(n=1000)"],
    ["run", "-q", "--set", "name=a\x01b"],
    ["validate", "/dev/zero"],
    # fuzz seed 4749 (issue 16, second stage): a 977 GiB CPU L1 asked numpy for 122 GiB of
    # per-line state (MemoryError, exit 1); CPU cache sizes are now capped at 2 GiB
    ["run", "-q", "--hw", "xeon-host", "--set", "l1.size=977  GiB", "-w", "softmax(rows=64, cols=128)"],
    # the many-core chip's caches were unbounded (a 1e30 B LLC was accepted): same 2 GiB cap
    ["run", "-q", "--hw", "upcycle-2048", "--set", "llc.size=1e30 B"],
    ["run", "-q", "--hw", "upcycle-2048", "--set", "l1.size=4 GiB"],
])
def test_issue_16_inputs_exit_2_with_one_line(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("archsim: error: ")


@pytest.mark.parametrize("seed", ["-1", str(2**64), "x"])
def test_out_of_range_seed_is_an_argument_error(seed, capsys):
    with pytest.raises(SystemExit) as info:  # 2**64 overflowed a C long (fuzz seed 6653)
        cli.main(["run", "-q", "--seed", seed, "-w", "add(n=1000)"])
    assert info.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_alias_bomb_and_deep_nesting_are_refused_quickly(tmp_path):
    import time
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefghi":
        bomb += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    for text, what in ((bomb, "alias"), ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested")):
        t0 = time.perf_counter()
        with pytest.raises(UserError, match=what):
            load_config_text(text)
        assert time.perf_counter() - t0 < 5.0
