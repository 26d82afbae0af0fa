"""Compressed-sensing message passing: operators, denoisers, divergence estimators, AMP,
VAMP, CG-VAMP and state evolution (see README.md).  Never imports archsim."""
from .amp import amp
from .cgvamp import CgLmmse, cg_vamp
from .denoisers import (
    BernoulliGaussMMSE,
    Denoiser,
    HaarWaveletThreshold,
    NoClosedFormDivergence,
    SkimageNLMeans,
    SkimageTV,
    SoftThreshold,
    skimage_available,
)
from .divergence import (
    DivergenceEstimate,
    DivergenceEstimator,
    ExactDivergence,
    MessageContext,
    MonteCarloDivergence,
    VarianceMatchingDivergence,
)
from .history import History, Result
from .operators import (
    ConditionedDCT,
    DenseOperator,
    LinearOperator,
    SubsampledDCT,
    gaussian_operator,
    orthogonally_invariant_operator,
)
from .problems import bernoulli_gauss, measure, nmse_db, noise_var_for_snr, psnr_db
from .runs import RunResult, run_amp, run_cg_vamp, run_vamp
from .state_evolution import amp_se, scalar_channel, vamp_se
from .vamp import SvdLmmse, vamp

__all__ = [name for name in dir() if not name.startswith("_")]
