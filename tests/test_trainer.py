"""The trainer: determinism, exact resume, atomic safetensors checkpoints, EMA, two processes (gloo)."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from humo_lite.training.trainer import (
    TrainConfig,
    Trainer,
    TrainingTask,
    batch_indices,
    load_state_dict_strict,
    weights_checksum,
)


class ToyTask(TrainingTask):
    """Regress y = W x with a 2-layer MLP; noise and 'sigma' drawn from the step's generator."""

    def __init__(self, seed=0, n=64):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 4, generator=g)
        torch.manual_seed(seed)
        self.modules = {"net": torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))}
        self.trainable = {"net": lambda name: True}
        self.num_items = n

    def loss(self, modules, indices, generator, device):
        sigma = torch.rand(len(indices), generator=generator)
        x = self.x[indices] + 0.01 * sigma[:, None]
        per = ((modules["net"](x.to(device)) - self.y[indices].to(device)) ** 2).mean(dim=1)
        return per.mean(), {"sigma": sigma, "loss": per}


def _config(steps, **kw):
    kw = {"batch_size": 8, "lr": 1e-2, "warmup_steps": 2, "checkpoint_every": 100, "log_every": 1, **kw}
    return TrainConfig(steps=steps, **kw)


def test_batches_are_a_pure_function_of_seed_and_step():
    a = batch_indices(5, 8, 20, seed=0)
    assert torch.equal(a, batch_indices(5, 8, 20, seed=0))
    assert not torch.equal(a, batch_indices(5, 8, 20, seed=1))
    epoch = torch.cat([batch_indices(s, 4, 20, seed=0) for s in range(5)])  # 5 steps x 4 = one epoch
    assert sorted(epoch.tolist()) == list(range(20))  # every item once per epoch
    ranks = [batch_indices(0, 4, 20, seed=0, rank=r, world_size=2) for r in range(2)]
    assert torch.equal(torch.cat(ranks), batch_indices(0, 8, 20, seed=0))  # ranks split the global batch


def test_loss_falls_and_same_seed_gives_same_bytes(tmp_path):
    runs = []
    for i in range(2):
        task = ToyTask()
        trainer = Trainer(task, _config(40, lr=3e-2), tmp_path / f"run{i}")
        trainer.train(progress=False)
        runs.append((trainer.history, weights_checksum(task.modules)))
    assert runs[0][1] == runs[1][1]
    history = runs[0][0]
    assert history[-1]["loss"] < 0.3 * history[0]["loss"], (history[0]["loss"], history[-1]["loss"])
    other = ToyTask()
    Trainer(other, _config(40, lr=3e-2, seed=1), tmp_path / "run_seed1").train(progress=False)
    assert weights_checksum(other.modules) != runs[0][1]


def test_resume_continues_exactly(tmp_path):
    full = ToyTask()
    Trainer(full, _config(20), tmp_path / "full").train(progress=False)

    half = ToyTask()
    Trainer(half, _config(10), tmp_path / "split").train(progress=False)  # writes split/checkpoint at step 10
    resumed = ToyTask()  # a fresh process: new modules, state only from the checkpoint
    trainer = Trainer(resumed, _config(20), tmp_path / "split")
    summary = trainer.train(progress=False)
    assert summary["steps_this_run"] == 10
    assert weights_checksum(resumed.modules) == weights_checksum(full.modules)
    full_ema = Trainer(ToyTask(), _config(20), tmp_path / "full")
    full_ema.load_checkpoint(tmp_path / "full" / "checkpoint")
    for a, b in zip(full_ema.ema.shadow_params, trainer.ema.shadow_params, strict=True):
        assert torch.equal(a, b)


def test_checkpoint_is_safetensors_only_and_ema_lags_weights(tmp_path):
    task = ToyTask()
    trainer = Trainer(task, _config(15), tmp_path)
    trainer.train(progress=False)
    files = sorted(p.name for p in (tmp_path / "checkpoint").iterdir())
    assert files == ["ema.safetensors", "model-net.safetensors", "optimizer.safetensors", "trainer_state.json"]
    assert not list(tmp_path.glob(".*"))  # no temporary folders left behind
    ema = load_file(tmp_path / "checkpoint" / "ema.safetensors")
    weights = load_file(tmp_path / "checkpoint" / "model-net.safetensors")
    assert set(ema) == {f"net.{k}" for k in weights}
    assert not torch.equal(ema["net.0.weight"], weights["0.weight"])  # EMA is an average, not a copy
    state = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 15 and len(state["history"]) == 15 and "sigma" in state["history"][0]


def test_mismatched_checkpoint_names_the_key(tmp_path):
    net = torch.nn.Linear(4, 3)
    with pytest.raises(KeyError, match="weight"):
        load_state_dict_strict(net, {"weight": torch.zeros(3, 4)})  # bias missing
    with pytest.raises(ValueError, match="'weight' has shape"):
        load_state_dict_strict(net, {"weight": torch.zeros(5, 4), "bias": torch.zeros(3)})


SCRIPT = textwrap.dedent("""
    import json, sys, torch
    sys.path.insert(0, {tests!r})
    from test_trainer import ToyTask, _config
    from humo_lite.training.trainer import Trainer, end_distributed
    summary = Trainer(ToyTask(), _config(6), {out!r}).train(progress=False)
    if summary["num_processes"] > 1 and torch.distributed.get_rank() == 0:
        print("SUMMARY", json.dumps(summary))
    end_distributed()
""")


@pytest.mark.slow
def test_two_processes_keep_replicas_identical(tmp_path):
    script = tmp_path / "train_two.py"
    script.write_text(SCRIPT.format(tests=str(__import__("pathlib").Path(__file__).parent), out=str(tmp_path / "out")))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(script)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.split("SUMMARY", 1)[1].strip().splitlines()[0])
    assert summary["num_processes"] == 2
    assert len(set(summary["replica_checksums"])) == 1, summary["replica_checksums"]
