"""The CycleGAN LightningModule through a real Trainer: precision, checkpoints, DDP, options."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from cyclegan_lit.models import CycleGAN
from cyclegan_lit.models.cyclegan import NonFiniteLossError

TINY = {
    "generator": {"name": "resnet_6blocks", "ngf": 8},
    "discriminator": {"name": "basic", "ndf": 8},
}


class RandomUnpaired(Dataset):
    """Tiny A/B tensors in [-1, 1], deterministic per index; picklable for ddp_spawn."""

    def __init__(self, length: int = 4, size: int = 32) -> None:
        self.length, self.size = length, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(index)
        a = torch.rand(3, self.size, self.size, generator=g) * 2 - 1
        b = torch.rand(3, self.size, self.size, generator=g) * 2 - 1
        return {"A": a, "B": b, "A_paths": f"a{index}.png", "B_paths": f"b{index}.png"}


class RandomPaired(RandomUnpaired):
    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        return {**item, "A_target": -item["A"], "B_target": -item["B"]}


def _trainer(tmp_path, **overrides) -> L.Trainer:
    kwargs = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": tmp_path,
    }
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def _loader(dataset=None, batch_size: int = 1) -> DataLoader:
    return DataLoader(dataset or RandomUnpaired(), batch_size=batch_size)


@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
def test_trains_a_few_steps_with_finite_losses(tmp_path, precision):
    torch.manual_seed(0)
    model = CycleGAN(**TINY, scheduler={"n_epochs": 1, "n_epochs_decay": 0})
    trainer = _trainer(tmp_path, precision=precision, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    for name in ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"):
        value = trainer.callback_metrics[f"train/loss_{name}"].item()
        assert math.isfinite(value) and value > 0, name
    # Four batches filled four slots of each pool.
    assert len(model.fake_A_pool) == 4 and len(model.fake_B_pool) == 4
    assert all(p.dtype == torch.float32 for p in model.parameters())


class RecordStepGradNorms(L.Callback):
    """The norm of the gradients each optimizer step used, per optimizer.

    Lightning runs the closure (backward, then ``on_before_optimizer_step``, where the model
    clips) inside ``optimizer.step``, so a step pre-hook would see the unclipped grads; a post-hook
    sees the grads the update read (Adam leaves ``.grad`` as it found it).
    """

    def __init__(self) -> None:
        self.norms: list[list[float]] = []

    def on_fit_start(self, trainer, pl_module):
        self.norms = [[] for _ in trainer.optimizers]
        for norms, optimizer in zip(self.norms, trainer.optimizers, strict=True):

            def record(opt, args, kwargs, norms=norms):
                grads = [
                    p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None
                ]
                norms.append(
                    torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
                )

            optimizer.register_step_post_hook(record)


@pytest.mark.parametrize("gan_mode", ["wgangp", "hinge"])
def test_other_gan_modes_train(tmp_path, gan_mode):
    """The other GAN modes train, and ``gradient_clip_val`` clips both optimizers' grads."""
    clip = 1e-3
    norms = {}
    for clip_val in (clip, None):
        torch.manual_seed(0)
        model = CycleGAN(**TINY, gan_mode=gan_mode, gradient_clip_val=clip_val)
        recorder = RecordStepGradNorms()
        trainer = _trainer(
            tmp_path, limit_train_batches=1, limit_val_batches=0, callbacks=[recorder]
        )
        trainer.fit(model, train_dataloaders=_loader())
        assert math.isfinite(trainer.callback_metrics["train/loss_D_A"].item())
        norms[clip_val] = recorder.norms
    # One batch: one generator step and one discriminator step.
    (clipped_G,), (clipped_D,) = norms[clip]
    (free_G,), (free_D,) = norms[None]
    assert clipped_G <= clip * (1 + 1e-4) and clipped_D <= clip * (1 + 1e-4)
    # The same seed and batch without clipping: the grads were far over the limit.
    assert free_G > 10 * clip and free_D > 10 * clip


def test_wgangp_penalty_is_in_the_discriminator_loss():
    torch.manual_seed(0)
    with_gp = CycleGAN(**TINY, gan_mode="wgangp", lambda_gp=10.0)
    real, fake = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.manual_seed(1)
    loss_with = with_gp.discriminator_loss(with_gp.D_A, real, fake)
    with_gp.hparams.lambda_gp = 0.0
    torch.manual_seed(1)
    loss_without = with_gp.discriminator_loss(with_gp.D_A, real, fake)
    assert loss_with.item() > loss_without.item()


