"""Multi-condition, time-adaptive classifier-free guidance (HuMo §3.4, ``docs/paper_notes.md`` §7; chapter 07).

Upstream code it mirrors: the guidance blocks of HuMo's ``generate.py`` (17B) and ``generate_1_7B.py`` (1.7B).

A clip has up to three conditions — text, reference image, audio — and each has a *null*: the null
caption, all-zero reference latents, all-zero audio windows. A *branch* is one DiT pass that keeps some
conditions and nulls the rest (a ``frozenset`` of :data:`CONDITIONS`).

**A chain of terms.** Every guidance rule HuMo uses, in the paper or in its released code, has one shape:
start from a *base* branch and add conditions one group at a time, each added group scaled by its own
weight::

    v = v(base) + s₁·[v(base+g₁) − v(base)] + s₂·[v(base+g₁+g₂) − v(base+g₁)] + …

The paper's Eq. 4 is the chain base = ∅, then text (λ_txt), image (λ_img), audio (λ_a): four branches.
HuMo-1.7B's released code nests them text, audio, image; HuMo-17B's released code uses base = image
(text guided against an image-conditioned branch) early on, and base = ∅ with text and image as *one*
group later. A :class:`Term` is one step of the chain, a :class:`Chain` the whole formula.

**A schedule of phases.** The weights change with the noise level σ (1 = pure noise, 0 = clean). A
:class:`GuidanceSchedule` is a list of :class:`Phase` s, each a σ interval with its own chain; the
intervals must tile [0, 1] exactly. The paper switches at σ = 0.98 from a text/image-dominant chain to an
audio/image-dominant one; the released 17B at t = 980 (the same σ). ``print(schedule)`` writes the formula
of every phase out.

**Modes.** What the caller gave (:data:`MODES`: T, TI, TA, TIA) decides which terms exist: a term whose
conditions were not given is dropped (its difference would be zero and is not computed), and the base keeps
only given conditions. So one schedule serves every mode; where released code uses *another* formula in a
mode (the 17B without an image: no switch, text 5 throughout), the schedule carries it in ``by_mode``.
:meth:`GuidanceSchedule.plan` returns, for a σ and the given conditions, the branches to run and how to combine
them. The pipeline runs all branches of a step as rows of one batched DiT call, and only that phase's branches.

**What a scale of 1 saves.** Only a *leading* term of weight 1 folds into the base
(``v(b) + 1·[v(b+g) − v(b)] = v(b+g)``): one branch fewer. A later term of weight 1 still needs both of its
branches — the condition is given, just not amplified.

:data:`PRESETS` holds the paper's forms and the released code's; :func:`get_schedule` looks one up.
:data:`TOY_SCALES` is the one source of the default scales (the pipeline's arguments read it at call time).

**The default** (:func:`default_schedule`, what a pipeline call without guidance gets): in TIA mode the *talking
schedule* (:func:`talking_schedule`) — the paper's two phases with the scales chapter 07 chose on its validation
pool, text/image-dominant (:data:`TALKING_EARLY`) above σ 0.98 and audio/image-dominant (:data:`TALKING_LATE`)
below; on that pool it beat one text and one image scale throughout (:func:`humo_lite_schedule`), which stays the
default of the other modes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CONDITIONS = ("text", "image", "audio")
"""The conditions a DiT pass can keep; a branch is a ``frozenset`` of them, the rest get their null."""
MODES = {"T": frozenset({"text"}), "TI": frozenset({"text", "image"}), "TA": frozenset({"text", "audio"}),
         "TIA": frozenset({"text", "image", "audio"})}
"""HuMo's modes: the conditions each one gives."""


def _conditions(names: Iterable[str], what: str) -> frozenset:
    names = frozenset([names] if isinstance(names, str) else names)
    unknown = names - set(CONDITIONS)
    if unknown:
        raise ValueError(f"{what}: unknown condition(s) {sorted(unknown)}; expected some of {CONDITIONS}")
    return names


def branch_name(branch: Iterable[str]) -> str:
    """``frozenset({"text", "image"})`` → ``"TI"``; the all-null branch → ``"∅"``."""
    return "".join(c[0].upper() for c in CONDITIONS if c in branch) or "∅"


