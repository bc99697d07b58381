"""One trainer for every stage: HF Accelerate, EMA, gradient clipping, exact resume, safetensors.

HuMo does not publish its optimiser, learning rates or schedule (``docs/paper_notes.md`` §5, §12.1);
we train every stage with one recipe: flow matching, AdamW, a constant learning rate after warm-up, EMA.
Here the *what* of a stage (which modules, which parameters train, which loss) is a :class:`TrainingTask`;
the *how* (optimiser, EMA, clipping, checkpoints, processes) is this
module, shared by stage 0 (chapter 02) and stages 1–2 (chapters 03–06).

Determinism and exact resume without saving RNG states: batch ``step`` is a pure function of
``(seed, step)`` — sample order comes from a per-epoch permutation seeded with ``(seed, epoch)``, and
the step's noise, σ and condition dropout come from a generator seeded with ``(seed, step, rank)``.
Resuming at step ``k`` therefore replays exactly what an uninterrupted run does at step ``k``; with the
model, optimiser and EMA states restored, N/2 + resume + N/2 steps give the same bytes as N steps.

Several processes (``accelerate launch --multi_gpu --num_processes 2 ...``, which on a machine without
GPUs starts CPU processes talking over gloo; NCCL on GPUs): each takes
its slice of the global batch, gradients are averaged by DDP, so every replica stays identical — the
trainer checks it at the end (``replica_checksums`` in the returned summary). A script run that way calls
:func:`end_distributed` last (the CLI does it for you).

Checkpoint folder (written atomically; the newest replaces the old one)::

    checkpoint/model-<name>.safetensors   trainable modules' weights (one file per module)
    checkpoint/ema.safetensors            EMA shadow weights of the trained parameters
    checkpoint/optimizer.safetensors      AdamW moments; hyper-parameters in its metadata
    checkpoint/trainer_state.json         step, config, loss history, each file's SHA-256

**A run that goes wrong says so and loses nothing.** A non-finite loss or gradient norm stops the run
(:class:`TrainingDiverged`, naming the step) before the optimiser applies it, so the last checkpoint on disk
is the last good one; every tensor is checked finite before it is saved. The output folder is held by
:func:`humo_lite.io.output_lock` for the whole run (a second trainer on it stops at once, naming the
holder); a save interrupted by a kill is finished on the next start (:func:`humo_lite.io.recover_dir`),
and each file's SHA-256, recorded in ``trainer_state.json``, is checked when it is resumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, safe_open, save_file
from tqdm.auto import tqdm

from ..io import (
    CHECKSUMS_KEY,
    atomic_dir,
    check_finite_tensors,
    check_safetensors,
    folder_checksums,
    output_lock,
    recover_dir,
    sha256_file,
    write_json,
)


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite: the run stopped before applying that step."""


@dataclass
class TrainConfig:
    """How to train (the task decides *what*). The defaults are the shipped ``humo-micro`` stage 0's.

    ``humo-lite train stage0`` reads its defaults from here, so calling the Python API with no arguments
    and running the command with no flags train the same model.
    """

    steps: int = 2000  # optimiser steps
    batch_size: int = 16  # clips per step and process
    lr: float = 1e-3  # AdamW learning rate after warm-up
    warmup_steps: int = 100  # linear warm-up from 0
    weight_decay: float = 0.0  # HuMo/Wan fine-tune with none
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0  # max global gradient norm
    ema_decay: float = 0.999  # EMAModel warms up as (1 + n) / (10 + n) until it reaches this
    seed: int = 0
    checkpoint_every: int = 500  # steps between checkpoints (and at the end)
    log_every: int = 10  # steps between progress-bar updates

    def __post_init__(self):
        whole = {"steps": 1, "batch_size": 1, "warmup_steps": 0, "checkpoint_every": 1, "log_every": 1}
        for name, low in whole.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"TrainConfig.{name} must be a whole number >= {low}, got {value!r}")
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"TrainConfig.{name} must be a positive finite number, got {value!r}")
        if not 0 <= self.ema_decay < 1 or not all(0 <= b < 1 for b in self.betas) or self.weight_decay < 0:
            raise ValueError(f"TrainConfig: ema_decay and betas must lie in [0, 1) and weight_decay >= 0; got "
                             f"ema_decay={self.ema_decay}, betas={self.betas}, weight_decay={self.weight_decay}")


