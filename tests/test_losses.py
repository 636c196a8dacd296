"""GANLoss per mode and the WGAN-GP gradient penalty, against hand-computed numbers."""

import math

import pytest
import torch
from torch import nn

from cyclegan_lit.losses import GAN_MODES, GANLoss, gradient_penalty

torch.set_num_threads(1)

PRED = torch.tensor([[0.2, 0.7]])


def test_lsgan_is_mse_against_the_label():
    loss = GANLoss("lsgan")
    real = ((0.2 - 1) ** 2 + (0.7 - 1) ** 2) / 2
    fake = (0.2**2 + 0.7**2) / 2
    assert loss(PRED, True).item() == pytest.approx(real)
    assert loss(PRED, False).item() == pytest.approx(fake)


def test_lsgan_uses_custom_labels():
    loss = GANLoss("lsgan", target_real_label=0.9, target_fake_label=0.1)
    assert loss(PRED, True).item() == pytest.approx(((0.2 - 0.9) ** 2 + (0.7 - 0.9) ** 2) / 2)
    assert loss(PRED, False).item() == pytest.approx(((0.2 - 0.1) ** 2 + (0.7 - 0.1) ** 2) / 2)


def test_vanilla_is_bce_with_logits():
    loss = GANLoss("vanilla")

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    real = -(math.log(sigmoid(0.2)) + math.log(sigmoid(0.7))) / 2
    fake = -(math.log(1 - sigmoid(0.2)) + math.log(1 - sigmoid(0.7))) / 2
    assert loss(PRED, True).item() == pytest.approx(real)
    assert loss(PRED, False).item() == pytest.approx(fake)


def test_wgangp_signs():
    loss = GANLoss("wgangp")
    assert loss(PRED, True).item() == pytest.approx(-0.45)
    assert loss(PRED, False).item() == pytest.approx(0.45)


def test_hinge_for_discriminator_and_generator():
    loss = GANLoss("hinge")
    pred = torch.tensor([[-2.0, 0.5, 3.0]])
    # D, real: relu(1 - x) -> [3, 0.5, 0]; D, fake: relu(1 + x) -> [0, 1.5, 4]
    assert loss(pred, True).item() == pytest.approx(3.5 / 3)
    assert loss(pred, False).item() == pytest.approx(5.5 / 3)
    # G: -mean(x)
    assert loss(pred, True, for_discriminator=False).item() == pytest.approx(-1.5 / 3)


def test_labels_follow_the_module_and_loss_matches_any_shape():
    loss = GANLoss("lsgan")
    assert {name for name, _ in loss.named_buffers()} == {"real_label", "fake_label"}
    patch = torch.zeros(2, 1, 6, 6)
    assert loss(patch, True).item() == pytest.approx(1.0)
    assert loss(patch, False).item() == pytest.approx(0.0)


def test_unknown_mode_is_a_one_line_error():
    with pytest.raises(ValueError, match="lsgan, vanilla, wgangp, hinge") as info:
        GANLoss("wgan")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", GAN_MODES)
def test_loss_is_fp32_under_bf16_autocast(mode):
    conv = nn.Conv2d(3, 1, 3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = conv(x)
        assert pred.dtype == torch.bfloat16
        value = GANLoss(mode)(pred, True)
    assert value.dtype == torch.float32
    value.backward()
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()


class LinearCritic(nn.Module):
    """D(x) = <w, x> per sample: its input gradient is w everywhere, so the penalty is known."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.weight.flatten()).sum(1)


@pytest.mark.parametrize("kind", ["real", "fake", "mixed"])
def test_penalty_is_zero_for_a_unit_gradient_norm(kind):
    w = torch.randn(3, 4, 4)
    critic = LinearCritic(w / w.norm())
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert gradient_penalty(critic, real, fake, kind=kind).item() == pytest.approx(0.0, abs=1e-8)


def test_penalty_value_for_a_known_linear_critic():
    w = torch.full((3, 4, 4), 0.5)  # ||w|| = 0.5 * sqrt(48)
    critic = LinearCritic(w)
    real, fake = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    expected = 10.0 * (0.5 * math.sqrt(48) - 1.0) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, rel=1e-5)
    expected_c = 2.0 * (0.5 * math.sqrt(48) - 3.0) ** 2
    got = gradient_penalty(critic, real, fake, constant=3.0, lambda_gp=2.0)
    assert got.item() == pytest.approx(expected_c, rel=1e-5)


def test_penalty_trains_the_discriminator_but_not_the_inputs():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real = torch.randn(2, 3, 8, 8)
    fake = torch.randn(2, 3, 8, 8, requires_grad=True)
    penalty = gradient_penalty(disc, real, fake)
    assert penalty.item() > 0
    penalty.backward()
    weights = [p for p in disc.parameters() if p.dim() > 1]  # the last bias has no input gradient
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)
    assert fake.grad is None
    assert not real.requires_grad


def test_mixed_penalty_is_reproducible_with_a_generator():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)

    def penalty(seed):
        return gradient_penalty(disc, real, fake, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(penalty(1), penalty(1))
    assert not torch.equal(penalty(1), penalty(2))


def test_penalty_rejects_unknown_kind_and_skips_when_disabled():
    critic = LinearCritic(torch.ones(3, 2, 2))
    x = torch.randn(1, 3, 2, 2)
    with pytest.raises(ValueError, match="real, fake, mixed"):
        gradient_penalty(critic, x, x, kind="both")
    assert gradient_penalty(critic, x, x, lambda_gp=0.0).item() == 0.0


def test_penalty_under_bf16_autocast_is_fp32_and_trains_d():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = gradient_penalty(disc, real, fake)
    assert penalty.dtype == torch.float32 and torch.isfinite(penalty)
    penalty.backward()
    assert torch.isfinite(disc[0].weight.grad).all() and disc[0].weight.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_penalty_on_cuda_with_a_cpu_generator():
    critic = LinearCritic(torch.full((3, 4, 4), 0.5)).cuda()
    real, fake = torch.randn(2, 3, 4, 4).cuda(), torch.randn(2, 3, 4, 4).cuda()
    got = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert got.device.type == "cuda"
    assert got.item() == pytest.approx(10.0 * (0.5 * math.sqrt(48) - 1.0) ** 2, rel=1e-4)
    assert GANLoss().cuda()(real, True).device.type == "cuda"
