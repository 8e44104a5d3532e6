"""ddpm_edu: the helper package behind the DDPM-loss notebooks.

Indexing follows the math everywhere: per-t tensors have length T + 1 and index t is step t
(index 0 is the clean data). See ``ddpm_edu.schedules``.
"""

from .schedules import NoiseSchedule
from .diffusion import q_sample, q_posterior, convert, model_mean, model_mean_from_eps
from .weighting import weight, normalize, WEIGHTINGS

__all__ = ["NoiseSchedule", "q_sample", "q_posterior", "convert", "model_mean", "model_mean_from_eps",
           "weight", "normalize", "WEIGHTINGS"]
__version__ = "0.1.0"
