"""Flow-sculpting forward model: per-pillar deformation maps of a channel cross-section.

A PHYSICS-SHAPED SURROGATE, NOT NAVIER–STOKES RESULTS. Each pillar's net deformation of the
cross-section is the time-1 flow of a divergence-free secondary-flow field built from a stream
function; its strength stands for the inertia (Re) of the real flow. The surrogate keeps the
properties a forward model must respect (arXiv 1605.05368): no deformation without inertia,
area preservation (incompressibility), associative composition, top–bottom symmetry for
full-height pillars in a symmetric channel, and independent pillars composed in sequence.
Its shapes are not quantitatively those of real pillars.

Geometry: cross-section y in [-A, A] (lateral, A = aspect ratio), z in [-1, 1] (height),
pixel grid ``height x width`` (default 32 x 64, aspect 2:1). Pillar: lateral centre ``pos``
and diameter ``diam``, both in units of the channel width (pos in [-0.5, 0.5]).

Stream function (odd in z, zero on every wall and on the mid-plane z = 0)::

    psi(y, z) = k * a0 * (D/0.5w)^2 * g((y - c)/l) * cos(pi y / (2A)) * sin(pi z)
    g(u) = u exp(-u^2/2),    l = 0.3 D + 0.1 (lateral extent, physical units), a0 = 0.12

Velocity (u_y, u_z) = (d psi/dz, -d psi/dy) is exactly divergence-free; four counter-rotating
vortices (two per half-height) sit beside the pillar, as in the inertial secondary flow behind a
pillar. The inertia strength ``k`` plays the role of Re (k = 0: Stokes flow, no net
deformation). The map is integrated backward in time with RK4 (pull-back: where each
destination pixel centre came from) and then snapped to the nearest pixel *permutation* by a
linear assignment (scipy) on the top half-grid and mirrored to the bottom half, so:

* area is preserved exactly (a permutation moves pixels, never creates or destroys them);
* k = 0 gives the identity permutation;
* the map is exactly top–bottom symmetric (the mid-plane is a streamline: no flux crosses it).

A map is a gather index ``G`` (destination pixel i takes source pixel G[i]); a sequence of
pillars p1..pn composes by pull-back into one gather index G = P1[P2[...[Pn]]], so an outlet
image is one gather ``inlet.ravel()[G]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import linear_sum_assignment

DEFAULT_SHAPE = (32, 64)
_AMP = 0.12    # stream-function scale: at strength 1 a D = w/2 pillar moves fluid ~1/4 height


@dataclass(frozen=True)
class Pillar:
    pos: float        # lateral centre / channel width, in [-0.5, 0.5]
    diam: float       # diameter / channel width


@dataclass(frozen=True)
class Grid:
    height: int = DEFAULT_SHAPE[0]
    width: int = DEFAULT_SHAPE[1]

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def n(self) -> int:
        return self.height * self.width

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Physical (y, z) of pixel centres, arrays of shape (height, width); row 0 is the top."""
        A = self.aspect
        y = -A + (np.arange(self.width) + 0.5) * (2 * A / self.width)
        z = 1.0 - (np.arange(self.height) + 0.5) * (2.0 / self.height)
        return np.meshgrid(y, z)


def _velocity(y, z, pillar: Pillar, strength: float, A: float):
    """(u_y, u_z) = (dpsi/dz, -dpsi/dy) of the stream function in the module docstring."""
    c = pillar.pos * 2 * A
    D = pillar.diam * 2 * A
    ell = 0.3 * D + 0.1
    amp = strength * _AMP * (pillar.diam / 0.5) ** 2
    u = (y - c) / ell
    g = u * np.exp(-0.5 * u * u)
    dg = (1.0 - u * u) * np.exp(-0.5 * u * u) / ell
    w = np.cos(np.pi * y / (2 * A))
    dw = -np.pi / (2 * A) * np.sin(np.pi * y / (2 * A))
    sz = np.sin(np.pi * z)
    dsz = np.pi * np.cos(np.pi * z)
    uy = amp * g * w * dsz
    uz = -amp * (dg * w + g * dw) * sz
    return uy, uz


def flow_points(y, z, pillar: Pillar, strength: float, aspect: float, time: float = -1.0,
                n_sub: int = 64):
    """Advect points (y, z) through the pillar's secondary flow for ``time`` (RK4);
    time = -1 is the pull-back (where a point came from), +1 the forward map."""
    h = time / n_sub
    A = aspect
    for _ in range(n_sub):
        k1 = _velocity(y, z, pillar, strength, A)
        k2 = _velocity(y + 0.5 * h * k1[0], z + 0.5 * h * k1[1], pillar, strength, A)
        k3 = _velocity(y + 0.5 * h * k2[0], z + 0.5 * h * k2[1], pillar, strength, A)
        k4 = _velocity(y + h * k3[0], z + h * k3[1], pillar, strength, A)
        y = y + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        z = z + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return y, z


def continuous_pullback(grid: Grid, pillar: Pillar, strength: float, n_sub: int = 64):
    """Source positions (y, z) of every pixel centre under the pillar's map (RK4, backward)."""
    y, z = grid.centres()
    return flow_points(y, z, pillar, strength, grid.aspect, -1.0, n_sub)


