"""Multi-condition, time-adaptive classifier-free guidance (HuMo §3.4; chapter 07).

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
audio/image-dominant one; the released 17B at t = 980 (the same σ).

**Modes.** What the caller gave decides which terms exist: a term whose conditions were not given is
dropped (its difference would be zero and is not computed), and the base keeps only given conditions. So
one schedule serves TI, TA and TIA (and T): :meth:`GuidanceSchedule.plan` returns, for a σ and the given
conditions, the branches to run and how to combine them. The pipeline runs all branches of a step as rows
of one batched DiT call, and only the branches of that step's phase.

:data:`PRESETS` holds the paper's forms and the released code's; :func:`get_schedule` looks one up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CONDITIONS = ("text", "image", "audio")
"""The conditions a DiT pass can keep; a branch is a ``frozenset`` of them, the rest get their null."""


def _conditions(names: Iterable[str], what: str) -> frozenset:
    names = frozenset([names] if isinstance(names, str) else names)
    unknown = names - set(CONDITIONS)
    if unknown:
        raise ValueError(f"{what}: unknown condition(s) {sorted(unknown)}; expected some of {CONDITIONS}")
    return names


@dataclass(frozen=True)
class Term:
    """One step of a chain: add the conditions ``adds`` (a group) with weight ``scale``."""

    adds: frozenset
    scale: float

    def __post_init__(self):
        object.__setattr__(self, "adds", _conditions(self.adds, "a guidance term"))
        if not self.adds:
            raise ValueError("a guidance term must add at least one condition")
        if not isinstance(self.scale, (int, float)) or not math.isfinite(self.scale):
            raise ValueError(f"the scale of the term adding {sorted(self.adds)} must be a finite number, "
                             f"got {self.scale!r}")


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
            if term.adds & seen:
                raise ValueError(f"condition(s) {sorted(term.adds & seen)} are added twice in one chain")
            seen |= term.adds

    def plan(self, given: frozenset) -> tuple[list[frozenset], list[tuple[int, int, float]]]:
        """For the conditions ``given``: the distinct branches to run, and the chain as
        ``(branch index, previous branch index, scale)`` steps over them (``v = v[0] + Σ s·(v[i] − v[j])``).
        Leading terms of scale 1 fold into the base (``v(b) + 1·[v(b+g) − v(b)] = v(b+g)``)."""
        current = self.base & given
        branches, steps = [current], []
        for term in self.terms:
            added = term.adds & given
            if not added:
                continue  # a condition that was not given: the term is zero, and not computed
            if not steps and term.scale == 1.0:  # v(b) + 1·[v(b+g) − v(b)] = v(b+g): one branch fewer
                current = branches[0] = current | added
                continue
            previous, current = len(branches) - 1, current | added
            branches.append(current)
            steps.append((len(branches) - 1, previous, float(term.scale)))
        return branches, steps


@dataclass(frozen=True)
class Phase:
    """A chain used for σ in ``(sigma_min, sigma_max]`` (the lowest phase also takes σ = 0)."""

    sigma_min: float
    sigma_max: float
    chain: Chain


@dataclass(frozen=True)
class GuidanceSchedule:
    """Phases that tile σ ∈ [0, 1] exactly, each with its chain; ``name`` for tables and plots."""

    phases: tuple[Phase, ...]
    name: str = "custom"
    description: str = field(default="", compare=False)

    def __post_init__(self):
        phases = tuple(sorted(self.phases, key=lambda p: p.sigma_min))
        if not phases:
            raise ValueError("a guidance schedule needs at least one phase")
        for p in phases:
            if not (0 <= p.sigma_min < p.sigma_max <= 1):
                raise ValueError(f"a phase must cover 0 <= sigma_min < sigma_max <= 1, got ({p.sigma_min}, "
                                 f"{p.sigma_max}]")
        edges = [0.0] + [b for p in phases for b in (p.sigma_min, p.sigma_max)] + [1.0]
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            if lo < hi:
                raise ValueError(f"the phases leave sigma in ({lo}, {hi}) uncovered; they must tile [0, 1]")
            if lo > hi:
                raise ValueError(f"the phases overlap on sigma in ({hi}, {lo}); they must tile [0, 1]")
        object.__setattr__(self, "phases", phases)

    def phase_at(self, sigma: float) -> Phase:
        """The phase whose interval holds ``sigma``."""
        for p in self.phases:
            if sigma <= p.sigma_max:
                return p
        return self.phases[-1]

    def plan(self, sigma: float, given: frozenset) -> tuple[list[frozenset], Callable]:
        """The branches to run at ``sigma`` for the conditions ``given``, and ``combine(velocities)``."""
        branches, steps = self.phase_at(float(sigma)).chain.plan(frozenset(given))

        def combine(v: list[torch.Tensor]) -> torch.Tensor:
            out = v[0]
            for i, j, scale in steps:
                out = out + scale * (v[i] - v[j])
            return out

        return branches, combine


def single(chain: Chain, name: str, description: str = "") -> GuidanceSchedule:
    """One chain for the whole of σ ∈ [0, 1] (a static schedule)."""
    return GuidanceSchedule((Phase(0.0, 1.0, chain),), name, description)


def switched(early: Chain, late: Chain, switch_sigma: float, name: str, description: str = "") -> GuidanceSchedule:
    """``early`` for σ > ``switch_sigma``, ``late`` below: the paper's time-adaptive form."""
    if not 0 < switch_sigma < 1:
        raise ValueError(f"switch_sigma must lie strictly between 0 and 1, got {switch_sigma!r}")
    return GuidanceSchedule((Phase(switch_sigma, 1.0, early), Phase(0.0, switch_sigma, late)), name, description)


