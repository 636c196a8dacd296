"""trainer=fast: the precision picked per machine, its config, and 16-mixed's GradScaler under our
manual optimization (two optimizers, one scaler)."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import TINY_MODEL, composed
from lightning.pytorch.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader

from cyclegan_lit import perf
from cyclegan_lit.models import CycleGAN


@pytest.mark.parametrize(
    ("has_bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true"), (None, "32-true")]
)
def test_cpu_gets_bf16_only_with_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch, has_bf16: bool | None, expected: str
) -> None:
    monkeypatch.setattr(perf, "cpu_has_bf16", lambda: has_bf16)
    assert perf.fast_precision("cpu") == expected
    assert perf.fast_settings("cpu").reason


@pytest.mark.parametrize(
    ("bf16", "capability", "expected"),
    [(True, (9, 0), "bf16-mixed"), (False, (7, 5), "16-mixed"), (False, (6, 1), "32-true")],
)
def test_gpu_precision_follows_the_hardware(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, capability: tuple[int, int], expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert perf.resolve_accelerator("auto") == "cuda"
    for name in ("gpu", "cuda", "auto"):
        assert perf.fast_precision(name) == expected


def test_auto_without_a_gpu_is_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(perf, "cpu_has_bf16", lambda: True)
    assert perf.resolve_accelerator("auto") == "cpu"
    assert perf.fast_precision("auto") == "bf16-mixed"
    assert perf.fast_precision("mps") == "32-true"  # nothing measured there
    assert "bf16-mixed" in perf.describe("cpu")


def test_trainer_fast_resolves_the_precision_for_its_accelerator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(perf, "cpu_has_bf16", lambda: False)
    with composed(["trainer=fast", "trainer.accelerator=cpu", "logger=none"], tmp_path) as cfg:
        assert cfg.trainer.precision == "32-true"
    monkeypatch.setattr(perf, "cpu_has_bf16", lambda: True)
    with composed(["trainer=fast", "trainer.accelerator=cpu", "logger=none"], tmp_path) as cfg:
        assert cfg.trainer.precision == "bf16-mixed"
        assert cfg.trainer.max_epochs >= 1  # the rest is trainer/default


def _fit_16_mixed(scaler: torch.amp.GradScaler, batches: int) -> tuple[CycleGAN, dict, list]:
    """A tiny CycleGAN trained in fp16 autocast with ``scaler`` (real fp16 on the CPU: Lightning
    itself turns ``precision=16-mixed`` into bf16 there, so the plugin is passed explicitly)."""
    torch.manual_seed(0)
    model = CycleGAN(**TINY_MODEL)
    before = copy.deepcopy(model.state_dict())
    seen: list[tuple[int, float, float]] = []

    class Spy(L.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
            seen.append((len(params), scaler.get_scale(), float(norm)))

    image = torch.rand(3, 32, 32) * 2 - 1
    data = DataLoader([{"A": image, "B": image.flip(-1)}] * batches, batch_size=1)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)], callbacks=[Spy()],
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=data)
    return model, before, seen


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_16_mixed_scales_both_optimizers_and_skips_overflowing_steps() -> None:
    """Lightning's MixedPrecision plugin handles our two manual optimizers: manual_backward
    scales each loss, each opt.step() unscales (before on_before_optimizer_step, so clipping
    sees true gradients), skips a step whose gradients overflowed, and updates the one scaler."""
    # a scale so large that fp16 gradients overflow: every step is skipped, the scale halves
    # after each optimizer step (G, then D), and no weight moves
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    model, before, seen = _fit_16_mixed(scaler, batches=2)
    assert [scale for _, scale, _ in seen] == [2.0**40, 2.0**39, 2.0**38, 2.0**37]
    assert scaler.get_scale() == 2.0**36
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name

    # scales that do not overflow: both optimizers step, on gradients already unscaled (the
    # same gradient norms whatever the scale)
    norms = []
    for scale in (2.0**6, 2.0**10):
        scaler = torch.amp.GradScaler("cpu", init_scale=scale)
        model, before, seen = _fit_16_mixed(scaler, batches=1)
        assert scaler.get_scale() == scale  # no step was skipped
        (g_params, _, g_norm), (d_params, _, d_norm) = seen
        assert g_params != d_params  # the G step, then the D step
        norms.append((g_norm, d_norm))
        after = model.state_dict()
        for name in ("G_A.model.1.weight", "G_B.model.1.weight", "D_A.model.0.weight"):
            assert not torch.equal(after[name], before[name]), name
    assert norms[0] == pytest.approx(norms[1], rel=0.05)


def test_benchmark_tables_name_the_cpu_its_fast_path_flags_and_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cyclegan_lit import machine

    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16", "sse2"}))
    monkeypatch.setattr(machine, "available_cores", lambda: 3)
    text = machine.describe("cpu")
    assert text.startswith(f"{machine.cpu_model()} (avx2, avx512_bf16), 3 cores, ")
    assert f"{torch.get_num_threads()} torch thread" in text and torch.__version__ in text
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset())
    assert "(no AVX2)" in machine.describe("cpu")
