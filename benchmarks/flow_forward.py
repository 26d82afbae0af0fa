"""Flow-sculpting forward model (physics-shaped surrogate, not Navier–Stokes): pillar maps,
property checks and speed of sequence composition.

Run: python benchmarks/flow_forward.py  -> benchmarks/plots/flow_pillars.png, flow_sequences.png
"""
import os
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import solvers.microfluidics as mf  # noqa: E402

PLOTS = os.path.join(os.path.dirname(__file__), "plots")


def main():
    grid = mf.Grid()
    t0 = time.time()
    lib = mf.PillarLibrary(grid=grid)
    t_lib = time.time() - t0
    inlet = mf.inlet_stream(grid)
    print(f"grid {grid.height}x{grid.width} (aspect {grid.aspect:g}:1), library "
          f"{len(lib)} pillars ({len(lib.positions)} positions x {len(lib.diameters)} diameters), "
          f"built in {t_lib:.2f} s ({1e3 * t_lib / len(lib):.0f} ms per map)")
    perms = all(np.array_equal(np.sort(G), np.arange(grid.n)) for G in lib.maps)
    sym = all(np.array_equal(np.divmod(G.reshape(grid.height, grid.width), grid.width)[0][::-1],
                             grid.height - 1 - np.divmod(G.reshape(grid.height, grid.width),
                                                         grid.width)[0]) for G in lib.maps)
    ident = all(np.array_equal(mf.pillar_map(p, 0.0, grid), np.arange(grid.n))
                for p in lib.pillars)
    moved = np.mean([np.mean(G != np.arange(grid.n)) for G in lib.maps])
    print(f"all maps permutations (area exact): {perms}; top-bottom symmetric: {sym}; "
          f"identity at zero inertia: {ident}; mean fraction of pixels moved per map: {moved:.3f}")
    rng = np.random.default_rng(0)
    seqs = rng.integers(0, len(lib), size=(1000, 10))
    t0 = time.time()
    G = lib.sequence_maps_batch(seqs)
    outs = inlet.ravel()[G]
    dt = time.time() - t0
    area_err = np.abs(outs.sum(1) - inlet.sum()).max()
    print(f"1000 sequences of 10 pillars precomposed + gathered in {dt * 1e3:.1f} ms "
          f"({dt / 1000 * 1e6:.1f} us per outlet); max stream-area change {area_err:g} pixels")
    for k in (0.25, 0.5, 1.0, 1.5):
        G1 = mf.pillar_map(mf.Pillar(0.0, 0.75), k, grid)
        print(f"  inertia strength {k:g} (Re ~ {1 + k * 39:.0f} in the surrogate's scale): "
              f"pixels moved by pillar(0, 0.75) = {np.mean(G1 != np.arange(grid.n)):.3f}")

    fig, ax = plt.subplots(len(lib.diameters), len(lib.positions), figsize=(16, 5))
    for i, p in enumerate(lib.pillars):
        a = ax.ravel()[i]
        a.imshow(mf.apply_map(inlet, lib.maps[i]), cmap="gray_r", interpolation="nearest")
        a.set_title(f"pos {p.pos:+.1f} D {p.diam:g}", fontsize=7)
        a.axis("off")
    fig.suptitle("Single-pillar deformation of a centred inlet stream (surrogate maps)")
    fig.savefig(os.path.join(PLOTS, "flow_pillars.png"), dpi=90)
    fig, ax = plt.subplots(3, 5, figsize=(15, 5))
    for row in range(3):
        seq = rng.integers(0, len(lib), size=12)
        for j, L in enumerate((0, 2, 4, 8, 12)):
            a = ax[row, j]
            a.imshow(lib.sculpt(inlet, seq[:L]), cmap="gray_r", interpolation="nearest")
            a.set_title(f"after {L} pillars", fontsize=8)
            a.axis("off")
    fig.suptitle("Random pillar sequences (composed by pull-back)")
    fig.savefig(os.path.join(PLOTS, "flow_sequences.png"), dpi=90)


if __name__ == "__main__":
    main()
