"""Measurement operators y = A x for compressed sensing.

Every operator is a ``LinearOperator``: ``matvec`` (A x), ``rmatvec`` (A^T z), ``shape`` (M, N),
``frobenius_sq`` (||A||_F^2) and, where cheap, ``singular_values`` (the M singular values of A,
i.e. sqrt of the eigenvalues of A A^T) and an explicit SVD (``svd``) used by exact VAMP.

All operators are normalised so that ||A||_F^2 = N (columns of unit norm on average); the SNR and
state-evolution formulas in this package assume it.

Construction may use scipy (Haar matrices, SVD); ``matvec``/``rmatvec`` use only ``np.*``
functions and array methods, so they run on arrays that implement NEP-13/18 (a tracer).
The fast DCT is written on top of ``np.fft`` (Makhoul's algorithm) for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SvdFactors:
    """A = U diag(s) V^T as four products (U: MxM orthogonal, V: NxM orthonormal columns)."""

    s: np.ndarray
    u: object  # z (M) -> U z
    ut: object  # z (M) -> U^T z
    v: object  # c (M) -> V c (N)
    vt: object  # x (N) -> V^T x (M)


class LinearOperator:
    """A, A^T and (optionally) the spectrum of an M x N measurement matrix."""

    shape: tuple[int, int]

    def matvec(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def rmatvec(self, z: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def singular_values(self) -> np.ndarray | None:
        """The M singular values (descending), or None when not cheaply known."""
        return None

    @property
    def frobenius_sq(self) -> float:
        s = self.singular_values
        return float(np.sum(s**2)) if s is not None else float(self.shape[1])

    @property
    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(U, s, Vt) with A = U diag(s) Vt[:M], U: MxM, Vt: MxN; None when not available."""
        return None

    def svd_factors(self) -> SvdFactors | None:
        """Fast SVD products for exact VAMP, or None."""
        return None

    def to_dense(self) -> np.ndarray:
        """Dense matrix, column by column (testing only)."""
        m, n = self.shape
        eye = np.eye(n)
        return np.stack([self.matvec(eye[i]) for i in range(n)], axis=1).reshape(m, n)


@dataclass(eq=False)
class DenseOperator(LinearOperator):
    """An explicit matrix; optionally with its thin SVD precomputed at construction."""

    matrix: np.ndarray
    _svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.shape = tuple(self.matrix.shape)

    def matvec(self, x):
        return self.matrix @ x

    def rmatvec(self, z):
        return self.matrix.T @ z

    @property
    def svd(self):
        if self._svd is None:
            import scipy.linalg

            u, s, vt = scipy.linalg.svd(self.matrix, full_matrices=False)
            self._svd = (u, s, vt)
        return self._svd

    @property
    def singular_values(self):
        return self.svd[1]

    @property
    def frobenius_sq(self):
        return float(np.sum(self.matrix**2))

    def svd_factors(self):
        u, s, vt = self.svd
        return SvdFactors(s=s, u=lambda z: u @ z, ut=lambda z: u.T @ z, v=lambda c: vt.T @ c,
                          vt=lambda x: vt @ x)

    def to_dense(self):
        return self.matrix


def gaussian_operator(m: int, n: int, rng: np.random.Generator) -> DenseOperator:
    """i.i.d. N(0, 1/M) entries (so E||A||_F^2 = N)."""
    return DenseOperator(rng.standard_normal((m, n)) / np.sqrt(m))


def haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed n x n orthogonal matrix (QR of a Gaussian with the sign fix)."""
    import scipy.linalg

    q, r = scipy.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def geometric_singular_values(m: int, n: int, condition_number: float) -> np.ndarray:
    """s_i = kappa^{-i/(M-1)}, i = 0..M-1, scaled so that sum s_i^2 = N."""
    if condition_number < 1:
        raise ValueError(f"condition number must be >= 1, got {condition_number}")
    if m == 1:
        s = np.ones(1)
    else:
        s = condition_number ** (-np.arange(m) / (m - 1))
    return s * np.sqrt(n / np.sum(s**2))


def orthogonally_invariant_operator(
    m: int, n: int, condition_number: float, rng: np.random.Generator
) -> DenseOperator:
    """A = U diag(s) V^T with Haar U (MxM), V (NxN) and geometric singular values of given kappa."""
    s = geometric_singular_values(m, n, condition_number)
    u = haar_orthogonal(m, rng)
    vt = haar_orthogonal(n, rng)[:m]
    return DenseOperator((u * s) @ vt, _svd=(u, s, vt))


# ----------------------------------------------------------------------------- fast transforms
def dct_ortho(x: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II of a 1-D array via one complex FFT (Makhoul 1980); plain numpy."""
    n = x.shape[-1]
    v = np.concatenate([x[..., ::2], x[..., 1::2][..., ::-1]], axis=-1)
    vf = np.fft.fft(v, axis=-1)
    k = np.arange(n)
    y = np.real(vf * np.exp(-1j * np.pi * k / (2 * n))) * np.sqrt(2.0 / n)
    scale = np.ones(n)
    scale[0] = 1.0 / np.sqrt(2.0)
    return y * scale


