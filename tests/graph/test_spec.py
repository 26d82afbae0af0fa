"""Workload specs are parsed as literals, never evaluated; errors are UserErrors."""
import keyword

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archsim.errors import WorkloadError
from archsim.graph import build_workload, format_spec, parse_spec, workloads

literals = st.one_of(st.integers(-10**9, 10**9), st.booleans(), st.text("abc_-'\" ", max_size=8),
                     st.floats(allow_nan=False, allow_infinity=False), st.none())


# parameter names are Python parameter names, so never keywords such as `if`
names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: not keyword.iskeyword(k))


@given(st.dictionaries(names, literals, max_size=5))
def test_format_then_parse_round_trips(kwargs):
    assert parse_spec(format_spec("llama3-8b", kwargs)) == ("llama3-8b", kwargs)


def test_bare_name_and_hyphenated_names():
    assert parse_spec("bert-base") == ("bert-base", {})
    assert parse_spec(" bert-base(batch=8, seq=128) ") == ("bert-base", {"batch": 8, "seq": 128})


@pytest.mark.parametrize("bad", [
    "gemm(M=__import__('os').system('true'))",   # a call, not a literal
    "gemm(4096)",                                 # positional
    "gemm(M=1,",                                  # syntax
    "gemm(**{'M': 1})",
    "9gemm(M=1)",
    "",
])
def test_malicious_or_malformed_specs_are_rejected(bad):
    with pytest.raises(WorkloadError):
        parse_spec(bad)


def test_unknown_workload_and_parameter_suggest_names():
    with pytest.raises(WorkloadError, match="did you mean gemm"):
        build_workload("gemn(M=1, N=1, K=1)")
    with pytest.raises(WorkloadError, match="did you mean 'K'"):
        build_workload("gemm(M=1, N=1, KK=1)")
    with pytest.raises(WorkloadError, match="missing parameter"):
        build_workload("gemm(M=1, N=1)")
    with pytest.raises(WorkloadError, match="unknown dtype"):
        build_workload("gemm(M=1, N=1, K=1, dtype='bf17')")


def test_every_op_kind_workload_builds():
    calib = {"gemm": "M=64, N=64, K=64", "add": "n=1024", "mul": "n=1024", "gelu": "n=1024",
             "relu": "n=1024", "mul_add": "n=1024", "elementwise": "n=1024",
             "softmax": "rows=4, cols=32", "layernorm": "rows=4, cols=32",
             "reduce": "rows=4, cols=32", "attention": "B=1, H=2, S=16, D=8",
             "conv2d": "N=1, C=8, K=8, H=8, W=8, R=3", "gather": "table_rows=10, dim=4, n=3",
             "scatter_add": "table_rows=10, dim=4, n=3", "copy": "n=10",
             "transpose": "rows=4, cols=5", "pool": "N=1, C=4, H=8, W=8"}
    reg = workloads()
    for name, args in calib.items():
        assert name in reg
        g = build_workload(f"{name}({args})")
        assert len(g) >= 1 and g.bytes > 0


@pytest.mark.parametrize("spec, message", [
    ("add(n=1.5)", r"parameter n expects int, found 1\.5"),
    ("add(n=True)", "parameter n expects int, found True"),
    ("gemm(M=0, N=2, K=2)", "every dimension must be positive"),
    ("gemm(M=-1, N=2, K=2)", r"parameter M must be in 0 \.\. \d+, found -1"),
])
def test_bad_dimensions_are_rejected_not_truncated(spec, message):
    with pytest.raises(WorkloadError, match=message):
        build_workload(spec)
