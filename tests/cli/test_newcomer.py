"""Issue 16, item 7: small things a newcomer hits, each pinned by a test."""
import os
import re
import stat
from pathlib import Path

import pytest

from archsim.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_validate_a_repo_relative_path_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                       # not the repository root
    assert main(["validate", "hwconfigs/h200.yaml"]) == 0
    assert "ok" in capsys.readouterr().out


def test_debug_is_accepted_after_the_subcommand(capsys):
    assert main(["validate", "h200", "--debug"]) == 0
    assert main(["run", "--workload", "add(n=1024)", "-q", "--debug"]) == 0


def test_list_workloads_fits_100_columns(capsys):
    assert main(["list", "workloads"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 20 and max(len(ln) for ln in lines) <= 100


def test_readme_compare_example_shows_how_a_and_b_are_made():
    text = (REPO / "README.md").read_text()
    make = text.index("--out a/")
    assert make < text.index("--out b/") < text.index("compare a/report.json b/report.json")


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_reports_are_written_with_the_users_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert main(["run", "--workload", "add(n=1024)", "-q", "--out", str(tmp_path / "r")]) == 0
    finally:
        os.umask(old)
    for f in ("report.json", "report.md"):
        assert stat.S_IMODE((tmp_path / "r" / f).stat().st_mode) == mode


def test_engine_option_and_fallback_warning_state_the_measured_cost(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--engine {auto,cython,python}" in help_text
    assert re.search(r"15-22x slower", help_text)    # benchmarks/RESULTS.md, "Engine fallback"
    src = (REPO / "archsim" / "engine" / "__init__.py").read_text()
    assert "15-22x slower" in src and "about 3" not in src


def test_trace_help_says_it_runs_the_named_function(capsys):
    with pytest.raises(SystemExit):
        main(["trace", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "runs FUNCTION" in out and "really executes" in out