def test_linear_policy_keeps_lr_then_decays_per_epoch(tmp_path):
    model = CycleGAN(**TINY, scheduler={"policy": "linear", "n_epochs": 2, "n_epochs_decay": 2})
    trainer = _trainer(
        tmp_path, max_epochs=model.schedule.total_epochs, limit_train_batches=1, limit_val_batches=0
    )
    lrs = []

    class RecordLR(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            lrs.append(pl_module.optimizers()[0].param_groups[0]["lr"])

    trainer.callbacks.append(RecordLR())
    trainer.fit(model, train_dataloaders=_loader())
    # Reference HEAD: constant for n_epochs, then 1 - k/(n_decay+1).
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 / 3])


def test_plateau_policy_needs_a_logged_metric(tmp_path):
    model = CycleGAN(**TINY, scheduler={"policy": "plateau", "plateau_monitor": "val/loss_cycle"})
    trainer = _trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    with pytest.raises(ValueError, match="plateau_monitor"):
        trainer.fit(model, train_dataloaders=_loader())
    model = CycleGAN(**TINY, scheduler={"policy": "plateau"})
    trainer = _trainer(tmp_path, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(model, train_dataloaders=_loader(), val_dataloaders=_loader())
    assert "val/loss_cycle" in trainer.callback_metrics


def test_validation_reports_ground_truth_scores(tmp_path):
    model = CycleGAN(**TINY)
    trainer = _trainer(tmp_path)
    (metrics,) = trainer.validate(model, dataloaders=_loader(RandomPaired(), batch_size=2))
    for name in ("psnr_AtoB", "ssim_AtoB", "psnr_BtoA", "ssim_BtoA", "psnr_identity_AtoB"):
        assert math.isfinite(metrics[f"val/{name}"]), name
    # The identity map of x against -x is the worst case: PSNR well under 10 dB.
    assert metrics["val/psnr_identity_AtoB"] < 10


def test_validation_counts_objects_translated_right_on_the_built_in_data(tmp_path):
    """With the built-in data's object labels, val reports the share of objects right: none for
    an untrained model (it changes every object, but not into its striped self)."""
    from cyclegan_lit.data import UnpairedDataModule

    dm = UnpairedDataModule(
        name="synthetic", data_dir=str(tmp_path), synthetic_size=64, synthetic_train=2,
        synthetic_test=2, load_size=64, crop_size=64, num_workers=0, batch_size=2,
        num_val_images=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = CycleGAN(**{**TINY, "generator": {"name": "unet_128", "num_downs": 6, "ngf": 8}})
    (metrics,) = _trainer(tmp_path).validate(model, datamodule=dm)
    for direction in ("AtoB", "BtoA"):
        assert metrics[f"val/objects_right_{direction}"] == 0.0


def test_checkpoint_restores_weights_optimizers_and_pools(tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(**TINY, pool_size=2)
    trainer = _trainer(tmp_path, limit_train_batches=4, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    assert len(checkpoint["optimizer_states"]) == 2 and len(checkpoint["lr_schedulers"]) == 2
    assert set(checkpoint["image_pools"]) == {"fake_A", "fake_B"}

    restored = CycleGAN.load_from_checkpoint(path, map_location="cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(restored.G_A(x), model.G_A(x))
        assert torch.equal(restored.translate(x, "BtoA"), model.translate(x, "BtoA"))
    # The pools continue with the same sequence after the restore.
    fake = torch.rand(3, 3, 32, 32)
    assert torch.equal(restored.fake_A_pool.query(fake), model.fake_A_pool.query(fake))


def test_resume_continues_epochs_and_optimizer_state(tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(**TINY, scheduler={"n_epochs": 1, "n_epochs_decay": 1})
    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    path = tmp_path / "epoch1.ckpt"
    trainer.save_checkpoint(path)
    resumed = CycleGAN(**TINY, scheduler={"n_epochs": 1, "n_epochs_decay": 1})
    trainer2 = _trainer(tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=0)
    trainer2.fit(resumed, train_dataloaders=_loader(), ckpt_path=path)
    assert trainer2.current_epoch == 2
    # Adam's step count went on from the checkpoint instead of restarting at zero.
    state = resumed.optimizers()[0].optimizer.state
    steps = {int(s["step"]) for s in state.values()}
    assert steps == {4}


def test_visuals_and_predict(tmp_path):
    model = CycleGAN(**TINY)
    batch = next(iter(_loader(batch_size=2)))
    visuals = model.visuals(batch)
    assert set(visuals) == {
        "real_A",
        "fake_B",
        "rec_A",
        "idt_B",
        "real_B",
        "fake_A",
        "rec_B",
        "idt_A",
    }
    assert all(v.shape == (2, 3, 32, 32) and v.abs().max() <= 1 for v in visuals.values())
    no_idt = CycleGAN(**TINY, lambda_identity=0)
    assert "idt_A" not in no_idt.visuals(batch)
    trainer = _trainer(tmp_path)
    predictions = trainer.predict(model, dataloaders=DataLoader([{"B": batch["B"][0]}]))
    assert predictions[0]["domain"] == "B" and predictions[0]["fake"].shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"gan_mode": "wgan"}, "model.gan_mode"),
        ({"scheduler": {"policy": "exp"}}, "model.scheduler.policy"),
        ({"lambda_cycle": -1.0}, "model.lambda_cycle"),
        ({"pool_size": -1}, "model.pool_size"),
        ({"lr": "abc"}, "model.lr='abc': must be a number"),
        ({"beta1": True}, "model.beta1=True: must be a number"),
        ({"pool_size": 2.5}, "model.pool_size=2.5: must be an integer"),
        ({"lambda_identity": 0.5, "input_nc": 1}, "model.lambda_identity"),
        ({"scheduler": {"n_epochs": 0, "n_epochs_decay": 0}}, "model.scheduler.n_epochs"),
    ],
)
def test_bad_options_name_the_option(kwargs, option):
    with pytest.raises(ValueError, match=option.replace(".", r"\.")) as info:
        CycleGAN(**TINY, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"generator": {"nfg": 8}}, r"^model\.generator\.nfg=8: .*known: .*ngf"),
        ({"generator": {"norm": "group"}}, r"^model\.generator\.norm='group': .*instance"),
        ({"generator": {"name": "resnet_12blocks"}}, r"^model\.generator\.name='resnet_12blocks'"),
        ({"discriminator": {"init_type": "uniform"}}, r"^model\.discriminator\.init_type="),
    ],
)
def test_bad_network_options_name_their_key(options, message):
    with pytest.raises(ValueError, match=message) as info:
        CycleGAN(**options)
    assert "\n" not in str(info.value)


