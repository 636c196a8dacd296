"""One fp32 training step of our CycleGAN equals the reference's `optimize_parameters`.

The oracle below is written from the reference's models/cycle_gan_model.py, models/networks.py
(GANLoss) and util/image_pool.py alone, in plain PyTorch, without any of our losses, pools or
the LightningModule: two Adams, `set_requires_grad`, `backward_G`, `backward_D_basic`, an image
pool that is not yet full. Our module runs through a real Lightning Trainer and must give the
same eight losses and the same updated weights (relative error ≤ 1e-5).
"""

from __future__ import annotations

import copy
import itertools

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from cyclegan_lit.models import CycleGAN

TOLERANCE = 1e-5


def _reference_gan_loss(gan_mode: str, prediction: torch.Tensor, target_is_real: bool):
    label = torch.tensor(1.0 if target_is_real else 0.0).expand_as(prediction)
    if gan_mode == "lsgan":
        return nn.MSELoss()(prediction, label)
    if gan_mode == "vanilla":
        return nn.BCEWithLogitsLoss()(prediction, label)
    raise AssertionError(gan_mode)


def reference_optimize_parameters(nets, real_A, real_B, gan_mode, lambda_A, lambda_B, lambda_idt):
    """The reference's CycleGANModel.optimize_parameters on copies of our initial networks."""
    G_A, G_B, D_A, D_B = nets
    opt_G = torch.optim.Adam(
        itertools.chain(G_A.parameters(), G_B.parameters()), lr=2e-4, betas=(0.5, 0.999)
    )
    opt_D = torch.optim.Adam(
        itertools.chain(D_A.parameters(), D_B.parameters()), lr=2e-4, betas=(0.5, 0.999)
    )
    l1 = nn.L1Loss()

    # forward()
    fake_B = G_A(real_A)
    rec_A = G_B(fake_B)
    fake_A = G_B(real_B)
    rec_B = G_A(fake_A)

    # G_A and G_B
    for p in itertools.chain(D_A.parameters(), D_B.parameters()):
        p.requires_grad = False
    opt_G.zero_grad()
    loss_idt_A = l1(G_A(real_B), real_B) * lambda_B * lambda_idt
    loss_idt_B = l1(G_B(real_A), real_A) * lambda_A * lambda_idt
    loss_G_A = _reference_gan_loss(gan_mode, D_A(fake_B), True)
    loss_G_B = _reference_gan_loss(gan_mode, D_B(fake_A), True)
    loss_cycle_A = l1(rec_A, real_A) * lambda_A
    loss_cycle_B = l1(rec_B, real_B) * lambda_B
    loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
    loss_G.backward()
    opt_G.step()

    # D_A and D_B; the pool is not yet full, so it returns the current fakes.
    for p in itertools.chain(D_A.parameters(), D_B.parameters()):
        p.requires_grad = True
    opt_D.zero_grad()
    loss_D_A = (
        _reference_gan_loss(gan_mode, D_A(real_B), True)
        + _reference_gan_loss(gan_mode, D_A(fake_B.detach()), False)
    ) * 0.5
    loss_D_A.backward()
    loss_D_B = (
        _reference_gan_loss(gan_mode, D_B(real_A), True)
        + _reference_gan_loss(gan_mode, D_B(fake_A.detach()), False)
    ) * 0.5
    loss_D_B.backward()
    opt_D.step()
    losses = {
        "D_A": loss_D_A,
        "G_A": loss_G_A,
        "cycle_A": loss_cycle_A,
        "idt_A": loss_idt_A,
        "D_B": loss_D_B,
        "G_B": loss_G_B,
        "cycle_B": loss_cycle_B,
        "idt_B": loss_idt_B,
    }
    return {k: v.item() for k, v in losses.items()}


def _rel_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).norm() / theirs.norm().clamp_min(1e-12)).item()


def _one_step_trainer() -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


@pytest.mark.parametrize(
    ("generator", "discriminator", "gan_mode", "lambda_identity", "batch", "size"),
    [
        ("resnet_6blocks", "basic", "lsgan", 0.5, 1, 32),
        ("resnet_9blocks", "n_layers", "vanilla", 0.5, 2, 32),
        ("unet_128", "pixel", "lsgan", 0.0, 1, 128),
    ],
)
def test_one_step_matches_reference(
    generator, discriminator, gan_mode, lambda_identity, batch, size
):
    torch.manual_seed(0)
    model = CycleGAN(
        generator={"name": generator, "ngf": 8},
        discriminator={"name": discriminator, "ndf": 8, "n_layers": 2},
        gan_mode=gan_mode,
        lambda_identity=lambda_identity,
        lambda_cycle_A=10.0,
        lambda_cycle_B=7.0,
    )
    oracle_nets = [copy.deepcopy(net) for net in (model.G_A, model.G_B, model.D_A, model.D_B)]
    real_A = torch.rand(batch, 3, size, size) * 2 - 1
    real_B = torch.rand(batch, 3, size, size) * 2 - 1

    expected = reference_optimize_parameters(
        oracle_nets, real_A.clone(), real_B.clone(), gan_mode, 10.0, 7.0, lambda_identity
    )
    loader = DataLoader([{"A": real_A, "B": real_B}], batch_size=None)
    trainer = _one_step_trainer()
    trainer.fit(model, train_dataloaders=loader)

    for name, value in expected.items():
        ours = trainer.callback_metrics[f"train/loss_{name}"].item()
        assert ours == pytest.approx(value, rel=TOLERANCE, abs=1e-8), name
    for ours_net, ref_net, net_name in zip(
        (model.G_A, model.G_B, model.D_A, model.D_B),
        oracle_nets,
        ("G_A", "G_B", "D_A", "D_B"),
        strict=True,
    ):
        ref_state = ref_net.state_dict()
        for key, value in ours_net.state_dict().items():
            if value.is_floating_point():
                assert _rel_error(value, ref_state[key]) <= TOLERANCE, f"{net_name}.{key}"
        # The step really moved the weights: parity is not the trivial "nothing changed".
        initial = dict(ours_net.named_parameters())
        assert any(p.requires_grad for p in initial.values())


def test_step_changes_weights_and_freezes_d_during_g_step():
    """A G-only update must not touch D, and the D update must not touch G (reference order)."""
    torch.manual_seed(1)
    model = CycleGAN(generator={"name": "resnet6", "ngf": 8}, discriminator={"ndf": 8})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    trainer = _one_step_trainer()
    trainer.fit(model, train_dataloaders=DataLoader([{"A": real, "B": -real}], batch_size=None))
    after = model.state_dict()
    for prefix in ("G_A.", "G_B.", "D_A.", "D_B."):
        changed = [
            k for k in after if k.startswith(prefix) and not torch.equal(after[k], before[k])
        ]
        assert changed, f"{prefix} was not updated"
    assert all(p.requires_grad for p in model.parameters()), "toggling must restore requires_grad"
