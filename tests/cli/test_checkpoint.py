"""`archsim run --checkpoint FILE --checkpoint-after N` and `archsim run --resume FILE`: a run
saved part-way and resumed in another process gives the report of the uninterrupted run."""
import json

import pytest

from archsim.cli import main


def _report(path):
    rep = json.loads((path / "report.json").read_text())
    rep.pop("simulator")     # wall time and events/s: differ between any two runs
    return rep


@pytest.mark.parametrize("spec,cut", [("gemm(M=4096,N=4096,K=4096)", 20),
                                      ("bert-base(batch=1,seq=128,layers=2)", 150)])
def test_resume_gives_the_uninterrupted_report(spec, cut, tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    assert main(["run", "-w", spec, "--checkpoint", str(ckpt), "--checkpoint-after", str(cut),
                 "--seed", "3"]) == 0
    assert "--resume" in capsys.readouterr().out and ckpt.exists()
    assert main(["run", "--resume", str(ckpt), "-q", "-o", str(tmp_path / "resumed")]) == 0
    assert main(["run", "-w", spec, "--seed", "3", "-q", "-o", str(tmp_path / "whole")]) == 0
    whole, resumed = _report(tmp_path / "whole"), _report(tmp_path / "resumed")
    assert whole["time_s"] > 0 and whole == resumed
    # byte for byte, once the simulator block (host timing) is set aside
    assert json.dumps(whole, sort_keys=True) == json.dumps(resumed, sort_keys=True)


def test_a_cut_after_the_end_just_finishes(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    assert main(["run", "-w", "add(n=65536)", "-q", "--checkpoint", str(ckpt),
                 "--checkpoint-after", "1000000", "-o", str(tmp_path / "out")]) == 0
    assert not ckpt.exists() and (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("argv,msg", [
    (["--checkpoint", "x.ckpt"], "go together"),
    (["--checkpoint-after", "5"], "go together"),
    (["--checkpoint", "x.ckpt", "--checkpoint-after", "0"], "at least 1"),
    (["--resume", "no/such.ckpt"], "cannot read"),
    (["--resume", "x.ckpt", "--checkpoint-after", "3"], "cannot save another"),
    (["--hw", "xeon-host", "--checkpoint", "x.ckpt", "--checkpoint-after", "3"],
     "not available"),
])
def test_bad_checkpoint_options_exit_2(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-q", *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.startswith("archsim: error:")


def test_a_file_that_is_no_checkpoint_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["run", "-q", "--resume", str(bad)]) == 2
    assert "not an archsim checkpoint" in capsys.readouterr().err