def test_grayscale_to_rgb_without_identity(tmp_path):
    model = CycleGAN(**TINY, input_nc=1, output_nc=3, lambda_identity=0)
    assert model.G_A(torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    assert model.G_B(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)


class AssertRanksInSync(L.Callback):
    """Raises inside the worker if the two ranks' weights differ after training (no real DDP)."""

    def on_train_end(self, trainer, pl_module):
        checksums = torch.stack([p.detach().double().sum() for p in pl_module.parameters()])
        gathered = pl_module.all_gather(checksums)
        assert gathered.shape[0] == 2
        torch.testing.assert_close(gathered[0], gathered[1], rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    """2-process gloo DDP through Lightning: ranks stay in sync and training moves the weights."""
    torch.manual_seed(0)
    model = CycleGAN(**TINY, pool_size=2)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer(
        tmp_path,
        devices=2,
        strategy="ddp_spawn_find_unused_parameters_true",
        limit_train_batches=2,
        limit_val_batches=0,
        callbacks=[AssertRanksInSync()],
    )
    trainer.fit(model, train_dataloaders=_loader(RandomUnpaired(length=8)))
    # ddp_spawn copies the rank-0 weights back into the parent's module.
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, initial[k])]
    assert any(k.startswith("G_A.") for k in changed) and any(k.startswith("D_B.") for k in changed)
    assert math.isfinite(trainer.callback_metrics["train/loss_G"].item())


def test_reference_export_round_trip(tmp_path):
    """Our four nets export to the reference's file names and load back bit for bit."""
    model = CycleGAN(**TINY)
    paths = model.export_reference(tmp_path, tag="7")
    assert sorted(p.name for p in paths) == [f"7_net_{n}.pth" for n in ("D_A", "D_B", "G_A", "G_B")]
    # What the reference does on load: weights_only torch.load + strict load_state_dict.
    state = torch.load(tmp_path / "7_net_G_A.pth", map_location="cpu", weights_only=True)
    fresh = CycleGAN(**TINY)
    fresh.G_A.load_state_dict(state, strict=True)
    fresh.load_reference(tmp_path, tag="7", names=("G_B", "D_A", "D_B"))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        for name in ("G_A", "G_B", "D_A", "D_B"):
            assert torch.equal(getattr(fresh, name)(x), getattr(model, name)(x)), name


