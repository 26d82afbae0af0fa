"""End-to-end CLI: exit codes, reports written atomically and deterministically."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archsim.cli import main

REPO = Path(__file__).resolve().parents[2]
H200 = REPO / "hwconfigs" / "h200.yaml"
BAD = REPO / "tests" / "config" / "bad"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_help_on_every_command():
    for cmd in ([], ["run"], ["validate"], ["list"], ["trace"]):
        p = run_cli(*cmd, "--help")
        assert p.returncode == 0 and "usage" in p.stdout


def test_bad_workload_spec_exits_2_with_one_line(capsys):
    assert main(["run", "--workload", "gemm(M=1, N=1, K=__import__('os'))", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("archsim: error:") and "literal" in err[0]


def test_missing_hw_file_exits_2(capsys):
    assert main(["run", "--hw", "no/such/machine.yaml", "-q"]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("bad", sorted(BAD.glob("*.yaml")) if BAD.exists() else [],
                         ids=lambda p: p.name)
def test_every_malformed_config_exits_2_naming_the_file(bad):
    sets = [line[len("# set: "):].strip() for line in bad.read_text().splitlines()
            if line.startswith("# set: ")]
    p = run_cli("validate", str(bad), *[a for kv in sets for a in ("--set", kv)])
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip()
    assert "Traceback" not in err
    assert all(line.startswith("archsim: error: ") for line in err.splitlines())
    assert bad.name in err.splitlines()[0] or "--set" in err.splitlines()[0]


def test_at_least_fifteen_malformed_configs_are_tested():
    assert len(list(BAD.glob("*.yaml"))) >= 15


def test_validate_shipped_machines():
    for name in ("h200", "h100", "a100"):
        p = run_cli("validate", str(REPO / "hwconfigs" / f"{name}.yaml"))
        assert p.returncode == 0, p.stderr
        assert "ok" in p.stdout


def test_run_writes_identical_reports_apart_from_simulator_speed(tmp_path):
    spec = "gemm(M=1024, N=1024, K=1024, dtype='bf16')"
    reports = []
    for d in ("a", "b"):
        assert main(["run", "--hw", str(H200), "--workload", spec, "--out", str(tmp_path / d),
                     "-q"]) == 0
        rep = json.loads((tmp_path / d / "report.json").read_text())
        assert (tmp_path / d / "report.md").read_text().startswith("# archsim report")
        rep.pop("simulator")
        reports.append(rep)
    assert reports[0] == reports[1]
    r = reports[0]
    for key in ("time_s", "cycles", "energy_j", "dram_read_bytes", "dram_write_bytes"):
        assert key in r and r[key] >= 0
    assert r["time_s"] > 0 and r["energy_j"] > 0
    assert r["flops"] == 2 * 1024 ** 3
    assert r["config"]["name"]
    assert not list(tmp_path.glob("*/*.tmp"))


def test_set_override_changes_the_result(tmp_path):
    spec = "copy(n=67108864, dtype='fp32')"
    assert main(["run", "--hw", str(H200), "-w", spec, "--out", str(tmp_path / "x"), "-q"]) == 0
    assert main(["run", "--hw", str(H200), "-w", spec, "--out", str(tmp_path / "y"), "-q",
                 "--set", "hbm.bandwidth=1TB/s"]) == 0
    fast = json.loads((tmp_path / "x" / "report.json").read_text())
    slow = json.loads((tmp_path / "y" / "report.json").read_text())
    assert slow["time_s"] > 1.5 * fast["time_s"]


def test_bad_override_exits_2(capsys):
    assert main(["run", "--hw", str(H200), "-w", "add(n=1024)", "-q",
                 "--set", "l2.sise=80MiB"]) == 2
    assert "l2.sise" in capsys.readouterr().err


def test_list_commands():
    for what in ("workloads", "machines", "ops", "params"):
        p = run_cli("list", what)
        assert p.returncode == 0, p.stderr
        assert len(p.stdout.splitlines()) > 3


def test_unwritable_out_dir_and_bad_trace_arguments_exit_2(capsys):
    assert main(["run", "-w", "add(n=1024)", "-q", "--out", "/proc/archsim-cannot-write"]) == 2
    assert "cannot write the report" in capsys.readouterr().err
    assert main(["trace", "workloads.science:cg_problem", "n=abc"]) == 2
    assert "trace arguments" in capsys.readouterr().err
