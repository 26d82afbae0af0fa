"""Per-iteration record that every solver returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .problems import nmse_db, psnr_db


@dataclass
class History:
    """Per-iteration NMSE (dB, when ground truth is given), sigma estimates, divergences
    (normalised, alpha = div/N), CG iterations, and cost counters."""

    nmse_db: list[float] = field(default_factory=list)
    psnr_db: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    alpha: list[float] = field(default_factory=list)
    cg_iters: list[int] = field(default_factory=list)
    noise_var: list[float] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    denoiser_calls: int = 0
    operator_products: int = 0

    def record(self, x_hat, x_true, keep_x: bool, peak: float | None = None) -> None:
        if x_true is not None:
            self.nmse_db.append(nmse_db(x_hat, x_true))
            if peak is not None:
                self.psnr_db.append(psnr_db(x_hat, x_true, peak))
        if keep_x:
            self.x.append(x_hat)


@dataclass
class Result:
    x_hat: np.ndarray
    history: History