def test_hparams_from_omegaconf_are_plain_and_checkpoint_loads_weights_only(tmp_path):
    """Hydra passes DictConfigs; the checkpoint must still load with weights_only=True."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(TINY)
    model = CycleGAN(generator=cfg.generator, discriminator=cfg.discriminator)
    assert type(model.hparams["generator"]) is dict
    assert (
        model.hparams["generator"]["ngf"] == 8 and model.hparams["generator"]["norm"] == "instance"
    )
    trainer = _trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    checkpoint = torch.load(tmp_path / "m.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["generator"]["name"] == "resnet_6blocks"


def test_image_metrics_are_fp32_under_mixed_precision(tmp_path):
    """The identity baseline does not depend on the model: bf16-mixed must not change it."""
    model = CycleGAN(**TINY)
    scores = {}
    for precision in ("32", "bf16-mixed"):
        trainer = _trainer(tmp_path, precision=precision)
        (result,) = trainer.validate(model, dataloaders=_loader(RandomPaired(), batch_size=2))
        scores[precision] = result
    for name in ("val/ssim_identity_AtoB", "val/psnr_identity_BtoA"):
        assert scores["bf16-mixed"][name] == pytest.approx(scores["32"][name], rel=1e-5), name


class NaNAt(RandomUnpaired):
    """Item ``bad`` has a NaN pixel in A, like a corrupt float image."""

    def __init__(self, bad: int, length: int = 4) -> None:
        super().__init__(length)
        self.bad = bad

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        if index == self.bad:
            item["A"][0, 0, 0] = float("nan")
        return item


def test_a_nan_loss_stops_with_one_line_and_no_step(tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(**TINY)
    trainer = _trainer(tmp_path, limit_val_batches=0)
    with pytest.raises(ValueError, match=r"^train/loss_\w+ is nan at epoch 0, batch 2") as info:
        trainer.fit(model, train_dataloaders=_loader(NaNAt(bad=2)))
    assert "\n" not in str(info.value) and "model.nonfinite_skips" in str(info.value)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN batch never stepped


@pytest.mark.parametrize("precision", [None, "32-true", "bf16-mixed"])
def test_a_nan_loss_with_compile_on_names_compile_not_the_learning_rate(tmp_path, precision):
    """Issue 24: a compiled generator trained NaN under bf16 on AMX CPUs (torch 2.14), and the
    stop message advised lowering model.lr. With model.compile=true it names compile (and bf16
    when that is the precision) as the likely cause and says to retry without it."""
    model = CycleGAN(**TINY, compile=True)
    if precision is not None:
        model.trainer = _trainer(tmp_path, precision=precision)
    with pytest.raises(NonFiniteLossError) as info:
        model._skip_nonfinite({"idt_A": torch.tensor(float("nan"))}, batch_idx=2)
    message = str(info.value)
    assert message.startswith("train/loss_idt_A is nan at epoch 0, batch 2") and "\n" not in message
    likely = message.index("model.compile=true")
    assert likely < message.index("retry with model.compile=false") < message.index("model.lr")
    assert "README.md, section Speed" in message
    assert ("under bf16-mixed" in message) == (precision == "bf16-mixed")

    model = CycleGAN(**TINY)  # compile off: the advice stays the learning rate and clipping
    with pytest.raises(NonFiniteLossError) as info:
        model._skip_nonfinite({"idt_A": torch.tensor(float("nan"))}, batch_idx=2)
    assert "compile" not in str(info.value) and "lower model.lr" in str(info.value)


def test_nonfinite_skips_lets_a_bad_batch_pass(tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(**TINY, nonfinite_skips=1)
    trainer = _trainer(tmp_path, limit_val_batches=0, log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=_loader(NaNAt(bad=1)))
    assert trainer.fit_loop.epoch_loop.batch_progress.current.completed == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # Adam stepped for three batches, not four
    steps = {int(s["step"]) for s in model.optimizers()[0].optimizer.state.values()}
    assert steps == {3}


@pytest.mark.parametrize(
    ("generator", "size", "message"),
    [
        (
            "unet_256",
            128,
            r"^data\.crop_size=128: .*unet_256 .*multiple of 256; set data\.crop_size=256",
        ),
        ("unet_128", 200, r"^data\.crop_size=200: .*multiple of 128; set data\.crop_size=128"),
        ("resnet_6blocks", 30, r"^data\.crop_size=30: .*multiple of 4; set data\.crop_size=28$"),
    ],
)
def test_image_sizes_the_generator_cannot_take_are_refused(generator, size, message):
    model = CycleGAN(generator={"name": generator, "ngf": 8}, discriminator={"ndf": 8})
    with pytest.raises(ValueError, match=message):
        model.check_image_size(size, "data.crop_size")
    model.check_image_size(model.min_input_size * 8, "data.crop_size")
    model.check_image_size(None, "data.preprocess")  # sizes vary: nothing to check up front


@pytest.mark.parametrize(
    ("discriminator", "size", "message"),
    [
        (
            {"name": "n_layers", "n_layers": 5},
            64,
            r"n_layers=5 needs .* 96 px; set data\.crop_size=96",
        ),
        ({"name": "basic"}, 16, r"^data\.crop_size=16: model\.discriminator\.name=basic .* 24 px"),
        ({"name": "nlayers", "n_layers": 4}, 40, r"discriminator\.n_layers=4 needs .* 48 px"),
    ],
)
def test_image_sizes_the_discriminator_cannot_take_are_refused(discriminator, size, message):
    """Found by a run that stopped in its first step with an InstanceNorm error naming no option."""
    model = CycleGAN(
        generator={"name": "resnet_6blocks", "ngf": 8}, discriminator={**discriminator, "ndf": 8}
    )
    with pytest.raises(ValueError, match=message):
        model.check_image_size(size, "data.crop_size")
    smallest = model.min_discriminator_size
    batch = torch.zeros(1, 3, smallest, smallest)
    assert model.D_A.train()(batch).shape[-1] == 1  # the smallest size allowed does train
    model.check_image_size(smallest, "data.crop_size")


def test_the_cycle_is_the_references_forward():
    """fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A), in the
    reference's order, drawing no random numbers; the gradient of each cycle term reaches both
    generators."""
    torch.manual_seed(0)
    model = CycleGAN(**TINY).eval()
    a, b = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        state = torch.get_rng_state()
        fake_B, rec_A, fake_A, rec_B = model.cycle(a, b)
        assert torch.equal(torch.get_rng_state(), state)
        assert torch.equal(fake_B, model.G_A(a)) and torch.equal(fake_A, model.G_B(b))
        assert torch.equal(rec_A, model.G_B(fake_B)) and torch.equal(rec_B, model.G_A(fake_A))
    for term in ("cycle_A", "cycle_B"):
        model.zero_grad()
        fake_B, rec_A, fake_A, rec_B = model.cycle(a, b)
        model.generator_losses(a, b, fake_A, fake_B, rec_A, rec_B)[term].backward()
        for net in (model.G_A, model.G_B):
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_the_generators_share_one_adam(tmp_path):
    """As in the reference: one Adam over G_A's and G_B's parameters, at model.lr, and
    train/lr is its rate."""
    model = CycleGAN(**TINY)
    (opt_g, _), _ = model.configure_optimizers()
    (group,) = opt_g.param_groups
    assert group["lr"] == model.hparams.lr
    expected = [*model.G_A.parameters(), *model.G_B.parameters()]
    assert len(group["params"]) == len(expected)
    assert all(p is q for p, q in zip(group["params"], expected, strict=True))
    trainer = _trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    assert trainer.logged_metrics["train/lr"] == pytest.approx(model.hparams.lr)
    assert not any("lr_G" in name for name in trainer.logged_metrics)


def test_a_ddp_checkpoint_resumed_on_one_device_says_it_is_not_exact(tmp_path, caplog):
    """A checkpoint holding 2 ranks' pools and RNG, resumed by 1 process: rank 0's state, and a
    warning that the resume is then not bit-identical."""
    torch.manual_seed(0)
    model = CycleGAN(**TINY, pool_size=2)
    trainer = _trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=_loader())
    path = tmp_path / "ddp.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    other = {"image_pools": {"fake_A": {**checkpoint["image_pools"]["fake_A"], "images": []},
                             "fake_B": checkpoint["image_pools"]["fake_B"]},
             "torch_rng": checkpoint["torch_rng"]}  # fmt: skip
    mine = {"image_pools": checkpoint["image_pools"], "torch_rng": checkpoint["torch_rng"]}
    checkpoint["random_state_per_rank"] = [mine, other]
    torch.save(checkpoint, path)

    resumed = CycleGAN(**TINY, pool_size=2)
    with caplog.at_level("WARNING", logger="cyclegan_lit.models.cyclegan"):
        _trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
            resumed, train_dataloaders=_loader(), ckpt_path=path
        )
    assert "state of 2 process(es), this run has 1" in caplog.text
    assert "not bit-identical" in caplog.text
    assert len(resumed.fake_A_pool) == 2  # rank 0's pool, not rank 1's empty one
