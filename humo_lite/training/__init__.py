"""Training: the VAE (``vae_training``), one trainer for every DiT stage (``trainer``), each stage's
flow-matching step (``tasks``) and the cached training latents (``latent_cache``). The recipes that
assemble and score whole checkpoints live one layer up, in :mod:`humo_lite.recipes`."""

from humo_lite.training.tasks import TextToVideoTask
from humo_lite.training.trainer import TrainConfig, Trainer, TrainingTask, loss_by_sigma
from humo_lite.training.vae_training import train_vae

__all__ = ["TextToVideoTask", "TrainConfig", "Trainer", "TrainingTask", "loss_by_sigma", "train_vae"]