def mode_of(given: Iterable[str]) -> str:
    """The mode (:data:`MODES`) of the conditions ``given``; an error if they are no mode (no text)."""
    given = frozenset(given)
    for name, conditions in MODES.items():
        if conditions == given:
            return name
    raise ValueError(f"conditions {sorted(given)} are no mode; a mode gives the text and optionally image and audio "
                     f"({', '.join(MODES)})")


def check_scale(value, what: str) -> float:
    """``value`` as a float, or an error: a guidance scale must be a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Term:
    """One step of a chain: add the conditions ``adds`` (a group) with weight ``scale``."""

    adds: frozenset
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "adds", _conditions(self.adds, "a guidance term"))
        if not self.adds:
            raise ValueError("a guidance term must add at least one condition")
        object.__setattr__(self, "scale", check_scale(self.scale, f"the scale of the term adding {sorted(self.adds)}"))


@dataclass(frozen=True)
class Chain:
    """``v = v(base) + Σ_k scale_k · [v(base + g_1..g_k) − v(base + g_1..g_{k-1})]`` (see the module doc)."""

    terms: tuple[Term, ...]
    base: frozenset = frozenset()

    def __post_init__(self):
        object.__setattr__(self, "base", _conditions(self.base, "a chain's base"))
        object.__setattr__(self, "terms", tuple(self.terms))
        seen = set(self.base)
        for term in self.terms:
            if not isinstance(term, Term):
                raise TypeError(f"a chain's terms must be Term objects, got {term!r}")
            if term.adds & seen:
                raise ValueError(f"condition(s) {sorted(term.adds & seen)} are added twice in one chain")
            seen |= term.adds

    def given_terms(self, given: frozenset) -> tuple[frozenset, list[tuple[frozenset, frozenset, float]]]:
        """The base and the terms that exist for the conditions ``given``, as ``(from, to, scale)`` branches."""
        current, terms = self.base & given, []
        for term in self.terms:
            added = term.adds & given
            if added:  # a condition that was not given: the term is zero, and not computed
                terms.append((current, current | added, term.scale))
                current = current | added
        return self.base & given, terms

    def plan(self, given: frozenset) -> tuple[list[frozenset], list[tuple[int, int, float]]]:
        """For the conditions ``given``: the distinct branches to run, and the chain as
        ``(branch index, previous branch index, scale)`` steps over them (``v = v[0] + Σ s·(v[i] − v[j])``).
        Leading terms of scale 1 fold into the base (``v(b) + 1·[v(b+g) − v(b)] = v(b+g)``); later ones do not."""
        base, terms = self.given_terms(given)
        branches, steps = [base], []
        for _, to, scale in terms:
            if not steps and scale == 1.0:  # v(b) + 1·[v(b+g) − v(b)] = v(b+g): one branch fewer
                branches[0] = to
                continue
            branches.append(to)
            steps.append((len(branches) - 1, len(branches) - 2, scale))
        return branches, steps

    def formula(self, given: Iterable[str] = CONDITIONS) -> str:
        """The chain written out for the conditions ``given``: ``v = v(∅) + 5·[v(T) − v(∅)] + …``."""
        base, terms = self.given_terms(frozenset(given))
        parts = [f"v({branch_name(base)})"]
        parts += [f"{scale:g}·[v({branch_name(to)}) − v({branch_name(before)})]" for before, to, scale in terms]
        return "v = " + " + ".join(parts)

    def __str__(self) -> str:
        return self.formula()


@dataclass(frozen=True)
class Phase:
    """A chain used for σ in ``(sigma_min, sigma_max]`` (the lowest phase also takes σ = 0)."""

    sigma_min: float
    sigma_max: float
    chain: Chain

    def __post_init__(self):
        bounds = (self.sigma_min, self.sigma_max)
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds) \
                or not 0 <= self.sigma_min < self.sigma_max <= 1:
            raise ValueError(f"a phase must cover 0 <= sigma_min < sigma_max <= 1, got ({self.sigma_min}, "
                             f"{self.sigma_max}]")
        if not isinstance(self.chain, Chain):
            raise TypeError(f"a phase's chain must be a Chain, got {self.chain!r}")

    def interval(self) -> str:
        return f"σ ∈ {'[' if self.sigma_min == 0 else '('}{self.sigma_min:g}, {self.sigma_max:g}]"


def _check_tiling(phases: tuple[Phase, ...]) -> None:
    """An error unless the phases' intervals tile [0, 1] exactly (no gap, no overlap)."""
    if not phases:
        raise ValueError("a guidance schedule needs at least one phase")
    edges = [0.0] + [b for p in phases for b in (p.sigma_min, p.sigma_max)] + [1.0]
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        if lo < hi:
            raise ValueError(f"the phases leave sigma in ({lo}, {hi}) uncovered; they must tile [0, 1]")
        if lo > hi:
            raise ValueError(f"the phases overlap on sigma in ({hi}, {lo}); they must tile [0, 1]")


