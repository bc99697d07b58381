"""Training: the VAE (``vae_training``), one trainer for every DiT stage (``trainer``), the
flow-matching step (``tasks``) and stage 0, our miniature pretrained Wan (``stage0``)."""

from humo_lite.training.tasks import TextToVideoTask
from humo_lite.training.trainer import TrainConfig, Trainer, TrainingTask, loss_by_sigma
from humo_lite.training.vae_training import train_vae

__all__ = ["TextToVideoTask", "TrainConfig", "Trainer", "TrainingTask", "loss_by_sigma", "train_vae"]
