"""Flow matching: the convention, the shift, and diffusers' schedulers against an exact velocity field."""

import math

import pytest
import torch

from humo_lite.flow_matching import (
    add_noise,
    make_scheduler,
    sample_training_sigmas,
    shift_sigmas,
    sigma_to_timestep,
    velocity_target,
    x0_from_velocity,
)


def test_convention_endpoints_and_target():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    assert torch.equal(add_noise(x0, eps, torch.zeros(3)), x0)  # sigma = 0 is data
    assert torch.equal(add_noise(x0, eps, torch.ones(3)), eps)  # sigma = 1 is noise
    sigma = torch.tensor([0.1, 0.5, 0.9])
    x = add_noise(x0, eps, sigma)
    assert torch.allclose(x[1], 0.5 * x0[1] + 0.5 * eps[1])
    v = velocity_target(x0, eps)
    assert torch.equal(v, eps - x0)
    # the target is the derivative of x_sigma along sigma
    h = 1e-3
    fd = (add_noise(x0, eps, sigma + h) - add_noise(x0, eps, sigma - h)) / (2 * h)
    assert torch.allclose(fd, v, atol=1e-3)
    assert torch.allclose(x0_from_velocity(x, v, sigma), x0, atol=1e-6)
    assert torch.allclose(sigma_to_timestep(sigma), torch.tensor([100.0, 500.0, 900.0]))
    with pytest.raises(ValueError, match="sigma must be"):
        add_noise(x0, eps, torch.ones(2))


def test_shift():
    sigma = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(shift_sigmas(sigma, 1.0), sigma)
    assert torch.allclose(shift_sigmas(sigma, 5.0), torch.tensor([0.0, 1.25 / 2.0, 2.5 / 3.0, 1.0]))
    assert (shift_sigmas(sigma[1:3], 3.0) > sigma[1:3]).all()
    with pytest.raises(ValueError, match="shift must be positive"):
        shift_sigmas(sigma, 0.0)


def test_training_sigmas_seeded_and_in_range():
    a = sample_training_sigmas(1000, torch.Generator().manual_seed(1))
    b = sample_training_sigmas(1000, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (1000,) and ((a > 0) & (a < 1)).all()
    assert abs(a.median().item() - 0.5) < 0.05  # logit-normal(0, 1) is centred on 0.5
    shifted = sample_training_sigmas(1000, torch.Generator().manual_seed(1), shift=3.0)
    assert shifted.median().item() > 0.7
    u = sample_training_sigmas(1000, torch.Generator().manual_seed(1), mode="uniform")
    assert abs(u.mean().item() - 0.5) < 0.05
    with pytest.raises(ValueError, match="mode must be 'logit_normal' or 'uniform'"):
        sample_training_sigmas(4, mode="cosine")


@pytest.mark.parametrize("name", ["unipc", "euler"])
def test_scheduler_timesteps_are_1000_sigma(name):
    scheduler = make_scheduler(name, shift=5.0)
    scheduler.set_timesteps(50)
    sigmas = scheduler.sigmas[:-1].double()
    assert scheduler.sigmas[-1] == 0  # the last step lands on data
    assert (sigmas[1:] < sigmas[:-1]).all()  # sigma runs from noise (1) to data (0)
    assert sigmas[0] > 0.999
    if name == "unipc":  # integer timesteps, truncated: HuMo's 999, 995, 991, 987, 982 (notes §1.5)
        assert torch.equal(scheduler.timesteps, torch.floor(1000 * sigmas).long())
        assert scheduler.timesteps[:5].tolist() == [999, 995, 991, 987, 982]
    else:
        assert torch.allclose(scheduler.timesteps.double(), 1000 * sigmas, atol=1e-3)
    # the schedule is shift_sigmas applied to evenly spaced sigmas that start at 1
    unshifted = sigmas / (5.0 - 4.0 * sigmas)  # the inverse of shift_sigmas(., 5)
    assert abs(unshifted[0] - 1) < 1e-5
    assert torch.allclose(unshifted.diff(), unshifted.diff().mean().expand(49), atol=1e-5)
    assert torch.allclose(shift_sigmas(unshifted, 5.0), sigmas, atol=1e-6)


def gaussian_velocity(x: torch.Tensor, sigma: float, mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The exact marginal velocity E[eps - x0 | x_sigma = x] when x0 ~ N(mu, s^2) per dimension.

    x_sigma is Gaussian with mean (1 - sigma) mu and variance V = (1 - sigma)^2 s^2 + sigma^2, so
    E[eps | x] = sigma / V (x - m) and E[x0 | x] = mu + (1 - sigma) s^2 / V (x - m).
    """
    m = (1 - sigma) * mu
    var = (1 - sigma) ** 2 * s**2 + sigma**2
    return (sigma - (1 - sigma) * s**2) / var * (x - m) - mu


def integrate(name: str, sign: float, steps: int = 50, shift: float = 1.0):
    mu, s = torch.tensor([2.0, -1.0, 0.5, 0.0]), torch.tensor([0.5, 1.5, 0.3, 1.0])
    scheduler = make_scheduler(name, shift=shift)
    scheduler.set_timesteps(steps)
    x = torch.randn(20_000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for t in scheduler.timesteps:
        sigma = float(t) / 1000  # the model only sees the timestep: timestep = 1000 * sigma
        v = sign * gaussian_velocity(x, sigma, mu.double(), s.double())
        x = scheduler.step(v, t, x).prev_sample
    return x, mu, s


@pytest.mark.parametrize("name", ["unipc", "euler"])
def test_schedulers_recover_gaussian_target_from_exact_velocity(name):
    x, mu, s = integrate(name, sign=1.0)
    assert torch.allclose(x.mean(0).float(), mu, atol=0.05)
    assert torch.allclose(x.std(0).float(), s, rtol=0.05)


@pytest.mark.parametrize("name", ["unipc", "euler"])
def test_flipped_velocity_fails(name):
    """The case that must fail: a model that predicts x0 - eps (the other convention) misses the target."""
    x, mu, s = integrate(name, sign=-1.0)
    bad = ~torch.isfinite(x).all() or (x.mean(0).float() - mu).abs().max() > 0.5
    bad = bad or ((x.std(0).float() - s).abs() / s).max() > 0.5
    assert bad, "sampling with the wrong sign recovered the target: the test could not tell them apart"


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="unipc"):
        make_scheduler("ddim")
    assert math.isclose(make_scheduler("euler", shift=2.0).config.shift, 2.0)
