"""Guidance schedules (chapter 07): each preset is its formula, branches run batched = one at a time, only
the branches a phase uses are computed, and bad schedules are refused with a clear error."""

import math
import re
import warnings

import numpy as np
import pytest
import torch

from humo_lite.data import make_clip, make_pool
from humo_lite.flow_matching import make_scheduler
from humo_lite.guidance import (
    MODES,
    PRESETS,
    TOY_SCALES,
    Chain,
    GuidanceSchedule,
    Phase,
    Term,
    branch_name,
    default_scales,
    eq4,
    get_schedule,
    humo_lite_schedule,
    single,
    switched,
    talking_schedule,
    text_only,
)
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae
from humo_lite.pipeline import HuMoLitePipeline, check_mode

PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"
T, I, A = "text", "image", "audio"  # noqa: E741
TIA = frozenset({T, I, A})


def _combined(schedule: GuidanceSchedule, sigma: float, given=TIA, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """The schedule's combination of made-up velocities, one per branch, and those velocities by branch."""
    g = torch.Generator().manual_seed(seed)
    branches = [frozenset(s) for s in ((), (T,), (I,), (A,), (T, I), (T, A), (I, A), (T, I, A))]
    v = {b: torch.randn(4, generator=g) for b in branches}
    plan, combine = schedule.plan(sigma, frozenset(given))
    return combine([v[b] for b in plan]), {branch_name(b).replace("∅", "0"): v[b] for b in branches}


EARLY, LATE = 0.99, 0.5  # one σ above the paper's switch (0.98), one below
EQ4_TI = lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 5 * (v["TI"] - v["T"])  # noqa: E731
TEXT_5 = lambda v: v["0"] + 5 * (v["T"] - v["0"])  # noqa: E731
TALK_A = lambda v: v["0"] + 5 * (v["T"] - v["0"]) + 3 * (v["TI"] - v["T"])  # noqa: E731
TALK_B = lambda v: v["0"] + 3 * (v["T"] - v["0"]) + 7.5 * (v["TI"] - v["T"])  # noqa: E731
HAND_WRITTEN = {  # (preset, mode, σ) -> the formula of docs/paper_notes.md §7, written out; v keyed by branch
    ("adaptive", "TIA", EARLY): lambda v: EQ4_TI(v) + 1.0 * (v["TIA"] - v["TI"]),
    ("adaptive", "TIA", LATE): lambda v: EQ4_TI(v) + 5.5 * (v["TIA"] - v["TI"]),
    **{("adaptive", "TI", s): EQ4_TI for s in (EARLY, LATE)},
    ("adaptive", "TA", EARLY): lambda v: TEXT_5(v) + 1.0 * (v["TA"] - v["T"]),
    ("adaptive", "TA", LATE): lambda v: TEXT_5(v) + 5.5 * (v["TA"] - v["T"]),
    **{("adaptive", "T", s): TEXT_5 for s in (EARLY, LATE)},
    # the talking schedule (chapter 07's A then B): (text, image, audio) = (5, 3, 1) above the switch, (3, 7.5, 5.5)
    # below
    ("talking", "TIA", EARLY): lambda v: TALK_A(v) + 1.0 * (v["TIA"] - v["TI"]),
    ("talking", "TIA", LATE): lambda v: TALK_B(v) + 5.5 * (v["TIA"] - v["TI"]),
    ("talking", "TI", EARLY): TALK_A, ("talking", "TI", LATE): TALK_B,
    ("talking", "TA", EARLY): lambda v: TEXT_5(v) + 1.0 * (v["TA"] - v["T"]),
    ("talking", "TA", LATE): lambda v: v["0"] + 3 * (v["T"] - v["0"]) + 5.5 * (v["TA"] - v["T"]),
    ("talking", "T", EARLY): TEXT_5,
    ("talking", "T", LATE): lambda v: v["0"] + 3 * (v["T"] - v["0"]),
    # the default: the talking schedule in TIA mode, the adaptive Eq. 4 at one text and image scale otherwise
    ("default", "TIA", EARLY): lambda v: TALK_A(v) + 1.0 * (v["TIA"] - v["TI"]),
    ("default", "TIA", LATE): lambda v: TALK_B(v) + 5.5 * (v["TIA"] - v["TI"]),
    **{("default", "TI", s): EQ4_TI for s in (EARLY, LATE)},
    ("default", "TA", EARLY): lambda v: TEXT_5(v) + 1.0 * (v["TA"] - v["T"]),
    ("default", "TA", LATE): lambda v: TEXT_5(v) + 5.5 * (v["TA"] - v["T"]),
    **{("default", "T", s): TEXT_5 for s in (EARLY, LATE)},
    **{("static-a", "TIA", s): lambda v: EQ4_TI(v) + 1 * (v["TIA"] - v["TI"]) for s in (EARLY, LATE)},
    **{("static-a", "TI", s): EQ4_TI for s in (EARLY, LATE)},
    **{("static-a", "TA", s): lambda v: TEXT_5(v) + 1 * (v["TA"] - v["T"]) for s in (EARLY, LATE)},
    **{("static-a", "T", s): TEXT_5 for s in (EARLY, LATE)},
    **{("static-b", "TIA", s): lambda v: EQ4_TI(v) + 5.5 * (v["TIA"] - v["TI"]) for s in (EARLY, LATE)},
    **{("static-b", "TI", s): EQ4_TI for s in (EARLY, LATE)},
    **{("static-b", "TA", s): lambda v: TEXT_5(v) + 5.5 * (v["TA"] - v["T"]) for s in (EARLY, LATE)},
    **{("static-b", "T", s): TEXT_5 for s in (EARLY, LATE)},
    **{("text", "TIA", s): lambda v: v["IA"] + 5 * (v["TIA"] - v["IA"]) for s in (EARLY, LATE)},
    **{("text", "TI", s): lambda v: v["I"] + 5 * (v["TI"] - v["I"]) for s in (EARLY, LATE)},
    **{("text", "TA", s): lambda v: v["A"] + 5 * (v["TA"] - v["A"]) for s in (EARLY, LATE)},
    **{("text", "T", s): TEXT_5 for s in (EARLY, LATE)},
    # generate.py: with the image, text against the image branch above t = 980, text + image as one group below
    ("humo-17b", "TIA", EARLY): lambda v: v["I"] + 5.0 * (v["TI"] - v["I"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("humo-17b", "TIA", LATE): lambda v: v["0"] + 3.0 * (v["TI"] - v["0"]) + 5.5 * (v["TIA"] - v["TI"]),
    ("humo-17b", "TI", EARLY): lambda v: v["I"] + 5.0 * (v["TI"] - v["I"]),
    ("humo-17b", "TI", LATE): lambda v: v["0"] + 3.0 * (v["TI"] - v["0"]),
    # generate.py's TA path: no switch, text 5 throughout (paper_notes §7.3)
    **{("humo-17b", "TA", s): lambda v: v["0"] + 5.0 * (v["T"] - v["0"]) + 5.5 * (v["TA"] - v["T"])
       for s in (EARLY, LATE)},
    **{("humo-17b", "T", s): TEXT_5 for s in (EARLY, LATE)},
    **{("humo-1.7b", "TIA", s): lambda v: (v["0"] + 7.0 * (v["T"] - v["0"]) + 7.5 * (v["TA"] - v["T"])
                                           + 4.0 * (v["TIA"] - v["TA"])) for s in (EARLY, LATE)},
    **{("humo-1.7b", "TI", s): lambda v: v["0"] + 7.0 * (v["T"] - v["0"]) + 4.0 * (v["TI"] - v["T"])
       for s in (EARLY, LATE)},
    **{("humo-1.7b", "TA", s): lambda v: v["0"] + 7.0 * (v["T"] - v["0"]) + 7.5 * (v["TA"] - v["T"])
       for s in (EARLY, LATE)},
    **{("humo-1.7b", "T", s): lambda v: v["0"] + 7.0 * (v["T"] - v["0"]) for s in (EARLY, LATE)},
}


def test_the_table_covers_every_preset_in_every_mode_on_both_sides_of_the_switch():
    assert set(HAND_WRITTEN) == {(p, m, s) for p in PRESETS for m in MODES for s in (EARLY, LATE)}


@pytest.mark.parametrize("preset,mode,sigma", list(HAND_WRITTEN))
def test_each_preset_is_its_formula_written_out(preset, mode, sigma):
    got, v = _combined(PRESETS[preset], sigma, MODES[mode])
    assert torch.allclose(got, HAND_WRITTEN[preset, mode, sigma](v), atol=1e-5)
    other, _ = _combined(PRESETS[preset], sigma, MODES[mode], seed=1)
    assert not torch.allclose(other, HAND_WRITTEN[preset, mode, sigma](v))  # the check can fail


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


FORMULA_TERM = re.compile(r"([\d.]+)·\[v\((\w+|∅)\) − v\((\w+|∅)\)\]")


def _evaluate_printed(line: str, v: dict) -> torch.Tensor:
    """A printed formula line (``σ ∈ …   v = v(B) + s·[v(X) − v(Y)] + …``) evaluated on the velocities ``v``."""
    rhs = line.split("v = ", 1)[1]
    base = re.match(r"v\((\w+|∅)\)", rhs).group(1)
    out = v[base.replace("∅", "0")]
    for scale, x, y in FORMULA_TERM.findall(rhs):
        out = out + float(scale) * (v[x.replace("∅", "0")] - v[y.replace("∅", "0")])
    return out


@pytest.mark.parametrize("preset", list(PRESETS))
def test_printing_a_preset_shows_the_formula_it_runs_in_each_phase_and_mode(preset):
    """``print(PRESETS[name])`` lists one line per σ phase (per mode where the preset has its own), and each line,
    read back as arithmetic, is what ``plan`` combines at a σ of that phase."""
    schedule = PRESETS[preset]
    text = str(schedule)
    assert text.splitlines()[0].startswith(schedule.name) and "v = " in text
    for mode in MODES:
        lines = schedule.formula(mode).splitlines()
        assert len(lines) == len(schedule.for_mode(MODES[mode]).phases)
        for line, sigma in zip(lines, (EARLY, LATE) if len(lines) == 2 else (LATE,), strict=True):
            assert line.startswith("σ ∈ (0.98, 1]" if sigma == EARLY and len(lines) == 2 else "σ ∈ [0,")
            got, v = _combined(schedule, sigma, MODES[mode])
            assert torch.allclose(_evaluate_printed(line, v), got, atol=1e-5), (mode, line)
    assert "σ ∈ (0.98, 1]" in str(PRESETS["adaptive"]) and "5.5·[v(TIA) − v(TI)]" in str(PRESETS["adaptive"])
    assert "in TA mode:" in str(PRESETS["humo-17b"])


def test_the_default_scales_have_one_source(monkeypatch, audio_pipe):
    """The pipeline's signature, the checks and humo_lite_schedule read TOY_SCALES when called: changing a constant
    changes the default guidance and leaves a preset call working."""
    import inspect

    from humo_lite.eval.identity_check import heldout_identity_check
    from humo_lite.eval.scene_check import heldout_scene_check

    for fn, names in ((HuMoLitePipeline.__call__, ("guidance_scale", "image_guidance_scale", "audio_guidance_scale")),
                      (HuMoLitePipeline.guidance_schedule, ("guidance_scale", "image_guidance_scale",
                                                            "audio_guidance_scale")),
                      (heldout_identity_check, ("guidance_scale", "image_guidance_scale")),
                      (heldout_scene_check, ("guidance_scale",)), (humo_lite_schedule, ("text", "image", "audio"))):
        params = inspect.signature(fn).parameters
        assert all(params[n].default is None for n in names), fn.__qualname__  # None: TOY_SCALES, read at call time
    monkeypatch.setitem(TOY_SCALES, "text", 4.0)
    monkeypatch.setitem(TOY_SCALES, "audio", 6.0)
    assert default_scales() == {"text": 4.0, "image": TOY_SCALES["image"], "audio": 6.0}
    default = HuMoLitePipeline.guidance_schedule(None)
    assert default.phases == humo_lite_schedule(4.0, TOY_SCALES["image"], 6.0).phases  # T, TI, TA: from TOY_SCALES
    assert "4·[v(T) − v(∅)]" in default.formula("T") and "6·[v(TA) − v(T)]" in default.formula("TA")
    assert default.for_mode(MODES["TIA"]) == talking_schedule()  # TIA: chapter 07's A and B, not TOY_SCALES
    assert HuMoLitePipeline.guidance_schedule(None, audio_guidance_scale=2.0) == humo_lite_schedule(4.0, None, 2.0)
    assert HuMoLitePipeline.guidance_schedule("humo-17b") is PRESETS["humo-17b"]  # a preset call still works
    out = audio_pipe(PROMPT, num_inference_steps=1, guidance="humo-1.7b", generator=torch.Generator().manual_seed(0))
    assert out.dit_passes == 2


def _passes(pipe, **scales) -> int:
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained test DiT's reference warning
        return pipe(PROMPT, image=clip.reference, audio=clip.audio, sample_rate=16_000, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(0), **scales).dit_passes


def test_the_docstring_names_exactly_the_scales_of_1_that_save_a_branch(audio_pipe):
    """TIA mode: the pipeline's docstring sentence about saving a branch names a scale iff setting it to 1 runs
    fewer DiT passes."""
    doc = " ".join(HuMoLitePipeline.__call__.__doc__.split())
    sentence = next(s for s in doc.split(". ") if "saves a branch" in s)
    default = _passes(audio_pipe)
    assert default == 2 * 4  # 2 steps x (∅, T, TI, TIA)
    for name in ("guidance_scale", "image_guidance_scale", "audio_guidance_scale"):
        saves = _passes(audio_pipe, **{name: 1.0}) < default
        assert (f"``{name}=1``" in sentence.split("keep every branch")[0]) == saves, (name, saves, sentence)
    assert _passes(audio_pipe, guidance_scale=1.0) == 2 * 3


@pytest.mark.parametrize("make,error,message", [
    (lambda: get_schedule("paper"), ValueError, r"unknown guidance 'paper': expected .*'adaptive'"),
    (lambda: GuidanceSchedule((Phase(0.0, 0.5, eq4(5, 5, 5)), Phase(0.7, 1.0, eq4(5, 5, 5)))), ValueError,
     r"leave sigma in \(0.5, 0.7\) uncovered"),
    (lambda: GuidanceSchedule((Phase(0.0, 0.8, eq4(5, 5, 5)), Phase(0.7, 1.0, eq4(5, 5, 5)))), ValueError,
     r"overlap on sigma in \(0.7, 0.8\)"),
    (lambda: Phase(math.nan, 1.0, eq4(5, 5, 5)), ValueError, r"0 <= sigma_min < sigma_max <= 1, got \(nan"),
    (lambda: Phase(0.0, 1.0, "eq4"), TypeError, "a phase's chain must be a Chain"),
    (lambda: Term({A}, math.inf), ValueError, r"scale of the term adding \['audio'\] must be a finite number, got inf"),
    (lambda: humo_lite_schedule(image=math.nan), ValueError, "the image scale must be a finite number, got nan"),
    (lambda: switched(eq4(5, 5, 5), eq4(5, 5, 5), math.nan, "x"), ValueError, "switch_sigma must lie strictly"),
    (lambda: PRESETS["adaptive"].plan(1.5, TIA), ValueError, r"sigma must lie in \[0, 1\], got 1.5"),
    (lambda: talking_schedule(audio=float("nan")), ValueError, r"the audio scale must be a finite number, got nan"),
    (lambda: PRESETS["adaptive"].formula("IA"), ValueError, r"mode must be one of \['T', 'TI', 'TA', 'TIA'\]"),
    (lambda: PRESETS["adaptive"].plan(0.5, frozenset({I, A})), ValueError, r"are no mode; a mode gives the text"),
    (lambda: single(eq4(5, 5, 5), "x", by_mode={"AI": PRESETS["text"]}), ValueError, "by_mode: unknown mode 'AI'"),
    (lambda: HuMoLitePipeline.guidance_schedule(None, math.inf), ValueError,
     "guidance_scale must be a finite number, got inf"),
    (lambda: HuMoLitePipeline.guidance_schedule("static-a", audio_guidance_scale=5.5), ValueError,
     "carries its own scales; drop audio_guidance_scale"),
    (lambda: check_mode("TA", None, None), ValueError, r"mode 'TA' needs audio= \(the audio condition\), which was"),
    (lambda: check_mode("TIA", None, np.zeros(9 * 640)), ValueError, r"mode 'TIA' needs image="),
    (lambda: check_mode("TI", np.zeros((16, 16, 3)), np.zeros(9 * 640)), ValueError, "mode 'TI' has no audio"),
])
def test_bad_guidance_is_refused_with_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_mode_needing_a_condition_not_given_stops_the_call_before_any_work(audio_pipe):
    with pytest.raises(ValueError, match=r"mode 'TIA' needs audio= \(the audio condition\), which was not given"):
        audio_pipe(PROMPT, image=np.zeros((16, 16, 3)), mode="TIA", num_inference_steps=1)


def test_a_steps_rows_are_stacked_once_per_call_and_again_for_a_replaced_condition(audio_pipe):
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    conditions, _ = audio_pipe.prepare_conditions([PROMPT], None, clip.reference, clip.audio, 16_000, 9, "error")
    branches = PRESETS["adaptive"].plan(0.5, conditions.given)[0]
    first = conditions.rows(branches)
    assert conditions.rows(list(branches)) is first  # every step of a phase reuses the stacked rows
    assert first["audio_ctx"].shape[0] == 4 and not first["audio_ctx"][:3].any() and first["audio_ctx"][3].any()
    conditions.audio_ctx = conditions.audio_ctx * 2
    again = conditions.rows(branches)
    assert again is not first and torch.equal(again["audio_ctx"][3], 2 * first["audio_ctx"][3])


def test_dit_passes_count_each_steps_phase_in_each_mode():
    from humo_lite.eval.branches import dit_passes

    sigmas = [0.999, 0.99, 0.5, 0.1]  # two steps above the paper's switch, two below
    assert dit_passes("adaptive", sigmas) == 4 * 4 and dit_passes("adaptive", sigmas, "T") == 2 * 4
    assert dit_passes("humo-17b", sigmas) == 3 * 4 and dit_passes("humo-17b", sigmas, "TI") == 2 * 4
    assert dit_passes(humo_lite_schedule(text=1.0), sigmas) == 3 * 4  # a leading weight of 1: one branch fewer
    assert dit_passes(switched(eq4(5, 5, 5), text_only(5), 0.9, "x"), sigmas) == 4 * 2 + 2 * 2


def test_looking_at_the_branches_leaves_the_clip_as_the_pipeline_makes_it(audio_pipe):
    from humo_lite.eval.branches import branch_x0, time_branches

    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the untrained test DiT's reference warning
        record = branch_x0(audio_pipe, PROMPT, clip.reference, clip.audio, num_inference_steps=3, at_steps=(0, 2))
        plain = audio_pipe(PROMPT, image=clip.reference, audio=clip.audio, sample_rate=16_000, num_inference_steps=3,
                           generator=torch.Generator().manual_seed(0)).frames[0]
    assert np.array_equal(record["frames"], plain)  # the hook only looks
    assert record["branches"] == ["∅", "T", "TI", "TIA"] and len(record["sigmas"]) == 2
    assert record["sigmas"][0] > record["sigmas"][1] and record["guided"].shape == (2, 9, 16, 16, 3)
    assert all(x.shape == (2, 9, 16, 16, 3) for x in record["x0"].values())
    assert not np.allclose(record["x0"]["T"], record["x0"]["TIA"])  # the branches draw differently
    conditions, _ = audio_pipe.prepare_conditions([PROMPT], None, clip.reference, clip.audio, 16_000, 9, "error")
    timing = time_branches(audio_pipe, conditions, torch.randn(1, 8, 3, 4, 4), torch.tensor(500.0), [TIA], 0, 1)
    assert set(timing) == {"batched", "separate", "speedup"} and timing["batched"] > 0


def test_the_guidance_panel_opens_with_a_clip_and_the_button_makes_the_one_set(capsys):
    """Chapter 07's panel: generated once at the starting values (so the page shows a clip, not an empty box),
    again with the values set when the button is pressed."""
    import numpy as np

    from humo_lite.viz.guidance import guidance_slider

    calls = []

    def generate(text, image, audio, switch):
        calls.append((text, image, audio, switch))
        return np.full((9, 16, 16, 3), 0.5, np.float32), np.zeros(9 * 640, np.float32)

    panel = guidance_slider(generate, lambda *v: f"formula {v}", scales=(5.0, 4.0, 6.0), switch_sigma=0.98)
    assert calls == [(5.0, 4.0, 6.0, 0.98)]
    scales, (switch, button) = panel.children[0].children, panel.children[1].children
    scales[2].value, switch.value = 3.5, 0.9
    button.click()
    assert calls[-1] == (5.0, 4.0, 3.5, 0.9) and len(calls) == 2
