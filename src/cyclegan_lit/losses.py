"""GAN objectives and the WGAN-GP gradient penalty, as the reference's ``models/networks.py``.

``GANLoss`` covers the reference's ``lsgan`` (default), ``vanilla`` and ``wgangp``, plus ``hinge``;
it computes in fp32 so the loss stays stable under bf16/fp16 autocast. ``gradient_penalty`` is
what ``wgangp`` needs to be WGAN-GP at all (the reference never calls its
``cal_gradient_penalty``). Deliberate differences from the reference are listed in docs/model.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_MODES = ("lsgan", "vanilla", "wgangp", "hinge")
PENALTY_KINDS = ("real", "fake", "mixed")


class GANLoss(nn.Module):
    """Adversarial loss for one discriminator output (a PatchGAN map or a single logit).

    ``target_is_real`` says which label the prediction should match: True for real images in the D
    step and for fakes in the G step. ``for_discriminator`` only matters for ``hinge``, whose
    generator loss differs from its discriminator loss.
    """

    def __init__(
        self,
        gan_mode: str = "lsgan",
        target_real_label: float = 1.0,
        target_fake_label: float = 0.0,
    ) -> None:
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(
                f"losses.py: unknown gan_mode {gan_mode!r}; choose one of {', '.join(GAN_MODES)}"
            )
        self.gan_mode = gan_mode
        # Buffers (as in the reference) so the labels follow the module's device.
        self.register_buffer("real_label", torch.tensor(target_real_label))
        self.register_buffer("fake_label", torch.tensor(target_fake_label))

    def extra_repr(self) -> str:
        return f"gan_mode={self.gan_mode!r}"

    def get_target_tensor(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        """The label, expanded to the prediction's shape, in fp32."""
        label = self.real_label if target_is_real else self.fake_label
        return label.to(device=prediction.device, dtype=torch.float32).expand_as(prediction)

    def forward(
        self, prediction: Tensor, target_is_real: bool, for_discriminator: bool = True
    ) -> Tensor:
        pred = prediction.float()
        if self.gan_mode == "lsgan":
            return F.mse_loss(pred, self.get_target_tensor(pred, target_is_real))
        if self.gan_mode == "vanilla":
            return F.binary_cross_entropy_with_logits(
                pred, self.get_target_tensor(pred, target_is_real)
            )
        if self.gan_mode == "hinge" and for_discriminator:
            if target_is_real:
                return F.relu(1.0 - pred).mean()
            return F.relu(1.0 + pred).mean()
        # wgangp, and hinge for the generator: raise the critic's score of the fakes.
        return -pred.mean() if target_is_real else pred.mean()


def gradient_penalty(
    discriminator: nn.Module | Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    kind: str = "mixed",
    constant: float = 1.0,
    lambda_gp: float = 10.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty ``lambda_gp * E[(||∇D(x)||₂ − constant)²]``, as the reference's
    ``cal_gradient_penalty``.

    ``kind`` picks where the gradient is taken: at the real images, the fakes, or (default) at
    per-sample random mixes ``alpha·real + (1−alpha)·fake`` with ``alpha ~ U(0, 1)`` drawn from
    ``generator`` when given. The graph is kept (``create_graph=True``) so the penalty can be
    back-propagated into the discriminator's parameters. ``lambda_gp <= 0`` gives a zero tensor.
    """
    if kind not in PENALTY_KINDS:
        raise ValueError(
            f"losses.py: unknown gradient-penalty kind {kind!r}; "
            f"choose one of {', '.join(PENALTY_KINDS)}"
        )
    if lambda_gp <= 0.0:
        return real.new_zeros((), dtype=torch.float32)
    real = real.detach()
    fake = fake.detach()
    if kind == "real":
        interpolates = real
    elif kind == "fake":
        interpolates = fake
    else:
        if real.shape != fake.shape:
            raise ValueError(
                f"losses.py: gradient_penalty needs real and fake of one shape for kind='mixed', "
                f"got {tuple(real.shape)} and {tuple(fake.shape)}"
            )
        batch = real.shape[0]
        rand_device = generator.device if generator is not None else real.device
        alpha = torch.rand(batch, 1, generator=generator, device=rand_device)
        alpha = alpha.to(device=real.device, dtype=real.dtype).view(
            batch, *([1] * (real.dim() - 1))
        )
        interpolates = alpha * real + (1.0 - alpha) * fake
    interpolates = interpolates.clone().requires_grad_(True)
    scores = discriminator(interpolates)
    (gradients,) = torch.autograd.grad(
        outputs=scores,
        inputs=interpolates,
        grad_outputs=torch.ones_like(scores),
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )
    gradients = gradients.float().reshape(real.shape[0], -1)
    return (((gradients + 1e-16).norm(2, dim=1) - constant) ** 2).mean() * lambda_gp