def pillar_map(pillar: Pillar, strength: float = 1.0, grid: Grid = Grid()) -> np.ndarray:
    """Gather index (int64, length grid.n) of one pillar: a permutation of the pixels."""
    return _pillar_map_cached(pillar, float(strength), grid).copy()


@lru_cache(maxsize=4096)
def _pillar_map_cached(pillar: Pillar, strength: float, grid: Grid) -> np.ndarray:
    H, W = grid.height, grid.width
    if H % 2:
        raise ValueError("grid height must be even (mirror symmetry about the mid-plane)")
    if strength == 0.0:
        return np.arange(grid.n)
    ys, zs = continuous_pullback(grid, pillar, strength)
    half = H // 2
    # pixel coordinates (row, col) of the source positions, top half only
    col = (ys[:half] + grid.aspect) * (W / (2 * grid.aspect)) - 0.5
    row = (1.0 - zs[:half]) * (H / 2.0) - 0.5
    src = np.stack([row.ravel(), col.ravel()], axis=1)
    rr, cc = np.meshgrid(np.arange(half), np.arange(W), indexing="ij")
    cand = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(float)
    cost = ((src[:, None, :] - cand[None, :, :]) ** 2).sum(-1)
    dest, chosen = linear_sum_assignment(cost)
    top = np.empty(half * W, dtype=np.int64)
    top[dest] = chosen
    top_rc = np.stack(np.unravel_index(top, (half, W)), axis=1)
    G = np.empty((H, W), dtype=np.int64)
    G[:half] = (top_rc[:, 0] * W + top_rc[:, 1]).reshape(half, W)
    mirror_rows = (H - 1 - top_rc[:, 0]).reshape(half, W)[::-1]
    G[half:] = mirror_rows * W + top_rc[:, 1].reshape(half, W)[::-1]
    return G.ravel()


def compose(*maps: np.ndarray) -> np.ndarray:
    """Pull-back composition: pillar maps in flow order -> one gather index."""
    G = maps[0]
    for P in maps[1:]:
        G = G[P]
    return G


def apply_map(image: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Deform ``image`` (H, W) or a batch (B, H, W) by gather index G."""
    shape = image.shape
    flat = image.reshape(shape[:-2] + (-1,))
    return np.take(flat, G, axis=-1).reshape(shape)


@dataclass
class PillarLibrary:
    """The pillar set (positions x diameters) and its maps at one inertia strength."""
    positions: tuple = tuple(np.round(np.linspace(-0.4, 0.4, 9), 4))
    diameters: tuple = (0.375, 0.5, 0.625, 0.75)
    strength: float = 1.0
    grid: Grid = field(default_factory=Grid)

    def __post_init__(self):
        self.pillars = [Pillar(float(p), float(d)) for d in self.diameters for p in self.positions]
        self.maps = np.stack([pillar_map(p, self.strength, self.grid) for p in self.pillars])

    def __len__(self) -> int:
        return len(self.pillars)

    def sequence_map(self, seq) -> np.ndarray:
        """One gather index for a sequence of pillar indices (flow order)."""
        G = np.arange(self.grid.n)
        for i in seq:
            G = G[self.maps[i]]
        return G

    def sequence_maps_batch(self, seqs: np.ndarray) -> np.ndarray:
        """Gather indices (B, n) for a batch of equal-length sequences (B, L), vectorised."""
        seqs = np.asarray(seqs)
        G = np.broadcast_to(np.arange(self.grid.n), (seqs.shape[0], self.grid.n))
        for k in range(seqs.shape[1]):
            G = np.take_along_axis(G, self.maps[seqs[:, k]], axis=1)
        return G

    def sculpt(self, inlet: np.ndarray, seq) -> np.ndarray:
        return apply_map(inlet, self.sequence_map(seq))


def inlet_stream(grid: Grid = Grid(), lo: float = -0.15, hi: float = 0.15) -> np.ndarray:
    """Binary inlet image: a full-height co-flowing stream between lateral positions lo, hi
    (units of channel width, in [-0.5, 0.5])."""
    y, _ = grid.centres()
    yw = y / (2 * grid.aspect)
    return ((yw >= lo) & (yw <= hi)).astype(np.float64)


def inertia_strength(re: float, re_ref: float = 40.0, re_min: float = 1.0) -> float:
    """Surrogate inertia strength for a channel Reynolds number: 0 at or below ``re_min``
    (Stokes-like, reversible: no net deformation), growing linearly, 1 at ``re_ref``.
    A modelling choice of this surrogate, not a fit to simulations."""
    return max(0.0, (re - re_min) / (re_ref - re_min))


def stream_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of the stream (value 1) pixels: unlike the pixel match rate it
    ignores the shared background."""
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    inter = (a & b).sum(axis=(-2, -1))
    union = (a | b).sum(axis=(-2, -1))
    return inter / np.maximum(union, 1)


def pixel_match_rate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of pixels on which binary images agree (last two axes): 1 - mean |a - b|."""
    # "* 1.0" rather than np.asarray(..., float): works for bool inputs and traced arrays
    return 1.0 - np.mean(np.abs(a * 1.0 - b * 1.0), axis=(-2, -1))
