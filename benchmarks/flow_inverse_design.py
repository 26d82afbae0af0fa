"""Inverse design of pillar sequences with the numpy CNN + stacked autoencoder, trained on
random sequences through the surrogate forward model, against random and greedy baselines.

Run: python benchmarks/flow_inverse_design.py [--sequences 3000] [--cnn-epochs 5] ...
  -> prints the numbers, writes benchmarks/plots/flow_inverse_design.json and .png (--out)
Over seeds (mean ± std): benchmarks/flow_inverse_design_seeds.py.
"""
import argparse
import json
import os
import time

import numpy as np  # noqa: E402

import solvers.microfluidics as mf  # noqa: E402
from solvers.microfluidics.inverse import (design, greedy_search, make_dataset,  # noqa: E402
                                           rebuild, train_cnn, train_sae)

PLOTS = os.path.join(os.path.dirname(__file__), "plots")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequences", type=int, default=3000)
    ap.add_argument("--max-len", type=int, default=6)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--test-len", type=int, default=4)
    ap.add_argument("--cnn-epochs", type=int, default=5)
    ap.add_argument("--sae-epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(PLOTS, "flow_inverse_design.json"),
                    help="where the JSON goes (the figure goes beside it, .png)")
    ap.add_argument("--no-figure", action="store_true",
                    help="skip the qualitative figure (it retrains two small models)")
    a = ap.parse_args()
    t0 = time.time()
    r = mf.run_inverse_design(n_train_sequences=a.sequences, max_len=a.max_len,
                              n_test=a.test, test_len=a.test_len, cnn_epochs=a.cnn_epochs,
                              sae_epochs=a.sae_epochs, seed=a.seed,
                              log=lambda m: print(f"  [{time.time() - t0:6.1f}s] {m}", flush=True))
    r["args"] = vars(a)
    print(json.dumps(r, indent=1))
    print("| method | pixel match rate | stream IoU | exact sequence |")
    print("|---|---|---|---|")
    for name in ("cnn_sae", "cnn_inverse", "greedy", "random"):
        print(f"| {name} | {r[f'pmr_{name}']:.4f} | {r[f'iou_{name}']:.4f} | "
              f"{r[f'exact_seq_{name}']:.3f} |")
    print(f"| inlet unchanged | {r['pmr_inlet_unchanged']:.4f} | "
          f"{r['iou_inlet_unchanged']:.4f} | - |")
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(r, fh, indent=1)
    os.replace(tmp, a.out)
    if a.no_figure:
        print(f"total {time.time() - t0:.1f} s")
        return

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # qualitative figure: a few held-out targets and their designs (small retrain-free example
    # would need the models; run_inverse_design does not return them, so retrain tiny ones)
    rng = np.random.default_rng(a.seed + 1)
    lib = mf.PillarLibrary()
    inlet = mf.inlet_stream(lib.grid)
    data = make_dataset(lib, inlet, 600, a.max_len, rng)
    cnn = train_cnn(data, rng, epochs=2, n_classes=len(lib))
    sae = train_sae(data, rng, epochs=2)
    tseq = rng.integers(0, len(lib), size=(4, a.test_len))
    targets = rebuild(lib, inlet, tseq)
    rows = {"target": targets,
            "CNN+SAE (small model)": rebuild(lib, inlet, design(targets, a.test_len, cnn, lib,
                                                                sae)),
            "greedy": rebuild(lib, inlet, greedy_search(targets, a.test_len, lib, inlet)),
            "random": rebuild(lib, inlet, rng.integers(0, len(lib), size=(4, a.test_len)))}
    fig, ax = plt.subplots(len(rows), 4, figsize=(12, 6))
    for i, (name, imgs) in enumerate(rows.items()):
        for j in range(4):
            ax[i, j].imshow(imgs[j], cmap="gray_r", interpolation="nearest")
            pmr = mf.pixel_match_rate(imgs[j], targets[j])
            ax[i, j].set_title(f"{name} PMR {pmr:.3f}", fontsize=7)
            ax[i, j].axis("off")
    fig.tight_layout()
    fig.savefig(os.path.splitext(a.out)[0] + ".png", dpi=90)
    print(f"total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