def idct_ortho(y: np.ndarray) -> np.ndarray:
    """Inverse of ``dct_ortho`` (orthonormal DCT-III); plain numpy."""
    n = y.shape[-1]
    k = np.arange(n)
    scale = np.ones(n)
    scale[0] = 1.0 / np.sqrt(2.0)
    c = y / (scale * np.sqrt(2.0 / n))  # back to the unnormalised Y_k = sum x_n cos(...)
    # V_k = c_k e^{i pi k / 2N} - i c_{N-k} e^{i pi k/2N}, with c_N = 0 (Makhoul's inverse).
    c_rev = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c[..., :0:-1]], axis=-1)
    vf = (c - 1j * c_rev) * np.exp(1j * np.pi * k / (2 * n))
    v = np.real(np.fft.ifft(vf, axis=-1))
    half = (n + 1) // 2
    x_even = v[..., :half]
    x_odd = v[..., half:][..., ::-1]
    out = np.stack([x_even[..., : n // 2], x_odd], axis=-1).reshape(y.shape[:-1] + (2 * (n // 2),))
    if n % 2:
        out = np.concatenate([out, x_even[..., -1:]], axis=-1)
    return out


@dataclass(eq=False)
class SubsampledDCT(LinearOperator):
    """A = sqrt(N/M) * S C D: random signs D, orthonormal DCT C, M random rows S.  O(N log N).

    Rows are orthogonal with squared norm N/M, so all M singular values equal sqrt(N/M).
    The random signs make the operator behave like a right-orthogonally-invariant matrix
    for message passing (they spread a sparse or smooth x over all DCT coefficients).
    """

    n: int
    m: int
    signs: np.ndarray
    rows: np.ndarray

    def __post_init__(self) -> None:
        self.shape = (self.m, self.n)
        self._scale = np.sqrt(self.n / self.m)
        self._slots = _slot_map(self.rows, self.n)

    @classmethod
    def random(cls, m: int, n: int, rng: np.random.Generator) -> "SubsampledDCT":
        signs = rng.choice(np.array([-1.0, 1.0]), size=n)
        rows = np.sort(rng.choice(n, size=m, replace=False))
        return cls(n=n, m=m, signs=signs, rows=rows)

    def matvec(self, x):
        return dct_ortho(x * self.signs)[self.rows] * self._scale

    def rmatvec(self, z):
        return idct_ortho(_scatter(z, self._slots)) * self.signs * self._scale

    @property
    def singular_values(self):
        return np.full(self.m, self._scale)

    def svd_factors(self):
        # U = I, s = sqrt(N/M), V^T = S C D.
        return SvdFactors(
            s=np.full(self.m, self._scale), u=lambda z: z, ut=lambda z: z,
            v=lambda c: idct_ortho(_scatter(c, self._slots)) * self.signs,
            vt=lambda x: dct_ortho(x * self.signs)[self.rows],
        )

    @property
    def frobenius_sq(self):
        return float(self.n)


def _slot_map(rows: np.ndarray, n: int) -> np.ndarray:
    """Index map for ``_scatter``: slot j of the output reads z[map[j]], or the zero at len(z)."""
    idx = np.full(n, len(rows))
    idx[rows] = np.arange(len(rows))  # setup on plain integer arrays, never on traced data
    return idx


def _scatter(z: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Embed z into a zero vector (the adjoint of row selection) as a gather: no in-place write."""
    return np.concatenate([z, np.zeros(1)])[slots]


@dataclass(eq=False)
class ConditionedDCT(LinearOperator):
    """Fast A = C_M diag(s) S C_N D with prescribed singular values s (any condition number).

    C_M diag(signs_M) plays the role of a Haar U, S C_N D of V^T (randomised DCT rows);
    A A^T = U diag(s^2) U^T is not diagonal, so conjugate gradients see a genuine system.
    Matrix-free, O(N log N) per product: the large-N operator for CG-VAMP.
    """

    n: int
    m: int
    s: np.ndarray
    signs_n: np.ndarray
    signs_m: np.ndarray
    rows: np.ndarray

    def __post_init__(self) -> None:
        self.shape = (self.m, self.n)
        self._slots = _slot_map(self.rows, self.n)

    @classmethod
    def random(cls, m: int, n: int, condition_number: float, rng: np.random.Generator):
        s = geometric_singular_values(m, n, condition_number)
        signs_n = rng.choice(np.array([-1.0, 1.0]), size=n)
        signs_m = rng.choice(np.array([-1.0, 1.0]), size=m)
        rows = np.sort(rng.choice(n, size=m, replace=False))
        return cls(n=n, m=m, s=rng.permutation(s), signs_n=signs_n, signs_m=signs_m, rows=rows)

    def matvec(self, x):
        return idct_ortho(dct_ortho(x * self.signs_n)[self.rows] * self.s) * self.signs_m

    def rmatvec(self, z):
        t = dct_ortho(z * self.signs_m) * self.s
        return idct_ortho(_scatter(t, self._slots)) * self.signs_n

    @property
    def singular_values(self):
        return np.sort(self.s)[::-1]

    def svd_factors(self):
        # U z = idct(z) * signs_m, V^T = S C D.
        return SvdFactors(
            s=self.s, u=lambda z: idct_ortho(z) * self.signs_m,
            ut=lambda z: dct_ortho(z * self.signs_m),
            v=lambda c: idct_ortho(_scatter(c, self._slots)) * self.signs_n,
            vt=lambda x: dct_ortho(x * self.signs_n)[self.rows],
        )
