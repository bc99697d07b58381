"""Training: the VAE (``vae_training``), one trainer for every DiT stage (``trainer``), each stage's
flow-matching step (``tasks``; stage 1's in ``reference_task``), what trains in each stage (``stages``)
and the cached training latents (``latent_cache``). The recipes that
assemble and score whole checkpoints live one layer up, in :mod:`humo_lite.recipes`."""

from humo_lite.training.reference_task import ReferenceToVideoTask
from humo_lite.training.stages import describe_trainable, trainable_predicate, trainable_summary
from humo_lite.training.tasks import TextToVideoTask
from humo_lite.training.trainer import TrainConfig, Trainer, TrainingTask, loss_by_sigma
from humo_lite.training.vae_training import VAETrainConfig, fit_vae

__all__ = ["ReferenceToVideoTask", "TextToVideoTask", "TrainConfig", "Trainer", "TrainingTask", "VAETrainConfig",
           "describe_trainable", "fit_vae", "loss_by_sigma", "trainable_predicate", "trainable_summary"]