RESUMABLE_FIELDS = ("steps", "checkpoint_every", "log_every")
"""Config fields a resumed run may change (how long and how often); any other change is an error."""


class TrainingTask:
    """What a stage trains. Subclasses set ``modules`` and implement :meth:`loss`.

    ``modules``: every module the stage uses, by name (e.g. ``{"transformer": dit, "text_encoder": te}``).
    ``trainable``: ``{module_name: predicate(param_name) -> bool}``; modules not named are frozen.
    ``num_items``: size of the data the task samples from (indices ``0 .. num_items-1``).
    """

    modules: dict[str, torch.nn.Module]
    trainable: dict[str, Callable[[str], bool]]
    num_items: int

    def loss(self, modules: dict[str, torch.nn.Module], indices: torch.Tensor, generator: torch.Generator,
             device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean loss over the items ``indices`` and per-sample logs (must include ``sigma`` and ``loss``)."""
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        """The task's own settings (dropout rates, loss weights, ...): checked on resume, recorded in manifests."""
        return {"num_items": self.num_items}

    def begin_step(self, step: int) -> None:
        """Called before each step's :meth:`loss` with the step number (a schedule over steps, e.g. stage 2's
        audio share, reads it here). Nothing by default."""


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def batch_indices(step: int, batch_size: int, num_items: int, seed: int, rank: int = 0,
                  world_size: int = 1) -> torch.Tensor:
    """Items of this process's share of global batch ``step``: epochs are seeded permutations."""
    global_batch = batch_size * world_size
    start = step * global_batch + rank * batch_size
    positions = torch.arange(start, start + batch_size)
    epochs, offsets = positions // num_items, positions % num_items
    out = torch.empty(batch_size, dtype=torch.long)
    for epoch in epochs.unique().tolist():
        perm = torch.randperm(num_items, generator=torch.Generator().manual_seed(_seed_for(seed, epoch)))
        sel = epochs == epoch
        out[sel] = perm[offsets[sel]]
    return out


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``config.lr``, then constant (HuMo's schedule)."""
    return config.lr * min(1.0, (step + 1) / max(1, config.warmup_steps))


def _named_trainable(task: TrainingTask) -> list[tuple[str, torch.nn.Parameter]]:
    params = []
    for module_name, module in task.modules.items():
        keep = task.trainable.get(module_name)
        for name, param in module.named_parameters():
            param.requires_grad_(bool(keep and keep(name)))
            if param.requires_grad:
                params.append((f"{module_name}.{name}", param))
    if not params:
        raise ValueError("the task trains no parameters; check its `trainable` predicates")
    return params


def weights_checksum(modules: dict[str, torch.nn.Module]) -> str:
    """SHA-256 over every parameter's bytes, in name order (replica and resume checks)."""
    digest = hashlib.sha256()
    for module_name in sorted(modules):
        for name, tensor in sorted(modules[module_name].state_dict().items()):
            digest.update(f"{module_name}.{name}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Trainer:
    """Train a :class:`TrainingTask`; ``out_dir/checkpoint`` is written every ``checkpoint_every`` steps.

    >>> trainer = Trainer(task, TrainConfig(steps=200), "outputs/stage0")
    >>> summary = trainer.train()          # resumes from outputs/stage0/checkpoint if it exists
    """

    def __init__(self, task: TrainingTask, config: TrainConfig, out_dir: str | Path,
                 accelerator: Accelerator | None = None):
        self.task, self.config, self.out_dir = task, config, Path(out_dir)
        self.accelerator = accelerator or Accelerator(cpu=not torch.cuda.is_available())
        self.named_params = _named_trainable(task)
        self.optimizer = torch.optim.AdamW(
            [p for _, p in self.named_params], lr=config.lr, betas=config.betas,
            weight_decay=config.weight_decay, foreach=False,
        )
        names = list(task.modules)
        prepared = self.accelerator.prepare(*[task.modules[n] for n in names], self.optimizer)
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)
        self.modules = dict(zip(names, prepared[:-1], strict=True))  # DDP-wrapped when distributed
        self.optimizer = prepared[-1]
        self.ema = EMAModel([p for _, p in self.named_params], decay=config.ema_decay)
        self.step = 0
        self.history: list[dict] = []  # per logged step: step, loss, lr, grad_norm, and (sigma, loss) pairs
        self.evaluations: list[dict] = []  # what train(evaluate=...) measured, by step

    # ---------------------------------------------------------------- training
    def train(self, resume: bool = True, progress: bool = True, override_config: bool = False,
              evaluate: Callable[[int, dict], dict] | None = None, evaluate_every: int = 0) -> dict:
        """Run until ``config.steps``; return a summary (final loss, wall time, checksums).

        With ``resume`` an existing ``out_dir/checkpoint`` is continued exactly; a checkpoint trained with
        other settings is an error naming the field, unless ``override_config`` (see :meth:`load_checkpoint`).
        ``evaluate(step, modules)``, if given, runs every ``evaluate_every`` steps (and at the last) on the
        EMA weights, in eval mode; its dicts are kept in ``self.evaluations`` and in the checkpoint, so a
        curve over training survives a resume.
        """
        with (output_lock(self.out_dir) if self.accelerator.is_main_process else _nothing()):
            return self._train(resume, progress, override_config, evaluate, evaluate_every)

    def _train(self, resume, progress, override_config, evaluate, evaluate_every) -> dict:
        config, acc = self.config, self.accelerator
        checkpoint = self.out_dir / "checkpoint"
        if acc.is_main_process and resume:
            note = recover_dir(checkpoint)
            if note:
                print(f"humo-lite: note: {note}; resuming from it", file=sys.stderr)
        acc.wait_for_everyone()
        if resume and checkpoint.exists():
            self.load_checkpoint(checkpoint, override_config=override_config)
            if progress and acc.is_main_process:
                print(f"resuming {checkpoint} at step {self.step} of {config.steps}", file=sys.stderr)
        evaluation_time = 0.0
        start_time, start_step = time.perf_counter(), self.step
        for module in self.modules.values():
            module.train()
        bar = tqdm(total=config.steps, initial=self.step, disable=not (progress and acc.is_main_process),
                   desc="train", unit="step", dynamic_ncols=True)
        while self.step < config.steps:
            record = self.train_step()
            bar.update(1)
            if self.step % config.log_every == 0 or self.step == config.steps:
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.1e}")
            due = evaluate is not None and evaluate_every > 0 and (
                self.step % evaluate_every == 0 or self.step == config.steps)
            if due and acc.is_main_process:
                tick = time.perf_counter()
                self.evaluations.append({"step": self.step, **self.evaluate_ema(evaluate)})
                evaluation_time += time.perf_counter() - tick
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self.save_checkpoint(self.out_dir / "checkpoint")
        bar.close()
        checksums = acc.gather(torch.tensor([int(weights_checksum(self.unwrapped())[:15], 16)]))
        return {
            "steps": self.step,
            "steps_this_run": self.step - start_step,
            "wall_time_s": round(time.perf_counter() - start_time, 2),
            "evaluation_time_s": round(evaluation_time, 2),  # of it, in evaluate(...)
            "final_loss": float(np.mean([h["loss"] for h in self.history[-20:]])) if self.history else None,
            "num_processes": acc.num_processes,
            "replica_checksums": [f"{int(c):015x}" for c in checksums.tolist()],
        }

    def train_step(self) -> dict:
        """One optimiser step on global batch ``self.step`` (a pure function of seed and step)."""
        config, acc = self.config, self.accelerator
        indices = batch_indices(self.step, config.batch_size, self.task.num_items, config.seed,
                                acc.process_index, acc.num_processes)
        generator = torch.Generator().manual_seed(_seed_for(config.seed, self.step, acc.process_index, 0x5EED))
        lr = learning_rate(self.step, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.task.begin_step(self.step)
        loss, logs = self.task.loss(self.modules, indices, generator, acc.device)
        acc.backward(loss)
        grad_norm = acc.clip_grad_norm_([p for _, p in self.named_params], config.grad_clip)
        self._check_finite(loss, grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.step([p for _, p in self.named_params])
        self.step += 1
        record = {
            "step": self.step, "loss": float(loss.detach()), "lr": lr, "grad_norm": float(grad_norm),
            "sigma": logs["sigma"].detach().cpu().tolist(), "sample_loss": logs["loss"].detach().cpu().tolist(),
            **{key: float(value.float().mean()) for key, value in logs.items() if key not in ("sigma", "loss")},
        }
        self.history.append(record)
        return record

    def _check_finite(self, loss: torch.Tensor, grad_norm) -> None:
        """Stop before the optimiser step when the loss or the gradient norm is NaN or infinite (on any process)."""
        values = torch.stack([loss.detach().float().reshape(()), torch.as_tensor(grad_norm).float().reshape(())])
        bad = (~torch.isfinite(values)).float()
        if self.accelerator.num_processes > 1:
            bad = self.accelerator.reduce(bad.to(self.accelerator.device), reduction="sum").cpu()
        if bool(bad.any()):
            self.optimizer.zero_grad(set_to_none=True)
            checkpoint = self.out_dir / "checkpoint"
            kept = (f"the last good checkpoint, {checkpoint} (step {read_trainer_state(checkpoint)['step']}), is kept"
                    if (checkpoint / "trainer_state.json").is_file() else "no checkpoint had been written yet")
            raise TrainingDiverged(
                f"training diverged at step {self.step + 1}: loss {float(values[0]):.4g}, gradient norm "
                f"{float(values[1]):.4g} (NaN or infinite); stopped before applying it, nothing saved from it; {kept}. "
                f"Check the settings (a NaN or huge value, a learning rate too high) before resuming")

    @torch.no_grad()
    def evaluate_ema(self, evaluate: Callable[[int, dict], dict]) -> dict:
        """``evaluate(step, modules)`` with the EMA weights swapped in and every module in eval mode; the
        training weights and modes are restored afterwards."""
        params = [p for _, p in self.named_params]
        self.ema.store(params)
        self.ema.copy_to(params)
        modules = self.unwrapped()
        for module in modules.values():
            module.eval()
        try:
            return evaluate(self.step, modules)
        finally:
            self.ema.restore(params)
            for module in modules.values():
                module.train()

    def unwrapped(self) -> dict[str, torch.nn.Module]:
        return {name: self.accelerator.unwrap_model(m) for name, m in self.modules.items()}

    # ------------------------------------------------------------- checkpoints
    def save_checkpoint(self, folder: str | Path) -> Path | None:
        """Write the checkpoint folder atomically (main process only); returns its path."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        files = {f"model-{name}.safetensors": {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
                 for name, module in self.unwrapped().items()}
        files["ema.safetensors"] = {name: shadow.detach().cpu().contiguous() for (name, _), shadow
                                    in zip(self.named_params, self.ema.shadow_params, strict=True)}
        tensors, meta = _flatten_optimizer(self.optimizer.state_dict(), [n for n, _ in self.named_params])
        files["optimizer.safetensors"] = tensors
        for file, state in files.items():  # never replace a good checkpoint with a poisoned one
            check_finite_tensors(state, f"not saving {Path(folder)} at step {self.step}: {file}")
        with atomic_dir(folder, overwrite=True) as tmp:
            for file, state in files.items():
                save_file(state, tmp / file, metadata={"param_groups": json.dumps(meta)}
                          if file == "optimizer.safetensors" else None)
            write_json(tmp / "trainer_state.json", {
                "step": self.step, "ema_optimization_step": self.ema.optimization_step,
                "config": asdict(self.config), "task": self.task.hyperparameters(), "history": self.history,
                "evaluations": self.evaluations, CHECKSUMS_KEY: folder_checksums(tmp),
            })
        return Path(folder)

    def load_checkpoint(self, folder: str | Path, override_config: bool = False) -> None:
        """Restore weights, EMA, optimiser and step; clear errors for a damaged or mismatched checkpoint.

        A truncated or corrupted file is named before anything is loaded (the checkpoint is left as it
        is). A checkpoint whose config or task settings differ from this run's is an error naming the
        field — except the fields of :data:`RESUMABLE_FIELDS` (how long and how often) — unless
        ``override_config`` says to continue with this run's settings.
        """
        folder = Path(folder)
        state = read_trainer_state(folder)
        for file in sorted(folder.glob("*.safetensors")):
            check_safetensors(file)
        for file, expected in state.get(CHECKSUMS_KEY, {}).items():
            if not (folder / file).is_file():
                raise FileNotFoundError(f"{folder / file} is missing; trainer_state.json lists it (remove the "
                                        f"checkpoint to start again)")
            if sha256_file(folder / file) != expected:
                raise ValueError(f"{folder / file}: its SHA-256 differs from the one trainer_state.json recorded when "
                                 f"it was saved (a flipped bit or an edit); remove the checkpoint to start again")
        self._check_same_settings(state, folder, override_config)
        for name, module in self.unwrapped().items():
            weights = load_file(folder / f"model-{name}.safetensors")
            check_finite_tensors(weights, str(folder / f"model-{name}.safetensors"))
            load_state_dict_strict(module, weights, f"{folder / f'model-{name}.safetensors'}: module {name!r}")
        ema = load_file(folder / "ema.safetensors")
        check_finite_tensors(ema, str(folder / "ema.safetensors"))
        names = [n for n, _ in self.named_params]
        _check_keys(set(ema), set(names), "EMA weights")
        for name, shadow in zip(names, self.ema.shadow_params, strict=True):
            shadow.data.copy_(ema[name])
        self.ema.optimization_step = state["ema_optimization_step"]
        with safe_open(folder / "optimizer.safetensors", "pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            groups = json.loads(f.metadata()["param_groups"])
        self.optimizer.load_state_dict(_unflatten_optimizer(tensors, groups, names))
        self.step, self.history = state["step"], state["history"]
        self.evaluations = state.get("evaluations", [])

    def _check_same_settings(self, state: dict, folder: Path, override_config: bool) -> None:
        """Error naming every setting this run changes against the checkpoint's (unless overridden)."""
        saved = {**state.get("config", {}), **{f"task.{k}": v for k, v in state.get("task", {}).items()}}
        current = {**asdict(self.config), **{f"task.{k}": v for k, v in self.task.hyperparameters().items()}}
        normal = lambda v: json.loads(json.dumps(v))  # noqa: E731  (tuples and lists compare equal)
        changed = [k for k in current
                   if k not in RESUMABLE_FIELDS and k in saved and normal(saved[k]) != normal(current[k])]
        if changed and not override_config:
            lines = ", ".join(f"{k}={saved[k]!r} in the checkpoint but {current[k]!r} now" for k in changed)
            raise ValueError(f"cannot resume {folder}: {lines}. Resume with the checkpoint's settings, use another "
                             f"output folder, or pass override_config=True (CLI: --override-config) to continue "
                             f"with the new ones")

    def ema_state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Each module's state dict with the trained parameters replaced by their EMA values."""
        out = {name: {k: v.detach().clone() for k, v in m.state_dict().items()} for name, m in self.unwrapped().items()}
        for (full_name, _), shadow in zip(self.named_params, self.ema.shadow_params, strict=True):
            module_name, param_name = full_name.split(".", 1)
            out[module_name][param_name] = shadow.detach().clone()
        return out


@contextlib.contextmanager
def _nothing():
    yield


def read_trainer_state(folder: str | Path) -> dict:
    """``trainer_state.json`` of a checkpoint folder, with a clear error if it is missing or damaged."""
    path = Path(folder) / "trainer_state.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a trainer checkpoint: {path.name} is missing")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is truncated or corrupted ({exc}); remove the checkpoint to start again") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(state).__name__}; "
                         "it was not written by this trainer")
    missing = [k for k in ("step", "ema_optimization_step", "history") if k not in state]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it was not written by this trainer")
    for key in ("step", "ema_optimization_step"):
        if isinstance(state[key], bool) or not isinstance(state[key], int) or state[key] < 0:
            raise ValueError(f"{path}: field {key!r} must be a whole number >= 0, got {state[key]!r}")
    if not isinstance(state["history"], list):
        raise ValueError(f"{path}: field 'history' must be a list, got {type(state['history']).__name__}")
    return state


def _check_keys(got: set[str], expected: set[str], what: str) -> None:
    missing, unexpected = sorted(expected - got), sorted(got - expected)
    if missing or unexpected:
        raise KeyError(f"{what} do not match: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                       f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")


def load_state_dict_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str = "weights") -> None:
    """``module.load_state_dict`` with an error naming the first key whose name or shape differs."""
    own = module.state_dict()
    _check_keys(set(state), set(own), f"{what}: keys")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{what}: key {key!r} has shape {tuple(value.shape)}, the model expects "
                             f"{tuple(own[key].shape)} (was the checkpoint made with another config?)")
    module.load_state_dict(state)