def eq4(text: float, image: float, audio: float) -> Chain:
    """The paper's Eq. 4: base ∅, then text, image, audio (four branches with all three given)."""
    return Chain((Term({"text"}, text), Term({"image"}, image), Term({"audio"}, audio)))


def text_only(scale: float) -> Chain:
    """Plain classifier-free guidance on the caption: the other given conditions are in both branches."""
    return Chain((Term({"text"}, scale),), base=frozenset({"image", "audio"}))


# Our toy's scales (chapter 07 measures them): text 5, as stage 0 was tuned with; image 5, the image scale that
# scripts/stage1_guidance_scales.py chose on training identities (data_samples/ablations/stage1_guidance_scales.json:
# with text 3 it is stage 1's check); audio 5.5, the 17B's.
TOY_SCALES = {"text": 5.0, "image": 5.0, "audio": 5.5}
PAPER_SWITCH_SIGMA = 0.98  # "from timestep 1.0 to 0.98 … text/image-dominant" (HuMo §3.4; the 17B's t = 980)


def humo_lite_schedule(text: float = TOY_SCALES["text"], image: float = TOY_SCALES["image"],
                       audio: float = TOY_SCALES["audio"], switch_sigma: float = PAPER_SWITCH_SIGMA,
                       early_audio: float = 1.0) -> GuidanceSchedule:
    """The paper's time-adaptive Eq. 4: above ``switch_sigma`` text and image lead and audio is given but
    not amplified (``early_audio``), below it audio is guided at ``audio`` too. Text and image keep their
    scales in both phases, so without audio (T and TI modes) it is one static Eq. 4."""
    return switched(eq4(text, image, early_audio), eq4(text, image, audio), switch_sigma, "adaptive (Eq. 4)",
                    f"HuMo Eq. 4; audio guided below sigma {switch_sigma}")


def _presets() -> dict[str, GuidanceSchedule]:
    t, i, a = TOY_SCALES["text"], TOY_SCALES["image"], TOY_SCALES["audio"]
    return {
        "adaptive": humo_lite_schedule(),
        "static-a": single(eq4(t, i, 1.0), "static A (text/image)", "Eq. 4 with the early scales everywhere"),
        "static-b": single(eq4(t, i, a), "static B (audio/image)", "Eq. 4 with the late scales everywhere"),
        "text": single(text_only(t), "text only", "plain CFG on the caption; image and audio in both branches"),
        "humo-17b": switched(Chain((Term({"text"}, 5.0), Term({"audio"}, 5.5)), base=frozenset({"image"})),
                             Chain((Term({"text", "image"}, 3.0), Term({"audio"}, 5.5))), PAPER_SWITCH_SIGMA,
                             "released 17B", "generate.py: 3 passes, switch at t = 980, scale_t 5, scale_a 5.5"),
        "humo-1.7b": single(Chain((Term({"text"}, 7.0), Term({"audio"}, 7.5), Term({"image"}, 4.0))),
                            "released 1.7B", "generate_1_7B.py: 4 passes, text → audio → image, no switch"),
    }


PRESETS = _presets()
"""Named schedules: ``adaptive`` (the default: the paper's time-adaptive Eq. 4 with our scales),
``static-a`` / ``static-b`` (its two phases held for the whole run), ``text`` (plain text CFG),
``humo-17b`` and ``humo-1.7b`` (the released code's forms and scales)."""
DEFAULT_GUIDANCE = "adaptive"


def get_schedule(guidance: str | GuidanceSchedule) -> GuidanceSchedule:
    """A schedule, or the preset of that name (:data:`PRESETS`)."""
    if isinstance(guidance, GuidanceSchedule):
        return guidance
    if isinstance(guidance, str) and guidance in PRESETS:
        return PRESETS[guidance]
    raise ValueError(f"unknown guidance {guidance!r}: expected a GuidanceSchedule or one of {sorted(PRESETS)}")


__all__ = ["CONDITIONS", "DEFAULT_GUIDANCE", "PAPER_SWITCH_SIGMA", "PRESETS", "TOY_SCALES", "Chain",
           "GuidanceSchedule", "Phase", "Term", "eq4", "get_schedule", "humo_lite_schedule", "single", "switched",
           "text_only"]
