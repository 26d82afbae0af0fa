"""128x128 image at sampling ratio 0.2: PSNR per iteration of D-AMP per divergence estimator.

Operator: subsampled DCT with random signs (matrix-free).  Denoisers: Haar-wavelet soft
thresholding with cycle spinning (exact divergence available) and, if scikit-image is
installed, Chambolle TV (no closed form: BB-MC or the no-extra-call estimator).
"""
from __future__ import annotations

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np

from cs_common import md_table, savefig, seed_rows
from solvers.cs import (
    ExactDivergence,
    HaarWaveletThreshold,
    MonteCarloDivergence,
    SkimageTV,
    amp,
    measure,
    noise_var_for_snr,
    skimage_available,
    vamp,
)
from solvers.cs.operators import SubsampledDCT
from solvers.cs.problems import phantom, test_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", choices=["auto", "phantom"], default="auto")
    ap.add_argument("--ratio", type=float, default=0.2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--snr", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=0, help="first seed (operator signs, rows, noise)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds drawn: seed .. seed+S-1")
    args = ap.parse_args()
    img, source = (phantom(128), "generated phantom") if args.image == "phantom" else test_image(128)
    x = img.ravel()
    n = x.size
    m = int(round(args.ratio * n))
    per_seed, curves = [], None
    for seed in range(args.seed, args.seed + args.seeds):
        rows, c = one_seed(args, x, m, seed)
        per_seed.append(rows)
        curves = curves or c                         # the plot: the first seed
    rows = seed_rows(per_seed, 2)
    print(f"image: {source}, 128x128, ratio {args.ratio}, M={m}, SNR {args.snr} dB, mean ± std over "
          f"seeds {args.seed}-{args.seed + args.seeds - 1}")
    print(md_table(["denoiser", "divergence (D-AMP)", "PSNR it5", "PSNR it10", f"PSNR it{args.iters}",
                    "best PSNR", "denoiser calls", "A/A^T products", "CPU s"], rows))
    denoisers = sorted({d for d, _ in curves}, key=lambda d: d != "haar tau=1.5")
    fig, axes = plt.subplots(1, len(denoisers), figsize=(7 * len(denoisers), 4), squeeze=False)
    for ax, dname in zip(axes[0], denoisers):
        for (dn, en), c in curves.items():
            if dn == dname:
                ax.plot(np.arange(1, len(c) + 1), c, label=en)
        ax.set_title(f"{dname}: {source}, ratio {args.ratio}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("PSNR (dB)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    tag = "phantom" if "phantom" in source else "camera"
    print(f"plot: {savefig(fig, f'cs_image_{tag}.png')}")


def one_seed(args, x, m, seed):
    n = x.size
    rng = np.random.default_rng(seed)
    op = SubsampledDCT.random(m, n, rng)
    p = measure(op, x, noise_var_for_snr(op, float(np.mean(x**2)), args.snr), rng)
    estimators = {
        "exact": ExactDivergence(),
        "BB-MC gaussian, eps=1e-3 max abs(r)": MonteCarloDivergence("gaussian", "max", 1e-3, 1),
        "BB-MC rademacher, eps=1e-3 sigma": MonteCarloDivergence("rademacher", "sigma", 1e-3, 1),
    }
    denoisers = {"haar tau=1.5": HaarWaveletThreshold(128, tau=1.5, levels=4, shifts=4)}
    if skimage_available():
        denoisers["skimage TV w=1.0 sigma"] = SkimageTV(128, weight_per_sigma=1.0)
    else:
        print("scikit-image not installed: TV rows skipped")
    rows, curves = [], {}
    for dname, den in denoisers.items():
        for ename, est in estimators.items():
            if ename == "exact" and not den.has_exact_divergence:
                continue
            t0 = time.process_time()
            h = amp(p.y, op, den, args.iters, divergence=est, noise_var=p.noise_var,
                    rng=np.random.default_rng(1), x_true=x, peak=1.0).history
            cpu = time.process_time() - t0
            curves[(dname, ename)] = h.psnr_db
            rows.append([dname, ename, h.psnr_db[4], h.psnr_db[9], h.psnr_db[-1], float(max(h.psnr_db)),
                         h.denoiser_calls, h.operator_products, float(cpu)])
    h = vamp(p.y, op, denoisers["haar tau=1.5"], args.iters, noise_var=p.noise_var, x_true=x, peak=1.0).history
    rows.append(["haar tau=1.5", "VAMP, exact", h.psnr_db[4], h.psnr_db[9], h.psnr_db[-1],
                 float(max(h.psnr_db)), h.denoiser_calls, h.operator_products, "-"])
    curves[("haar tau=1.5", "VAMP exact")] = h.psnr_db
    return rows, curves


if __name__ == "__main__":
    main()
