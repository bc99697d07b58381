"""Guidance schedules (chapter 07): each preset is its formula, branches run batched = one at a time, only
the branches a phase uses are computed, and bad schedules are refused with a clear error."""

import math

import numpy as np
import pytest
import torch

from humo_lite.data import make_clip, make_pool
from humo_lite.flow_matching import make_scheduler
from humo_lite.guidance import (
    PRESETS,
    Chain,
    GuidanceSchedule,
    Phase,
    Term,
    eq4,
    get_schedule,
    humo_lite_schedule,
    switched,
    text_only,
)
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae
from humo_lite.pipeline import HuMoLitePipeline

PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"
T, I, A = "text", "image", "audio"  # noqa: E741
TIA = frozenset({T, I, A})


def _combined(schedule: GuidanceSchedule, sigma: float, given=TIA, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """The schedule's combination of made-up velocities, one per branch, and those velocities by branch."""
    g = torch.Generator().manual_seed(seed)
    branches = [frozenset(s) for s in ((), (T,), (I,), (A,), (T, I), (T, A), (I, A), (T, I, A))]
    v = {b: torch.randn(4, generator=g) for b in branches}
    plan, combine = schedule.plan(sigma, frozenset(given))
    return combine([v[b] for b in plan]), {"".join(c[0].upper() for c in ("text", "image", "audio") if c in b) or "0":
                                            v[b] for b in branches}


HAND_WRITTEN = {  # (preset, σ) -> the formula of docs/paper_notes.md §7, written out; v keyed by branch
    ("adaptive", 0.99): lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"]) + 1 * (v["TIA"] - v["TI"]),
    ("adaptive", 0.5): lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("static-a", 0.5): lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"]) + 1 * (v["TIA"] - v["TI"]),
    ("static-b", 0.99): lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("text", 0.5): lambda v: v["IA"] + 5 * (v["TIA"] - v["IA"]),
    ("humo-17b", 0.99): lambda v: v["I"] + 5.0 * (v["TI"] - v["I"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("humo-17b", 0.5): lambda v: v["0"] + 3.0 * (v["TI"] - v["0"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("humo-1.7b", 0.5): lambda v: (v["0"] + 7.0 * (v["T"] - v["0"]) + 7.5 * (v["TA"] - v["T"])
                                   + 4.0 * (v["TIA"] - v["TA"])),
}


@pytest.mark.parametrize("preset,sigma", list(HAND_WRITTEN))
def test_each_preset_is_its_formula_written_out(preset, sigma):
    got, v = _combined(PRESETS[preset], sigma)
    assert torch.allclose(got, HAND_WRITTEN[preset, sigma](v), atol=1e-6)
    other, _ = _combined(PRESETS[preset], sigma, seed=1)
    assert not torch.allclose(other, HAND_WRITTEN[preset, sigma](v))  # the check can fail


def test_a_condition_not_given_drops_its_term_and_its_branch():
    """TI mode: Eq. 4 without audio (3 branches); T mode: plain text guidance (2); a scale of 1 up front: 1."""
    adaptive = PRESETS["adaptive"]
    assert adaptive.plan(0.5, frozenset({T, I}))[0] == [frozenset(), frozenset({T}), frozenset({T, I})]
    got, v = _combined(adaptive, 0.5, given={T, I})
    assert torch.allclose(got, v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"]))
    assert adaptive.plan(0.5, frozenset({T}))[0] == [frozenset(), frozenset({T})]
    assert humo_lite_schedule(text=1.0).plan(0.5, frozenset({T}))[0] == [frozenset({T})]  # no guidance: one pass
    assert len(adaptive.plan(0.5, TIA)[0]) == 4 and len(PRESETS["humo-17b"].plan(0.99, TIA)[0]) == 3


def test_phases_switch_at_their_sigma():
    sched = switched(eq4(5, 5, 1), text_only(3), 0.9, "test")
    assert sched.phase_at(1.0).chain == eq4(5, 5, 1) and sched.phase_at(0.9001).chain == eq4(5, 5, 1)
    assert sched.phase_at(0.9).chain == text_only(3) and sched.phase_at(0.0).chain == text_only(3)


@pytest.mark.parametrize("phases,message", [
    ((Phase(0.0, 0.5, eq4(5, 5, 5)),), r"uncovered"),
    ((Phase(0.0, 0.4, eq4(5, 5, 5)), Phase(0.5, 1.0, eq4(5, 5, 5))), r"uncovered; they must tile"),
    ((Phase(0.0, 0.6, eq4(5, 5, 5)), Phase(0.5, 1.0, eq4(5, 5, 5))), r"overlap on sigma in \(0.5, 0.6\)"),
    ((), "at least one phase"),
])
def test_phases_must_tile_zero_to_one(phases, message):
    with pytest.raises(ValueError, match=message):
        GuidanceSchedule(phases)


def test_bad_terms_and_names_are_refused():
    with pytest.raises(ValueError, match="must be a finite number"):
        Term({T}, math.nan)
    with pytest.raises(ValueError, match=r"unknown condition\(s\) \['voice'\]"):
        Term({"voice"}, 2.0)
    with pytest.raises(ValueError, match=r"added twice"):
        Chain((Term({T}, 2.0), Term({T, I}, 2.0)))
    with pytest.raises(ValueError, match=r"unknown guidance 'eq4'"):
        get_schedule("eq4")
    with pytest.raises(ValueError, match="switch_sigma must lie strictly between 0 and 1"):
        switched(eq4(5, 5, 5), eq4(5, 5, 5), 1.0, "bad")


@pytest.fixture(scope="module")
def audio_pipe(audio_dit):
    return HuMoLitePipeline(audio_dit, build_vae("humo-nano").eval(), build_text_encoder("humo-nano").eval(),
                            make_scheduler("unipc", shift=3.0), height=16, width=16, num_frames=9)


def test_four_branches_batched_equal_four_separate_passes(audio_pipe):
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    conditions, _ = audio_pipe.prepare_conditions([PROMPT] * 2, None, clip.reference, clip.audio, 16_000, 9, "error")
    branches, combine = PRESETS["adaptive"].plan(0.5, conditions.given)
    assert len(branches) == 4
    x, t = torch.randn(2, 8, 3, 4, 4), torch.tensor(500.0)
    batched = audio_pipe.branch_velocities(x, t, conditions, branches)
    separate = [audio_pipe.branch_velocities(x, t, conditions, [b])[0] for b in branches]
    for a, b in zip(batched, separate, strict=True):
        assert (a - b).abs().max() <= 1e-5
    assert all(not torch.allclose(separate[k], separate[k + 1], atol=1e-4) for k in range(3))  # 4 different branches
    assert torch.allclose(combine(batched), combine(separate), atol=1e-5)


def test_the_pipeline_runs_only_the_branches_of_each_steps_phase(audio_pipe):
    """A schedule with 4 branches above σ = 0.6 and 2 below: the pass count says so, step by step."""
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    sched = switched(eq4(5, 5, 5), text_only(5), 0.6, "test")
    out = audio_pipe(PROMPT, image=clip.reference, audio=clip.audio, sample_rate=16_000, num_inference_steps=4,
                     guidance=sched, generator=torch.Generator().manual_seed(0), mode="TIA")
    audio_pipe.scheduler.set_timesteps(4)
    sigmas = [audio_pipe.sigma_of(t) for t in audio_pipe.scheduler.timesteps]
    early = sum(s > 0.6 for s in sigmas)
    assert 0 < early < 4
    assert out.dit_passes == 4 * early + 2 * (4 - early)
    again = audio_pipe(PROMPT, image=clip.reference, audio=clip.audio, sample_rate=16_000, num_inference_steps=4,
                       guidance="static-b", generator=torch.Generator().manual_seed(0))
    assert again.dit_passes == 4 * 4 and not np.array_equal(again.frames, out.frames)
