"""HTML reports: Pareto fronts, pages for a run and a sweep, and the pages rendered in headless
Chromium (the default run's report and a sweep's): the screenshot is not blank and every
figure decoded."""
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.html import run_markdown, run_page, sweep_page
from analytics.pareto import dominates, pareto_front
from archsim.cli import main

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=25),
       st.integers(2, 3))
def test_pareto_front_equals_the_pairwise_definition(pts, dims):
    pts = [p if dims == 2 else p + (p[0] * p[1] % 5,) for p in pts]
    brute = [i for i, p in enumerate(pts) if not any(dominates(q, p) for q in pts)]
    assert pareto_front(pts) == brute


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def chromium(page: Path, tmp: Path) -> tuple[np.ndarray, str]:
    """Render `page` in headless Chromium: (screenshot pixels, the DOM after load)."""
    png = tmp / (page.stem + ".png")
    profile = tmp / f"profile-{page.stem}"
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                        f"--user-data-dir={profile}",
                        "--window-size=1280,2400", f"--screenshot={png}", "--dump-dom",
                        page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and png.exists(), p.stderr[-2000:]
    import matplotlib.image
    return matplotlib.image.imread(png), p.stdout


def check_rendered(page: Path, tmp: Path, n_figures: int) -> None:
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch
    imgs = images(html)
    assert len(imgs) == n_figures and all(b[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    if CHROMIUM is None:
        pytest.skip("Debian package 'chromium' is not installed: the page was checked, "
                    "not rendered (apt-get install chromium)")
    pixels, dom = chromium(page, tmp)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-figures="{n_figures}"' in body, body
    assert f'data-figures-loaded="{n_figures}"' in body, body
    rgb = pixels[..., :3]
    not_white = (rgb < 0.95).any(axis=-1).mean()
    assert not_white > 0.03 and rgb.std() > 0.05, (not_white, rgb.std())


def test_default_run_report_renders(tmp_path):
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), "-q"]) == 0  # the README's default: BERT-base on H200
    assert main(["report", str(run)]) == 0
    rep = json.loads((run / "report.json").read_text())
    md = (run / "report.summary.md").read_text()
    assert rep["workload"] in md and f"{100 * rep['l2']['hit_rate']:.1f}%" in md
    for comp, joules in rep["energy"]["by_component"].items():
        assert f"| {comp} | {joules:.4g} |" in md
    check_rendered(run / "report.html", tmp_path, 4)


SWEEP = """\
name: html-test
machines: [h200]
workloads: ["gemm(M=1024, N=1024, K=1024)", "layernorm(rows=4096, cols=1024)"]
grid:
  hbm.bandwidth: [2 TB/s, 4 TB/s]
  sm.count: [33, 132]
"""


def test_sweep_report_renders_with_pareto_fronts(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SWEEP)
    assert main(["sweep", str(f), "--workers", "0", "-q"]) == 0
    assert main(["report", str(tmp_path / "s.db"), "--out", str(tmp_path / "out")]) == 0
    page = tmp_path / "out" / "s.html"
    md = (tmp_path / "out" / "s.md").read_text()
    assert "8 points: 8 ok, 0 failed" in md and "hbm.bandwidth" in md
    # the fastest point of each workload is on its front; with 132 SMs and 4 TB/s it is fastest
    assert md.count("sm.count=132") >= 2
    check_rendered(page, tmp_path, 3)


def test_pages_show_report_values_and_escape_text():
    rep = {"schema": "archsim.report/1", "workload": "<b>w</b>", "machine": "m", "mode": "inference",
           "exec_mode": "bsp", "time_s": 2e-3, "cycles": 10, "energy_j": 0.5, "avg_power_w": 250,
           "dram_read_bytes": 3e6, "dram_write_bytes": 1e6, "l2": {"hit_rate": 0.25},
           "energy": {"by_component": {"dram": 0.3, "sm": 0.2}, "by_action": {"x": 0.5}},
           "ops": [{"name": "a", "kind": "gemm", "start_s": 0, "time_s": 1e-3, "flops": 1e9,
                    "dram_read_bytes": 1e6, "dram_write_bytes": 0, "l2_hit_bytes": 0, "energy_j": 0.1},
                   {"name": "b", "kind": "add", "start_s": 1e-3, "time_s": 1e-3, "flops": 0,
                    "dram_read_bytes": 2e6, "dram_write_bytes": 1e6, "l2_hit_bytes": 0, "energy_j": 0.1}],
           "config": {}}
    html = run_page(rep)
    assert "<b>w</b>" not in html and "&lt;b&gt;w&lt;/b&gt;" in html
    assert "60.0%" in html and "25.0%" in html  # dram's share of energy, the L2 hit rate
    assert len(images(html)) == 4
    assert "| add | 2.000 | 1.000 | 0.000 |" in run_markdown(rep)
    recs = [{"key": f"{i:064x}", "status": "ok", "wall_s": 0.1, "params": {"x": i},
             "values": {"x": float(i)}, "report": dict(rep, time_s=1.0 + i, energy_j=3.0 - i)}
            for i in range(3)]
    recs.append({"key": "f" * 64, "status": "failed", "wall_s": 0.0, "params": {"x": 9},
                 "values": {}, "error": "ValueError: <boom>", "report": None})
    page = sweep_page(recs)
    assert "4 points: 3 ok" in page and "&lt;boom&gt;" in page and len(images(page)) == 3
