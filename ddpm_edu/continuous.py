"""Notebook 07's objectives at continuous noise levels: where their names were before the one trainer.

Every objective trains the same network (the residual MLP of :mod:`ddpm_edu.models`) on its own terms: noise
levels drawn by its own sampler, its own input and output maps, its own loss weight. That is a loss,
:class:`~ddpm_edu.losses.ObjectiveLoss` (with :class:`~ddpm_edu.losses.ObjectiveModel`), trained by the one
:class:`~ddpm_edu.training.Trainer`; the per-lambda evaluation is :mod:`ddpm_edu.evaluation`, the sampler down a
log-SNR grid :mod:`ddpm_edu.sampling`. This module only keeps the names importable from here.
"""

from .evaluation import eps_loss_per_lambda
from .losses import ObjectiveModel, c_noise, own_target, own_weight
from .sampling import ancestral_sample_lambda, ddpm_lambda_grid, posterior_step, sample_objectives
from .training import ObjectiveRun, train_objective, train_objectives

__all__ = ["ObjectiveModel", "ObjectiveRun", "ancestral_sample_lambda", "c_noise", "ddpm_lambda_grid",
           "eps_loss_per_lambda", "own_target", "own_weight", "posterior_step", "sample_objectives", "train_objective",
           "train_objectives"]