def _flatten_optimizer(state: dict, names: list[str]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{names[index]}::{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict], names: list[str]) -> dict:
    index = {name: i for i, name in enumerate(names)}
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        name, field_name = key.split("::")
        if name not in index:
            raise KeyError(f"optimizer state has key {name!r}, which this task does not train")
        per_param.setdefault(index[name], {})[field_name] = value
    for group in groups:
        group["betas"] = tuple(group.get("betas", (0.9, 0.999)))
    return {"state": per_param, "param_groups": groups}


def loss_by_sigma(history: list[dict], bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mean per-sample loss in ``bins`` equal σ bins over a history: (bin centres, mean loss)."""
    sigma = np.concatenate([h["sigma"] for h in history])
    loss = np.concatenate([h["sample_loss"] for h in history])
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(sigma, edges) - 1, 0, bins - 1)
    means = np.array([loss[which == b].mean() if (which == b).any() else math.nan for b in range(bins)])
    return (edges[:-1] + edges[1:]) / 2, means


def end_distributed() -> None:
    """End a run of several processes cleanly: wait for every process, then close the process group (a no-op in
    one process). Without it, a process can leave while gloo's threads still run, and the C++ runtime aborts it
    ("terminate called without an active exception"). The CLI calls it after every command; a script that
    trains under ``accelerate launch`` calls it last."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def iterate_minibatches(num_items: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Indices ``0..num_items-1`` in order, in chunks (evaluation and latent caching)."""
    for start in range(0, num_items, batch_size):
        yield torch.arange(start, min(start + batch_size, num_items))


__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "TrainingTask", "batch_indices", "end_distributed",
           "learning_rate", "load_state_dict_strict", "loss_by_sigma", "weights_checksum"]
