"""The CycleGAN LightningModule: the reference's `CycleGANModel.optimize_parameters`, step for step.

Naming follows the reference's `models/cycle_gan_model.py`: G_A maps A→B, G_B maps B→A, D_A judges
B-domain images (real_B vs G_A(A)) and D_B judges A-domain images. Each batch makes one generator
step with the discriminators frozen, then one discriminator step on pooled fakes from the same
forward pass (no re-forward), exactly as the reference does. Deliberate differences from the
reference are listed in docs/model.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from cyclegan_lit.distributed import destroy_process_group_at_exit
from cyclegan_lit.evaluation.objects import ObjectsRight
from cyclegan_lit.image_pool import ImagePool
from cyclegan_lit.losses import GAN_MODES, GANLoss, gradient_penalty
from cyclegan_lit.messages import check_option_types
from cyclegan_lit.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    canonical_discriminator_name,
    export_reference_weights,
    load_reference_weights,
)
from cyclegan_lit.networks.builders import options_from
from cyclegan_lit.removed_options import check_removed_options
from cyclegan_lit.schedulers import SchedulerConfig, build_scheduler

log = logging.getLogger(__name__)

NET_NAMES = ("G_A", "G_B", "D_A", "D_B")
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


class NonFiniteLossError(ValueError):
    """A loss term became NaN or Inf (a user-facing stop: the message says where and what to do)."""


def _to_unit_range(images: Tensor) -> Tensor:
    """Maps generator output in [-1, 1] to [0, 1] for image metrics."""
    return ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)


class CycleGAN(L.LightningModule):
    """Two generators, two discriminators, two image pools; manual optimization with two Adams.

    `lambda_identity` is relative to the cycle weight, as in the reference: with the defaults the
    identity term weighs 0.5 × 10 = 5. `lambda_cycle_A` / `lambda_cycle_B` override `lambda_cycle`
    per direction (the reference's `lambda_A` / `lambda_B`).
    """

    def __init__(
        self,
        generator: Mapping[str, Any] | GeneratorConfig | None = None,
        discriminator: Mapping[str, Any] | DiscriminatorConfig | None = None,
        scheduler: Mapping[str, Any] | SchedulerConfig | None = None,
        input_nc: int = 3,
        output_nc: int = 3,
        gan_mode: str = "lsgan",
        lambda_cycle: float = 10.0,
        lambda_cycle_A: float | None = None,
        lambda_cycle_B: float | None = None,
        lambda_identity: float = 0.5,
        lambda_gp: float = 10.0,
        pool_size: int = 50,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        gradient_clip_val: float | None = None,
        nonfinite_skips: int = 0,
        compile: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        generator_options = options_from(GeneratorConfig, generator, "model.generator")
        discriminator_options = options_from(
            DiscriminatorConfig, discriminator, "model.discriminator"
        )
        schedule = options_from(SchedulerConfig, scheduler, "model.scheduler")
        lambdas = {
            "lambda_cycle": lambda_cycle,
            "lambda_cycle_A": lambda_cycle_A,
            "lambda_cycle_B": lambda_cycle_B,
            "lambda_identity": lambda_identity,
            "lambda_gp": lambda_gp,
        }
        check_option_types(
            "model",
            numbers={**lambdas, "lr": lr, "beta1": beta1, "beta2": beta2,
                     "gradient_clip_val": gradient_clip_val},
            integers={"pool_size": pool_size, "nonfinite_skips": nonfinite_skips},
        )  # fmt: skip
        _validate_options(gan_mode=gan_mode, lambdas=lambdas, pool_size=pool_size, lr=lr)
        if nonfinite_skips < 0:
            raise ValueError(f"model.nonfinite_skips={nonfinite_skips}: must be >= 0")
        if lambda_identity > 0 and input_nc != output_nc:
            raise ValueError(
                f"model.lambda_identity={lambda_identity}: needs input_nc == output_nc "
                f"(got {input_nc} and {output_nc}); set model.lambda_identity=0"
            )
        # Plain dicts (not dataclasses or OmegaConf nodes): checkpoints load with weights_only=True.
        self.save_hyperparameters(ignore=["generator", "discriminator", "scheduler"])
        self.hparams["generator"] = dataclasses.asdict(generator_options)
        self.hparams["discriminator"] = dataclasses.asdict(discriminator_options)
        self.hparams["scheduler"] = dataclasses.asdict(schedule)
        self.schedule = schedule
        self.automatic_optimization = False

        # Built in the reference's order (G_A, G_B, D_A, D_B) so a seed gives the same weights.
        self.G_A = generator_options.build(input_nc, output_nc)
        self.G_B = generator_options.build(output_nc, input_nc)
        self.D_A = discriminator_options.build(output_nc)
        self.D_B = discriminator_options.build(input_nc)
        self.min_input_size = generator_options.min_input_size
        self.min_discriminator_size = discriminator_options.min_input_size

        self.criterion_gan = GANLoss(gan_mode)
        self._nonfinite_in_a_row = 0
        # Seeded in `setup`, once the DDP rank is known.
        self.fake_A_pool = ImagePool(pool_size)
        self.fake_B_pool = ImagePool(pool_size)

        self.val_metrics = self._make_image_metrics()
        self.test_metrics = self._make_image_metrics()

    # ------------------------------------------------------------------ set-up
    @property
    def lambda_cycle_A(self) -> float:
        """Cycle weight of domain A (the reference's ``lambda_A``): ``lambda_cycle`` unless set."""
        return self._per_cycle("lambda_cycle", "A")

    @property
    def lambda_cycle_B(self) -> float:
        """Cycle weight of domain B (the reference's ``lambda_B``): ``lambda_cycle`` unless set."""
        return self._per_cycle("lambda_cycle", "B")

    def _per_cycle(self, option: str, side: str) -> Any:
        """``<option>_<side>`` where set, else the shared ``<option>`` (``side`` is the cycle's
        domain: A for A→B→A, B for B→A→B)."""
        value = self.hparams[f"{option}_{side}"]
        return self.hparams[option] if value is None else value

    def check_image_size(self, size: int | None, option: str) -> None:
        """One-line error, before any work, when images of side ``size`` (the value of the data
        option ``option``) cannot pass through the generator or the discriminator; ``None``
        means sizes vary."""
        if size is None:
            return
        smallest = self.min_discriminator_size
        if size < smallest:
            options = self.hparams.discriminator
            deep = canonical_discriminator_name(options["name"]) == "n_layers"
            key = "n_layers" if deep else "name"
            raise ValueError(
                f"{option}={size}: model.discriminator.{key}={options[key]} needs images of at "
                f"least {smallest} px; set {option}={smallest} or use a shallower discriminator "
                "(model/discriminator=n_layers model.discriminator.n_layers=N)"
            )
        step = self.min_input_size
        if size % step == 0:
            return
        name = self.hparams.generator["name"]
        hint = " or use a ResNet generator" if step > 4 else ""
        raise ValueError(
            f"{option}={size}: model.generator.name={name} needs image sides that are a multiple "
            f"of {step}; set {option}={max(step, size // step * step)}{hint}"
        )

    @staticmethod
    def _make_image_metrics() -> nn.ModuleDict:
        names = ("AtoB", "BtoA", "identity_AtoB", "identity_BtoA")
        metrics: dict[str, nn.Module] = {}
        for name in names:
            metrics[f"psnr_{name}"] = PeakSignalNoiseRatio(data_range=1.0)
            metrics[f"ssim_{name}"] = StructuralSimilarityIndexMeasure(data_range=1.0)
        for name in names[:2]:  # the identity map gets no object right, by definition
            metrics[f"objects_right_{name}"] = ObjectsRight()
        return nn.ModuleDict(metrics)

    def setup(self, stage: str) -> None:
        destroy_process_group_at_exit()
        # Each DDP rank keeps its own pools (as in the reference); seed them apart.
        rank = self.trainer.global_rank if self._trainer is not None else 0
        seed = int(self.hparams.seed) * 2 + 1_000_003 * rank
        self.fake_A_pool.reseed(seed)
        self.fake_B_pool.reseed(seed + 1)
        if self.hparams.compile and stage == "fit":
            # Compile each network in place (keeps state_dict keys free of `_orig_mod.`),
            # never the whole LightningModule (compiling it fails inside self.log); the
            # generators stay eager where compiling them trains NaN (bf16 on AMX CPUs, torch
            # 2.14: cyclegan_lit.perf.compile_plan), with one line saying so.
            from cyclegan_lit.perf import compile_networks

            trainer = self._trainer
            device = trainer.strategy.root_device.type if trainer is not None else "cpu"
            precision = str(trainer.precision) if trainer is not None else "32-true"
            announce = trainer is None or trainer.is_global_zero
            self.compile_plan = compile_networks(self, device, precision, announce=announce)

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[Any]]:
        hp = self.hparams
        betas = (hp.beta1, hp.beta2)
        generator_params = [*self.G_A.parameters(), *self.G_B.parameters()]
        discriminator_params = [*self.D_A.parameters(), *self.D_B.parameters()]
        opt_g = torch.optim.Adam(generator_params, lr=hp.lr, betas=betas)
        opt_d = torch.optim.Adam(discriminator_params, lr=hp.lr, betas=betas)
        schedulers = [build_scheduler(opt, self.schedule) for opt in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    # ------------------------------------------------------------------ the algorithm
    def forward(self, real_A: Tensor) -> Tensor:
        """A→B translation with G_A (export and inference entry point)."""
        return self.G_A(real_A)

    def translate(self, images: Tensor, direction: str = "AtoB") -> Tensor:
        """Translates a batch in [-1, 1] with G_A (`AtoB`) or G_B (`BtoA`)."""
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        net = self.G_A if direction == "AtoB" else self.G_B
        return net(images)

    def cycle(self, real_A: Tensor, real_B: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The reference's `forward`: fake_B, rec_A, fake_A, rec_B, in its order."""
        fake_B = self.G_A(real_A)
        rec_A = self.G_B(fake_B)
        fake_A = self.G_B(real_B)
        rec_B = self.G_A(fake_A)
        return fake_B, rec_A, fake_A, rec_B

    def generator_losses(
        self,
        real_A: Tensor,
        real_B: Tensor,
        fake_A: Tensor,
        fake_B: Tensor,
        rec_A: Tensor,
        rec_B: Tensor,
    ) -> dict[str, Tensor]:
        """The six generator terms of the reference's `backward_G`, already weighted."""
        lambda_idt = self.hparams.lambda_identity
        lambda_A, lambda_B = self.lambda_cycle_A, self.lambda_cycle_B
        losses: dict[str, Tensor] = {}
        if lambda_idt > 0:
            idt_A = self.G_A(real_B)
            idt_B = self.G_B(real_A)
            losses["idt_A"] = F.l1_loss(idt_A.float(), real_B.float()) * lambda_B * lambda_idt
            losses["idt_B"] = F.l1_loss(idt_B.float(), real_A.float()) * lambda_A * lambda_idt
        else:
            losses["idt_A"] = losses["idt_B"] = real_A.new_zeros((), dtype=torch.float32)
        losses["G_A"] = self.criterion_gan(self.D_A(fake_B), True, for_discriminator=False)
        losses["G_B"] = self.criterion_gan(self.D_B(fake_A), True, for_discriminator=False)
        losses["cycle_A"] = F.l1_loss(rec_A.float(), real_A.float()) * lambda_A
        losses["cycle_B"] = F.l1_loss(rec_B.float(), real_B.float()) * lambda_B
        return losses

    def discriminator_loss(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """The reference's `backward_D_basic`: 0.5·(real + fake), plus the WGAN-GP penalty."""
        loss_real = self.criterion_gan(discriminator(real), True)
        loss_fake = self.criterion_gan(discriminator(fake.detach()), False)
        loss = (loss_real + loss_fake) * 0.5
        if self.hparams.gan_mode == "wgangp":
            penalty = gradient_penalty(
                discriminator, real, fake.detach(), lambda_gp=self.hparams.lambda_gp
            )
            loss = loss + penalty
        return loss

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real_A, real_B = batch["A"], batch["B"]

        # Generator step, discriminators frozen (toggling sets their requires_grad to False).
        with self.toggled_optimizer(opt_g):
            fake_B, rec_A, fake_A, rec_B = self.cycle(real_A, real_B)
            g_losses = self.generator_losses(real_A, real_B, fake_A, fake_B, rec_A, rec_B)
            if self._skip_nonfinite(g_losses, batch_idx):
                return
            loss_G = sum(g_losses.values())
            opt_g.zero_grad()
            self.manual_backward(loss_G)
            opt_g.step()

        # Discriminator step on pooled fakes from the same forward pass (no re-forward).
        with self.toggled_optimizer(opt_d):
            pooled_fake_B = self.fake_B_pool.query(fake_B.detach())
            pooled_fake_A = self.fake_A_pool.query(fake_A.detach())
            loss_D_A = self.discriminator_loss(self.D_A, real_B, pooled_fake_B)
            loss_D_B = self.discriminator_loss(self.D_B, real_A, pooled_fake_A)
            if self._skip_nonfinite({"D_A": loss_D_A, "D_B": loss_D_B}, batch_idx):
                return
            self._nonfinite_in_a_row = 0
            opt_d.zero_grad()
            self.manual_backward(loss_D_A + loss_D_B)
            opt_d.step()

        losses = {**g_losses, "D_A": loss_D_A, "D_B": loss_D_B}
        logged = {f"train/loss_{name}": losses[name].detach() for name in LOSS_NAMES}
        logged["train/lr"] = torch.tensor(opt_g.param_groups[0]["lr"])
        self.log_dict(logged, on_step=True, on_epoch=False, batch_size=len(real_A))
        self.log(
            "train/loss_G", loss_G.detach(), prog_bar=True, on_step=True, batch_size=len(real_A)
        )

    def _skip_nonfinite(self, losses: Mapping[str, Tensor], batch_idx: int) -> bool:
        """False when every loss term is finite. Otherwise skip this step (up to
        ``nonfinite_skips`` batches in a row) or stop with one line naming the term and where."""
        bad = {name: float(v) for name, v in losses.items() if not torch.isfinite(v.detach())}
        if not bad:
            return False
        self._nonfinite_in_a_row += 1
        name, value = next(iter(bad.items()))
        where = f"epoch {self.current_epoch}, batch {batch_idx} (step {self.global_step})"
        if self._nonfinite_in_a_row > self.hparams.nonfinite_skips:
            advice = (
                "lower model.lr, set model.gradient_clip_val, or let model.nonfinite_skips=N "
                "skip up to N such batches in a row"
            )
            if self.hparams.compile:
                # compiled kernels, not the learning rate, are the first suspect: a compiled
                # generator trained NaN from step 2 under bf16 on AMX CPUs (torch 2.14)
                precision = str(self._trainer.precision) if self._trainer is not None else ""
                under = f" under {precision}" if precision.startswith("bf16") else ""
                advice = (
                    f"model.compile=true{under} is the likely cause (torch.compile can produce "
                    "NaN gradients that eager mode does not; README.md, section Speed): retry "
                    f"with model.compile=false; if that fails too, {advice}"
                )
            raise NonFiniteLossError(
                f"train/loss_{name} is {value} at {where}: training stopped, the checkpoints "
                f"already written are kept; {advice}"
            )
        log.warning("skipping %s: train/loss_%s is %s", where, name, value)
        self.log("train/nonfinite_skips", float(self._nonfinite_in_a_row), on_step=True)
        return True

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Here, after the AMP scaler has unscaled the gradients (Lightning issue #18089).
        clip = self.hparams.gradient_clip_val
        if clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def on_train_epoch_end(self) -> None:
        """Steps both schedulers once per epoch, at its end (the reference's HEAD order)."""
        for scheduler in self.lr_schedulers():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(self._plateau_metric())
            else:
                scheduler.step()

    def _plateau_metric(self) -> Tensor:
        name = self.schedule.plateau_monitor
        metrics = self.trainer.callback_metrics
        if name not in metrics:
            available = ", ".join(sorted(metrics)) or "none (is validation disabled?)"
            raise ValueError(
                f"model.scheduler.plateau_monitor={name!r}: not logged, so the plateau policy "
                f"cannot step on it; logged: {available}"
            )
        return metrics[name]

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def visuals(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """The reference's training visuals in [-1, 1]: real, fake, reconstructed, identity."""
        real_A, real_B = batch["A"].to(self.device), batch["B"].to(self.device)
        fake_B, rec_A, fake_A, rec_B = self.cycle(real_A, real_B)
        out = {
            "real_A": real_A,
            "fake_B": fake_B,
            "rec_A": rec_A,
            "real_B": real_B,
            "fake_A": fake_A,
            "rec_B": rec_B,
        }
        if self.hparams.lambda_identity > 0:
            out["idt_B"] = self.G_B(real_A)
            out["idt_A"] = self.G_A(real_B)
        return {name: image.float().clamp(-1, 1) for name, image in out.items()}

    def _evaluate(self, batch: Mapping[str, Any], prefix: str, metrics: nn.ModuleDict) -> None:
        real_A, real_B = batch["A"], batch["B"]
        fake_B, rec_A, fake_A, rec_B = self.cycle(real_A, real_B)
        loss_cycle = F.l1_loss(rec_A.float(), real_A.float()) + F.l1_loss(
            rec_B.float(), real_B.float()
        )
        size = len(real_A)
        self.log(f"{prefix}/loss_cycle", loss_cycle, sync_dist=True, batch_size=size)
        if "A_target" not in batch or "B_target" not in batch:
            return
        pairs = {
            "AtoB": (fake_B, batch["A_target"]),
            "BtoA": (fake_A, batch["B_target"]),
            "identity_AtoB": (real_A, batch["A_target"]),
            "identity_BtoA": (real_B, batch["B_target"]),
        }
        for name, (prediction, target) in pairs.items():
            if prediction.shape[1] != target.shape[1]:
                continue  # identity baseline is undefined across channel counts
            for kind in ("psnr", "ssim"):
                metric = metrics[f"{kind}_{name}"]
                # in fp32 even under bf16/16-mixed: SSIM's filtering in bf16 is far off
                with torch.autocast(self.device.type, enabled=False):
                    metric(_to_unit_range(prediction), _to_unit_range(target))
                self.log(f"{prefix}/{kind}_{name}", metric, batch_size=size)
        if "labels" not in batch:
            return
        sources = {"AtoB": real_A, "BtoA": real_B}
        for name, source in sources.items():
            prediction, target = pairs[name]
            if source.shape[1] != target.shape[1]:
                continue
            metric = metrics[f"objects_right_{name}"]
            metric(prediction, target, source, batch["labels"])
            self.log(f"{prefix}/objects_right_{name}", metric, batch_size=size)

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_metrics)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Any]:
        """Translates a one-domain batch (`A` with G_A, or `B` with G_B)."""
        for domain, direction in (("A", "AtoB"), ("B", "BtoA")):
            if domain in batch:
                fake = self.translate(batch[domain], direction)
                return {"fake": fake, "paths": batch.get(f"{domain}_paths"), "domain": domain}
        raise KeyError(f"predict batches need key 'A' or 'B', got {sorted(batch)}")

    # ------------------------------------------------------------------ checkpoints
    def export_reference(self, directory: str | Path, tag: str = "latest") -> list[Path]:
        """Writes `<tag>_net_{G_A,G_B,D_A,D_B}.pth` that the reference loads (`--epoch <tag>`)."""
        nets = {name: getattr(self, name) for name in NET_NAMES}
        return export_reference_weights(nets, directory, tag=tag)

    def load_reference(
        self, directory: str | Path, tag: str = "latest", names: tuple[str, ...] = NET_NAMES
    ) -> CycleGAN:
        """Loads the reference's `<tag>_net_<name>.pth` files (missing D files may be left out)."""
        for name in names:
            load_reference_weights(getattr(self, name), Path(directory) / f"{tag}_net_{name}.pth")
        return self

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Optimizers, schedulers and the AMP scaler are saved by Lightning; the pools and the torch
        # RNG (dropout, the WGAN-GP mixing weights) are ours. The data's randomness is a function
        # of (seed, epoch, index) and needs no state (data/sampling.py). A checkpoint of an
        # earlier version may also hold `noise_rng` (its removed cycle noise): it is not read.
        # Under DDP each rank has its own pools and RNG: rank 0 gathers them all, since it alone
        # writes the file (every rank calls this hook).
        state = self._random_state()
        world_size = self.trainer.world_size if self._trainer is not None else 1
        if world_size > 1 and torch.distributed.is_initialized():
            gathered = [None] * world_size if self.trainer.global_rank == 0 else None
            torch.distributed.gather_object(state, gathered, dst=0)
            checkpoint["random_state_per_rank"] = gathered
        else:
            checkpoint.update(state)

    def _random_state(self) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        pools = {"fake_A": self.fake_A_pool.state_dict(), "fake_B": self.fake_B_pool.state_dict()}
        return {"image_pools": pools, "torch_rng": rng}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # load_from_checkpoint drops hyper-parameters __init__ does not take: refuse a checkpoint
        # trained with a removed option here (cyclegan_lit.removed_options)
        ckpt_path = self._trainer.ckpt_path if self._trainer is not None else None
        source = f"ckpt_path={ckpt_path}" if ckpt_path else "checkpoint"
        check_removed_options(checkpoint.get("hyper_parameters"), source)
        per_rank = checkpoint.get("random_state_per_rank") or [checkpoint]
        resuming = self._trainer is not None
        rank, world_size = (
            (self.trainer.global_rank, self.trainer.world_size) if resuming else (0, 1)
        )
        state = per_rank[rank] if len(per_rank) == world_size else per_rank[0]
        if resuming and len(per_rank) != world_size and rank == 0:
            log.warning(
                "the checkpoint holds the image pools and random state of %d process(es), this "
                "run has %d: each process starts from rank 0's, so the resumed run is not "
                "bit-identical to an uninterrupted one (resume with the same number of devices "
                "for that)",
                len(per_rank),
                world_size,
            )
        pools = state.get("image_pools")
        if pools:
            self.fake_A_pool.load_state_dict(pools["fake_A"])
            self.fake_B_pool.load_state_dict(pools["fake_B"])
        rng = state.get("torch_rng")
        if rng:
            torch.set_rng_state(rng["cpu"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])


def _validate_options(
    gan_mode: str,
    lambdas: Mapping[str, float | None],
    pool_size: int,
    lr: float,
) -> None:
    """One-line errors naming the config option, before any network is built."""
    if gan_mode not in GAN_MODES:
        raise ValueError(f"model.gan_mode={gan_mode!r}: not one of {', '.join(GAN_MODES)}")
    for name, value in lambdas.items():
        if value is not None and value < 0:
            raise ValueError(f"model.{name}={value}: must be >= 0")
    if pool_size < 0:
        raise ValueError(f"model.pool_size={pool_size}: must be >= 0 (0 disables the image pool)")
    if lr <= 0:
        raise ValueError(f"model.lr={lr}: must be > 0")