@dataclass(frozen=True)
class GuidanceSchedule:
    """Phases that tile σ ∈ [0, 1] exactly, each with its chain; ``name`` for tables and plots.

    ``by_mode``: another schedule for some modes (``{"TA": schedule}``), where a rule has its own formula there
    (the released 17B without an image). ``print(schedule)`` shows every phase's formula."""

    phases: tuple[Phase, ...]
    name: str = "custom"
    description: str = field(default="", compare=False)
    by_mode: tuple[tuple[str, GuidanceSchedule], ...] = ()

    def __post_init__(self):
        phases = tuple(sorted(self.phases, key=lambda p: p.sigma_min))
        _check_tiling(phases)
        object.__setattr__(self, "phases", phases)
        by_mode = tuple(sorted(self.by_mode.items() if isinstance(self.by_mode, Mapping) else self.by_mode))
        for mode, schedule in by_mode:
            if mode not in MODES:
                raise ValueError(f"by_mode: unknown mode {mode!r}; expected some of {list(MODES)}")
            if not isinstance(schedule, GuidanceSchedule) or schedule.by_mode:
                raise ValueError(f"by_mode[{mode!r}] must be a GuidanceSchedule without a by_mode of its own")
        object.__setattr__(self, "by_mode", by_mode)

    def for_mode(self, given: Iterable[str]) -> GuidanceSchedule:
        """The schedule used when the conditions ``given`` are given: a ``by_mode`` entry, or this one."""
        return dict(self.by_mode).get(mode_of(given), self)

    def phase_at(self, sigma: float) -> Phase:
        """The phase whose interval holds ``sigma`` (an error outside [0, 1])."""
        if not isinstance(sigma, (int, float)) or not 0 <= sigma <= 1:
            raise ValueError(f"sigma must lie in [0, 1], got {sigma!r}")
        return next(p for p in self.phases if sigma <= p.sigma_max)

    def plan(self, sigma: float, given: frozenset) -> tuple[list[frozenset], Callable]:
        """The branches to run at ``sigma`` for the conditions ``given``, and ``combine(velocities)``."""
        given = frozenset(given)
        branches, steps = self.for_mode(given).phase_at(float(sigma)).chain.plan(given)

        def combine(v: list[torch.Tensor]) -> torch.Tensor:
            out = v[0]
            for i, j, scale in steps:
                out = out + scale * (v[i] - v[j])
            return out

        return branches, combine

    def formula(self, mode: str = "TIA") -> str:
        """Every phase's formula in ``mode``, one line per σ phase in sampling order (σ = 1 first)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        schedule = self.for_mode(MODES[mode])
        return "\n".join(f"{p.interval():<16} {p.chain.formula(MODES[mode])}" for p in reversed(schedule.phases))

    def __str__(self) -> str:
        own = "\n".join(f"{p.interval():<16} {p.chain.formula()}" for p in reversed(self.phases))  # by_mode aside
        lines = [f"{self.name}" + (f" — {self.description}" if self.description else ""), own]
        for mode, _ in self.by_mode:
            lines += [f"in {mode} mode:", self.formula(mode)]
        return "\n".join(lines)


def single(chain: Chain, name: str, description: str = "", by_mode: Mapping | None = None) -> GuidanceSchedule:
    """One chain for the whole of σ ∈ [0, 1] (a static schedule)."""
    return GuidanceSchedule((Phase(0.0, 1.0, chain),), name, description, tuple((by_mode or {}).items()))


def switched(early: Chain, late: Chain, switch_sigma: float, name: str, description: str = "",
             by_mode: Mapping | None = None) -> GuidanceSchedule:
    """``early`` for σ > ``switch_sigma``, ``late`` below: the paper's time-adaptive form."""
    if isinstance(switch_sigma, bool) or not isinstance(switch_sigma, (int, float)) or not 0 < switch_sigma < 1:
        raise ValueError(f"switch_sigma must lie strictly between 0 and 1, got {switch_sigma!r}")
    return GuidanceSchedule((Phase(switch_sigma, 1.0, early), Phase(0.0, switch_sigma, late)), name, description,
                            tuple((by_mode or {}).items()))


def eq4(text: float, image: float, audio: float) -> Chain:
    """The paper's Eq. 4: base ∅, then text, image, audio (four branches with all three given)."""
    return Chain((Term({"text"}, text), Term({"image"}, image), Term({"audio"}, audio)))


def text_only(scale: float) -> Chain:
    """Plain classifier-free guidance on the caption: the other given conditions are in both branches."""
    return Chain((Term({"text"}, scale),), base=frozenset({"image", "audio"}))


TOY_SCALES = {"text": 5.0, "image": 5.0, "audio": 5.5}
"""The default scales, the one source the pipeline's arguments, :func:`humo_lite_schedule` and the checks read (at
call time). Text 5, as stage 0 was tuned with; image 5, the image scale ``scripts/stage1_guidance_scales.py`` chose
(``data_samples/ablations/stage1_guidance_scales.json``); audio 5.5, the released 17B's. Chapter 07 measures them."""
PAPER_SWITCH_SIGMA = 0.98  # "from timestep 1.0 to 0.98 … text/image-dominant" (HuMo §3.4; the 17B's t = 980)


def default_scales(text: float | None = None, image: float | None = None, audio: float | None = None) -> dict:
    """``{"text", "image", "audio"}`` scales: each one given, or else :data:`TOY_SCALES`' (read now)."""
    given = {"text": text, "image": image, "audio": audio}
    return {k: TOY_SCALES[k] if v is None else check_scale(v, f"the {k} scale") for k, v in given.items()}


def humo_lite_schedule(text: float | None = None, image: float | None = None, audio: float | None = None,
                       switch_sigma: float = PAPER_SWITCH_SIGMA, early_audio: float = 1.0) -> GuidanceSchedule:
    """The paper's time-adaptive Eq. 4: above ``switch_sigma`` text and image lead and audio is given but
    not amplified (``early_audio``), below it audio is guided at ``audio`` too. Text and image keep their
    scales in both phases, so without audio (T and TI modes) it is one static Eq. 4. A scale left out is
    :data:`TOY_SCALES`'."""
    s = default_scales(text, image, audio)
    return switched(eq4(s["text"], s["image"], early_audio), eq4(s["text"], s["image"], s["audio"]), switch_sigma,
                    "adaptive (Eq. 4)", f"HuMo Eq. 4; audio guided below sigma {switch_sigma:g}")


def adaptive(early: tuple[float, float, float], late: tuple[float, float, float],
             switch_sigma: float = PAPER_SWITCH_SIGMA, name: str | None = None) -> GuidanceSchedule:
    """The paper's time-adaptive form with its own scales in each phase: Eq. 4 with ``early = (text, image,
    audio)`` above ``switch_sigma``, ``late`` below (HuMo §3.4: A, text/image-dominant, then B, audio/image)."""
    return switched(eq4(*early), eq4(*late), switch_sigma, name or f"adaptive, switch at {switch_sigma:g}",
                    f"Eq. 4: A {tuple(early)} above sigma {switch_sigma:g}, B {tuple(late)} below")


TALKING_EARLY = (5.0, 3.0, 1.0)
"""Phase A of the talking schedule, ``(text, image, audio)`` above σ 0.98: the text-heavy Eq. 4 scales chapter 07
chose on the ``validation_voice`` pool (``data_samples/ablations/stage2_guidance_schedules.json``,
``validation.chosen.A``)."""
TALKING_LATE = (3.0, 7.5, 5.5)
"""Phase B below σ 0.98: the audio/image-heavy scales chosen there (``validation.chosen.B``)."""


def talking_schedule(audio: float | None = None) -> GuidanceSchedule:
    """The default guidance in TIA mode: the paper's adaptive Eq. 4 with chapter 07's validation choice,
    :data:`TALKING_EARLY` above σ 0.98 and :data:`TALKING_LATE` below. ``audio``: another audio scale for phase B
    (``audio=1``: the same schedule with the audio term not amplified — audio guidance off)."""
    late = TALKING_LATE if audio is None else (*TALKING_LATE[:2], check_scale(audio, "the audio scale"))
    name = "talking (A/B)" if audio is None else f"talking (A/B), audio {late[2]:g}"
    return adaptive(TALKING_EARLY, late, PAPER_SWITCH_SIGMA, name)


def default_schedule() -> GuidanceSchedule:
    """The pipeline's guidance when a call names no schedule and no scale. In TIA mode the talking schedule
    (:func:`talking_schedule`: text/image-dominant above σ 0.98, audio/image-dominant below, as chosen on the
    validation pool, where it beat one set of scales throughout: ``validation.default`` of the schedules file);
    in T, TI and TA mode :func:`humo_lite_schedule` with :data:`TOY_SCALES` (read now)."""
    base = humo_lite_schedule()
    return GuidanceSchedule(base.phases, "default", "the talking schedule in TIA mode, else " + base.name,
                            {"TIA": talking_schedule()})


def _released_17b() -> GuidanceSchedule:
    """HuMo-17B's ``generate.py`` (``docs/paper_notes.md`` §7.2–7.3): with an image, text guided against the image
    branch above t = 980 and text + image as one group (scale_t − 2) below; without one, no switch, text 5."""
    no_image = single(Chain((Term({"text"}, 5.0), Term({"audio"}, 5.5))), "released 17B, no image",
                      "generate.py TA path: v = λ_a·(ta − t) + λ_t·(t − null) + null, no switch")
    return switched(Chain((Term({"text"}, 5.0), Term({"audio"}, 5.5)), base=frozenset({"image"})),
                    Chain((Term({"text", "image"}, 3.0), Term({"audio"}, 5.5))), PAPER_SWITCH_SIGMA,
                    "released 17B", "generate.py: 3 passes, switch at t = 980, scale_t 5, scale_a 5.5",
                    by_mode={"TA": no_image, "T": no_image})


def _presets() -> dict[str, GuidanceSchedule]:
    t, i, a = TOY_SCALES["text"], TOY_SCALES["image"], TOY_SCALES["audio"]
    return {
        "default": default_schedule(),
        "adaptive": humo_lite_schedule(),
        "talking": talking_schedule(),
        "static-a": single(eq4(t, i, 1.0), "static A (text/image)", "Eq. 4 with the early scales everywhere"),
        "static-b": single(eq4(t, i, a), "static B (audio/image)", "Eq. 4 with the late scales everywhere"),
        "text": single(text_only(t), "text only", "plain CFG on the caption; image and audio in both branches"),
        "humo-17b": _released_17b(),
        "humo-1.7b": single(Chain((Term({"text"}, 7.0), Term({"audio"}, 7.5), Term({"image"}, 4.0))),
                            "released 1.7B", "generate_1_7B.py: 4 passes, text → audio → image, no switch"),
    }


PRESETS = _presets()
"""Named schedules: ``default`` (what a call without guidance gets: ``talking`` in TIA mode, else ``adaptive``),
``adaptive`` (the paper's time-adaptive Eq. 4 with one text and one image scale throughout, :data:`TOY_SCALES`),
``talking`` (the adaptive Eq. 4 with chapter 07's A and B scales, :func:`talking_schedule`),
``static-a`` / ``static-b`` (``adaptive``'s two phases held for the whole run), ``text`` (plain text CFG),
``humo-17b`` and ``humo-1.7b`` (the released code's forms and scales). ``print(PRESETS[name])`` shows the formula."""
DEFAULT_GUIDANCE = "default"


def get_schedule(guidance: str | GuidanceSchedule) -> GuidanceSchedule:
    """A schedule, or the preset of that name (:data:`PRESETS`)."""
    if isinstance(guidance, GuidanceSchedule):
        return guidance
    if isinstance(guidance, str) and guidance in PRESETS:
        return PRESETS[guidance]
    raise ValueError(f"unknown guidance {guidance!r}: expected a GuidanceSchedule or one of {sorted(PRESETS)}")


__all__ = ["CONDITIONS", "DEFAULT_GUIDANCE", "MODES", "PAPER_SWITCH_SIGMA", "PRESETS", "TALKING_EARLY", "TALKING_LATE",
           "TOY_SCALES", "Chain", "adaptive", "default_schedule", "talking_schedule",
           "GuidanceSchedule", "Phase", "Term", "branch_name", "check_scale", "default_scales", "eq4", "get_schedule",
           "humo_lite_schedule", "mode_of", "single", "switched", "text_only"]
