"""Seconds per CycleGAN training iteration: the fp32 eager baseline against mixed precision,
channels_last and torch.compile, in one run, with iterations alternated so noise hits all alike.

    python benchmarks/train_speed.py --size 128 --configs bf16-mixed 32-true+cl bf16-mixed+compile
    python benchmarks/train_speed.py --size 32 --ngf 8 --ndf 8 --iters 3 --out -     # quick look
    python benchmarks/train_speed.py --size 128 --skip-train --losses 20 --configs bf16-mixed
    python benchmarks/train_speed.py --skip-train --translate 256 1024 --configs bf16-mixed

A configuration is ``PRECISION[+cl][+compile]``: a Lightning precision (32-true, bf16-mixed,
16-mixed), ``+cl`` for channels_last weights and inputs, ``+compile`` for the module's own
``compile=True`` (each network compiled in place). Each configuration is the real ``CycleGAN``
LightningModule fitted by its own Lightning Trainer (manual optimization, as ``cyclegan-train``
drives it); the timed work is exactly one ``training_step`` (both G updates and both D updates),
from ``on_train_batch_start`` to ``on_train_batch_end``. The Trainers run in threads that pass a
baton, so exactly one computes at a time and the fp32 eager baseline (always measured) and every
candidate take turns, one iteration each: a slow spell on a shared machine slows them all.

Rows are printed and appended to ``benchmarks/RESULTS.md`` (``--out -``: print only). Each row
has the command that reproduces it. ``--translate`` times a generator forward (eval, no grad),
what ``cyclegan-translate`` runs per image.

A fast configuration must train the same model, not only run fast: every timed run also compares
each candidate's loss terms, step by step over its warm-up and timed steps, with the fp32
baseline's from the same seed and batches (``--losses N`` does the same over N untimed steps),
and marks a candidate WRONG in both tables when they do not track (``tracking_verdict``): a loss
that stopped training (NaN or Inf: the module stops with ``NonFiniteLossError``, recorded here
instead of ending the run) or drifted past ``TRACK_LIMITS``. channels_last is also checked on
its own (``channels_last_norm_error``).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import datetime
import functools
import gc
import logging
import math
import os
import shlex
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from cyclegan_lit.machine import describe
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.models.cyclegan import LOSS_NAMES, NonFiniteLossError
from cyclegan_lit.networks.builders import build_generator
from cyclegan_lit.perf import NETWORKS

RESULTS = Path(__file__).parent / "RESULTS.md"
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
# One training iteration of the paper model at 256 px, batch 1 (FlopCounterMode, convs only,
# forward + backward; /work/shared/REFERENCE.md §2). FLOPs scale with pixels and batch.
PAPER_FLOPS_256 = 1.879e12
MiB = 2**20


# ------------------------------------------------------------------------------ configurations
@dataclass(frozen=True)
class Config:
    """One way to train: a Lightning precision, channels_last or not, compiled or not."""

    precision: str = "32-true"
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def parse(cls, text: str) -> Config:
        precision, *flags = text.split("+")
        if precision not in PRECISIONS:
            raise ValueError(f"{text!r}: precision must be one of {', '.join(PRECISIONS)}")
        unknown = set(flags) - {"cl", "compile"}
        if unknown:
            raise ValueError(f"{text!r}: unknown flag(s) {', '.join(sorted(unknown))}")
        return cls(precision, "cl" in flags, "compile" in flags)

    @property
    def label(self) -> str:
        return "+".join(
            [self.precision, *(["cl"] if self.channels_last else []), *(["compile"] * self.compile)]
        )


BASELINE = Config()


@dataclass
class Measured:
    """What one configuration's thread recorded."""

    config: Config
    warmup: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    losses: list[dict[str, float]] = field(default_factory=list)
    step_mib: float = float("nan")
    flops: float | None = None
    error: BaseException | None = None
    stopped: str | None = None  # the NonFiniteLossError that ended its training
    compiled: tuple[str, ...] | None = None  # the networks model.compile compiled (its plan)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def minimum(self) -> float:
        return min(self.seconds) if self.seconds else float("nan")


# ------------------------------------------------------------------------------ the machine
def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class StepMemory:
    """Peak memory one step adds over what is resident between steps (weights, Adam state).

    GPU: the caching allocator's exact peak. CPU: the kernel's peak RSS (VmHWM), reset before the
    step through /proc/self/clear_refs, after returning freed heap memory with malloc_trim, since
    the configurations share one process and would otherwise reuse each other's freed pages. The
    trim costs page faults, so it runs before warm-up steps only, and the CPU figure comes from
    the last warm-up step.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._before = 0
        try:
            self._trim = ctypes.CDLL("libc.so.6").malloc_trim
        except OSError:
            self._trim = None

    @staticmethod
    def _status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    def start(self, trim: bool) -> None:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            self._before = torch.cuda.memory_allocated()
            return
        if trim:
            gc.collect()
            if self._trim is not None:
                self._trim(0)
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self._before = self._status("VmRSS")
        except OSError:
            self._before = -1

    def peak_mib(self) -> float:
        if self.device == "cuda":
            return (torch.cuda.max_memory_allocated() - self._before) / MiB
        if self._before < 0:
            return float("nan")
        return (self._status("VmHWM") - self._before) / MiB


def channels_last_norm_error(device: str, batch: int) -> float:
    """Relative error of InstanceNorm's input gradient when the gradient arriving from the next
    layer is channels_last (what a channels_last conv hands back) and the input is not. torch
    2.14 on the CPU gets it wrong at batch 1 (error ~1), which makes +cl training wrong there."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 16, 8, 8, generator=generator, dtype=torch.float64)
    grad = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    exact = x.clone().requires_grad_()
    torch.nn.functional.instance_norm(exact).backward(grad)
    tested = x.float().to(device).requires_grad_()
    torch.nn.functional.instance_norm(tested).backward(
        grad.float().to(device).contiguous(memory_format=torch.channels_last)
    )
    error = (tested.grad.double().cpu() - exact.grad).abs().max() / exact.grad.abs().max()
    return float(error)


# ------------------------------------------------------------------------------ turn-taking
class Turns:
    """A baton passed round-robin between the Trainer threads: one training step at a time."""

    def __init__(self, n: int) -> None:
        self._cond = threading.Condition()
        self._active = list(range(n))
        self._turn = 0

    def wait(self, who: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn == who)

    def done(self, who: int) -> None:
        with self._cond:
            position = self._active.index(who)
            self._turn = self._active[(position + 1) % len(self._active)]
            self._cond.notify_all()

    def leave(self, who: int) -> None:
        with self._cond:
            if who not in self._active:
                return
            position = self._active.index(who)
            self._active.remove(who)
            if self._turn == who and self._active:
                self._turn = self._active[position % len(self._active)]
            self._cond.notify_all()


class StepTimer(L.Callback):
    """Times each training step of one Trainer, in turn with the others; records its losses."""

    def __init__(
        self, who: int, turns: Turns, result: Measured, warmup: int, device: str, count_flops: bool
    ) -> None:
        self.who, self.turns, self.result = who, turns, result
        self.warmup, self.device, self.count_flops = warmup, device, count_flops
        self.memory = StepMemory(device)
        self._counter: FlopCounterMode | None = None
        self._start = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.turns.wait(self.who)
        if self.count_flops and batch_idx == 0:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        synchronize(self.device)
        self.memory.start(trim=batch_idx < self.warmup)
        self._start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        synchronize(self.device)
        elapsed = time.perf_counter() - self._start
        peak = self.memory.peak_mib()
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.result.flops = float(self._counter.get_total_flops())
            self._counter = None
        result = self.result
        (result.warmup if batch_idx < self.warmup else result.seconds).append(elapsed)
        if self.device == "cuda":
            result.step_mib = max(
                peak, result.step_mib if result.step_mib == result.step_mib else 0
            )
        elif batch_idx == self.warmup - 1:
            result.step_mib = peak
        metrics = trainer.callback_metrics
        result.losses.append({name: float(metrics[f"train/loss_{name}"]) for name in LOSS_NAMES})
        self.turns.done(self.who)


# ------------------------------------------------------------------------------ data and model
class SyntheticBatches(Dataset):
    """Whole batches of random images in [-1, 1], generated once (no loading in the timed step)."""

    def __init__(self, batch: int, size: int, length: int, channels_last: bool, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.batches = [
            {
                key: (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(
                    memory_format=fmt
                )
                for key in ("A", "B")
            }
            for _ in range(2)
        ]
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.batches[index % len(self.batches)]


class ChannelsLast:
    """Wraps a loader so the batches' images are channels_last (the collate makes them NCHW)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            yield {
                k: v.to(memory_format=torch.channels_last) if k in ("A", "B") else v
                for k, v in batch.items()
            }


def real_loader(args: argparse.Namespace, steps: int) -> DataLoader:
    """The project's own training loader (the composed ``data`` config), at ``--size``."""
    import hydra
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from cyclegan_lit.config_store import config_dir

    overrides = [
        f"data.synthetic_size={args.size}",
        f"data.load_size={args.size}",
        f"data.crop_size={args.size}",
        f"data.batch_size={args.batch}",
        f"data.synthetic_train={max(steps * args.batch, 8)}",
        "data.persistent_workers=false",
        f"paths.data_dir={args.data_dir}",
        *args.data_override,
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    GlobalHydra.instance().clear()
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule.train_dataloader()


def is_paper_model(args: argparse.Namespace) -> bool:
    return (args.generator, args.ngf, args.ndf) == ("resnet_9blocks", 64, 64)


def generator_options(args: argparse.Namespace) -> dict:
    """The generator's ``GeneratorConfig`` fields from the command line."""
    options = {"name": args.generator, "ngf": args.ngf}
    if args.num_downs is not None:
        options["num_downs"] = args.num_downs
    return options


def model_flags(args: argparse.Namespace) -> str:
    """The command-line flags that name the model, for the commands written with each table."""
    downs = "" if args.num_downs is None else f" --num-downs {args.num_downs}"
    return f"--generator {args.generator} --ngf {args.ngf}{downs} --ndf {args.ndf}"


def build_model(args: argparse.Namespace, config: Config) -> CycleGAN:
    """The same initial weights for every configuration (same seed); the module's compile option."""
    torch.manual_seed(args.seed)
    model = CycleGAN(
        generator=generator_options(args),
        discriminator={"name": "basic", "ndf": args.ndf},
        pool_size=args.pool_size,
        compile=config.compile,
        seed=args.seed,
    )
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_trainer(args: argparse.Namespace, config: Config, steps: int, timer: StepTimer):
    return L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=config.precision,
        max_epochs=1,
        limit_train_batches=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        # fixed-size crops: let cuDNN pick its fastest algorithms (no effect on the CPU)
        benchmark=args.device == "cuda",
    )


def train_in_turns(
    args: argparse.Namespace, configs: Sequence[Config], warmup: int, steps: int
) -> list[Measured]:
    """Fits one model per configuration, each in its own thread, one training step at a time in
    turn; the first configuration is the baseline (its first step also counts the FLOPs)."""
    turns = Turns(len(configs))
    results = [Measured(config) for config in configs]
    jobs = []
    for who, (config, result) in enumerate(zip(configs, results, strict=True)):
        model = build_model(args, config)
        count = who == 0 and not is_paper_model(args)
        timer = StepTimer(who, turns, result, warmup, args.device, count_flops=count)
        trainer = make_trainer(args, config, steps, timer)
        if args.data == "synthetic":
            data = DataLoader(
                SyntheticBatches(args.batch, args.size, steps, config.channels_last, args.seed),
                batch_size=None,
            )
        else:
            data = real_loader(args, steps)
            data = ChannelsLast(data) if config.channels_last else data
        jobs.append((trainer, model, data, who, result))

    def fit(trainer: L.Trainer, model: CycleGAN, data: Any, who: int, result: Measured) -> None:
        torch.set_num_threads(args.threads)
        try:
            trainer.fit(model, train_dataloaders=data)
        except NonFiniteLossError as error:  # a wrong configuration: reported, not fatal
            result.stopped = str(error)
        except BaseException as error:  # re-raised in the main thread
            result.error = error
        finally:
            plan = getattr(model, "compile_plan", None)
            result.compiled = plan.networks if plan is not None else None
            turns.leave(who)

    threads = [threading.Thread(target=fit, args=job, name=job[4].config.label) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"{result.config.label} failed") from result.error
    if results[0].stopped:
        raise RuntimeError(f"the fp32 eager baseline stopped: {results[0].stopped}")
    return results


# ------------------------------------------------------------------------------ translation
def translate_in_turns(
    args: argparse.Namespace, configs: Sequence[Config], size: int, warmup: int, iters: int
) -> list[Measured]:
    """G_A forward in eval mode without grad, as ``cyclegan-translate`` runs it (autocast for the
    mixed precisions), one image batch per turn."""
    torch.manual_seed(args.seed)
    template = build_generator(**generator_options(args)).eval()
    batch = torch.rand(args.batch, 3, size, size) * 2 - 1
    nets, inputs = [], []
    for config in configs:
        net = copy.deepcopy(template)
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        net = net.to(args.device, memory_format=fmt)
        if config.compile:
            net.compile()
        nets.append(net)
        inputs.append(batch.to(args.device, memory_format=fmt))
    results = [Measured(config) for config in configs]
    memory = StepMemory(args.device)
    for round_ in range(warmup + iters):
        for net, x, result in zip(nets, inputs, results, strict=True):
            dtype = AUTOCAST.get(result.config.precision)
            synchronize(args.device)
            memory.start(trim=round_ < warmup)
            start = time.perf_counter()
            with torch.no_grad(), torch.autocast(args.device, dtype, enabled=dtype is not None):
                net(x)
            synchronize(args.device)
            elapsed = time.perf_counter() - start
            if args.device == "cuda" or round_ == warmup - 1:
                result.step_mib = memory.peak_mib()
            (result.warmup if round_ < warmup else result.seconds).append(elapsed)
    return results


# ------------------------------------------------------------------------------ reporting
def iteration_flops(args: argparse.Namespace, counted: float | None) -> float | None:
    """The paper model's reference count scaled by pixels and batch; else the counted one."""
    if is_paper_model(args):
        return PAPER_FLOPS_256 * (args.size / 256) ** 2 * args.batch
    return counted


def command_for(args: argparse.Namespace, config: Config | None, extra: Sequence[str]) -> str:
    """The command that measures ``config`` again (None: the baseline, which always runs)."""
    parts = [
        "python benchmarks/train_speed.py",
        f"--device {args.device}",
        model_flags(args),
        f"--batch {args.batch}",
        f"--threads {args.threads}",
        *extra,
    ]
    parts.append("--configs" + (f" {config.label}" if config else ""))
    if args.compile_backend and config and config.compile:
        parts.append(f"--compile-backend {args.compile_backend}")
    if args.data != "synthetic":
        parts.append(f"--data {args.data}")
        parts += [f"--data-override {shlex.quote(o)}" for o in args.data_override]
    return " ".join(parts)


def _cell(value: float, digits: int) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def append_table(path: Path | None, heading: str, intro: str, header: str, rows: list[str]) -> None:
    """Adds rows at the end of the table under ``heading`` (created, with ``intro``, if absent)."""
    if path is None:
        return
    lines = path.read_text().splitlines() if path.exists() else ["# Speed benchmarks", ""]
    if heading not in lines:
        if lines and lines[-1].strip():
            lines.append("")
        separator = "|" + "---|" * (header.count("|") - 1)
        lines += [heading, "", intro, "", header, separator, *rows, ""]
    else:
        end = lines.index(heading) + 1
        while end < len(lines) and not lines[end].startswith("|"):
            end += 1
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines[end:end] = rows
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def context(args: argparse.Namespace, load_before: float) -> tuple[str, str, str, str]:
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load = f"{load_before:.1f}→{os.getloadavg()[0]:.1f}"
    downs = "" if args.num_downs is None else f" num_downs {args.num_downs}"
    model = f"{args.generator}{downs} ngf{args.ngf} / basic ndf{args.ndf}"
    return when, describe(args.device), load, model


# ------------------------------------------------------------------------------ tracking
# How far a candidate's loss terms may drift from fp32's, as the mean over the compared steps of
# |candidate − fp32| / |fp32|, in percent. Calibrated on the recorded runs (RESULTS.md, 64 px,
# 100 steps): the reconstruction terms (cycle, identity) of bf16-mixed and of fp32 + compile stay
# within 2.3 % on average, while the GAN terms (D_A, G_A, D_B, G_B) drift by up to 23 % for both,
# bf16 or fp32 alike, since GAN training amplifies any change in rounding; +cl, whose InstanceNorm
# gradients are wrong, drifted its GAN terms by 41-58 % within 10 steps.
TRACK_LIMITS = {"reconstruction": 5.0, "adversarial": 35.0}


def loss_kind(name: str) -> str:
    return "reconstruction" if name.startswith(("cycle", "idt")) else "adversarial"


def loss_drift(
    reference: Sequence[dict[str, float]], candidate: Sequence[dict[str, float]]
) -> dict[str, tuple[float, float]]:
    """Per loss term over the steps both recorded: the largest and the mean of
    |candidate − fp32| / |fp32|, in percent (NaN when a loss is not finite)."""
    drift = {}
    for name in LOSS_NAMES:
        diffs = [
            100 * abs(c[name] - b[name]) / max(abs(b[name]), 1e-12)
            for b, c in zip(reference, candidate, strict=False)
        ]
        if not diffs or not all(math.isfinite(d) for d in diffs):
            drift[name] = (float("nan"), float("nan"))
        else:
            drift[name] = (max(diffs), statistics.mean(diffs))
    return drift


def tracking_verdict(reference: Measured, candidate: Measured) -> str | None:
    """None when ``candidate``'s losses track the baseline's over the same steps; otherwise why
    not, in a few words: it stopped (a NaN or Inf loss), it recorded fewer steps, a loss is not
    finite, or a term's mean drift is past its ``TRACK_LIMITS``."""
    if candidate.stopped:
        return f"training stopped, {candidate.stopped.split(':')[0]}"
    if len(candidate.losses) < len(reference.losses):
        return f"trained {len(candidate.losses)} of {len(reference.losses)} steps"
    drifted = []
    for name, (_, mean) in loss_drift(reference.losses, candidate.losses).items():
        limit = TRACK_LIMITS[loss_kind(name)]
        if not math.isfinite(mean):
            return f"loss_{name} is not finite"
        if mean > limit:
            drifted.append(f"{name} {mean:.1f} %")
    if drifted:
        limits = " / ".join(f"{v:g} %" for v in TRACK_LIMITS.values())
        return f"losses drift from fp32 (mean {', '.join(drifted)}; limits {limits})"
    return None


def channels_last_note(args: argparse.Namespace, results: Sequence[Measured]) -> str:
    """`` (wrong IN grads)`` when a +cl configuration ran and ``channels_last_norm_error`` finds
    InstanceNorm's gradients wrong in channels_last on this device (printed either way)."""
    if not any(r.config.channels_last for r in results):
        return ""
    error = channels_last_norm_error(args.device, args.batch)
    note = " (wrong IN grads)" if error > 1e-3 else ""
    verdict = "WRONG: +cl trains a different model" if note else "ok"
    print(f"channels_last InstanceNorm gradient check: relative error {error:.1e}, {verdict}")
    return note


def config_cell(result: Measured, verdict: str | None, cl_note: str = "") -> str:
    """The configuration as the tables name it: its label, the networks model.compile left
    eager (compile_plan), and WRONG with the reason when it does not train the same model."""
    text = result.config.label + (cl_note if result.config.channels_last else "")
    if result.config.compile and result.compiled is not None and result.compiled != NETWORKS:
        text += f" (compiled {', '.join(result.compiled)} only)"
    return text + (f" (WRONG: {verdict})" if verdict else "")


TRAIN_HEADING = "## Training iteration (seconds per `training_step`)"
TRAIN_INTRO = (
    "One row per configuration; × is the fp32 eager baseline's median over the row's median, "
    "both measured in the same run, alternating step by step. TFLOP/s counts conv FLOPs "
    "(forward + backward; 1.879 TFLOP per step at 256 px, batch 1, for the paper model). "
    "step MiB: the peak memory a step adds over what stays resident between steps (weights, Adam "
    "state): CUDA allocator peak, or the CPU's peak RSS (VmHWM) in the last warm-up step. "
    "warm-up s: the warm-up steps together (compilation included). load: the 1-minute load "
    "average before → after the run; above the core count, other processes shared the CPUs."
)
TRAIN_HEADER = (
    "| when | machine | torch | model | px | batch | data | config | s/step median | s/step min "
    "| images/s | × fp32 eager | TFLOP/s | step MiB | warm-up s | load | command |"
)


def report_training(args: argparse.Namespace, results: list[Measured], load: float) -> None:
    when, where, load_text, model = context(args, load)
    base = results[0].median
    verdicts = [None, *(tracking_verdict(results[0], r) for r in results[1:])]
    flops = iteration_flops(args, results[0].flops)
    cl_note = channels_last_note(args, results)
    printed = ["config            s/step(med)  s/step(min)  images/s   ×fp32  TFLOP/s  step MiB"]
    rows = []
    extra = [f"--size {args.size}", f"--warmup {args.warmup}", f"--iters {args.iters}"]
    for r, verdict in zip(results, verdicts, strict=True):
        tflops = flops / r.median / 1e12 if flops else None
        ratio = base / r.median
        wrong = f"  WRONG: {verdict}" if verdict else ""
        printed.append(
            f"{r.config.label:<17} {_cell(r.median, 4):>11}  {_cell(r.minimum, 4):>11}  "
            f"{_cell(args.batch / r.median, 2):>8}  {_cell(ratio, 2):>6}  {_cell(tflops, 3):>7}  "
            f"{_cell(r.step_mib, 0):>8}  (warm-up {sum(r.warmup):.1f} s){wrong}"
        )
        command = command_for(args, r.config if r is not results[0] else None, extra)
        rows.append(
            f"| {when} | {where} | {torch.__version__} | {model} | {args.size} | {args.batch} "
            f"| {args.data} | {config_cell(r, verdict, cl_note)} "
            f"| {_cell(r.median, 4)} | {_cell(r.minimum, 4)} "
            f"| {_cell(args.batch / r.median, 2)} | {_cell(ratio, 2)} | {_cell(tflops, 3)} "
            f"| {_cell(r.step_mib, 0)} | {sum(r.warmup):.1f} | {load_text} | `{command}` |"
        )
    print(f"\nTraining step, {model}, {args.size} px, batch {args.batch}, {args.data} data")
    print(f"{where}; torch {torch.__version__}; load {load_text}")
    if flops:
        print(f"FLOPs per step: {flops / 1e12:.4f} T")
    if args.device == "cpu" and any(r.config.precision == "16-mixed" for r in results):
        print("note: on the CPU Lightning runs 16-mixed as bf16-mixed (no fp16 autocast there)")
    print("\n".join(printed))
    append_table(args.out_path, TRAIN_HEADING, TRAIN_INTRO, TRAIN_HEADER, rows)
    if len(results) > 1:  # the proof that goes with the timing: the same steps' losses
        report_losses(args, results, load, extra, cl_note)


LOSS_HEADING = "## Loss tracking (candidate against fp32, same seed, same batches)"
LOSS_INTRO = (
    "Per loss term over the N steps: the largest and the mean of |candidate − fp32| / |fp32|, "
    "in percent (max / mean)."
)
LOSS_HEADER = (
    "| when | machine | torch | model | px | batch | steps | config | "
    + " | ".join(LOSS_NAMES)
    + " | command |"
)


def report_losses(
    args: argparse.Namespace,
    results: list[Measured],
    load: float,
    extra: Sequence[str],
    cl_note: str | None = None,
) -> None:
    """Rows of the loss-tracking table for the candidates of one run (``extra``: the arguments
    that reproduce that run, timed or ``--losses``), each marked WRONG when it does not track
    (and +cl as wrong where its InstanceNorm gradients are, ``cl_note``: checked here if None)."""
    when, where, _, model = context(args, load)
    cl_note = channels_last_note(args, results) if cl_note is None else cl_note
    reference = results[0].losses
    steps = len(reference)
    print(f"\nLoss tracking over {steps} steps (|candidate − fp32| / |fp32|, max / mean, %)")
    print(f"{'config':<20}" + "".join(f"{n:>16}" for n in LOSS_NAMES))
    rows = []
    for r in results[1:]:
        drift = loss_drift(reference, r.losses)
        cells = [f"{_cell(high, 2)} / {_cell(mean, 2)}" for high, mean in drift.values()]
        verdict = tracking_verdict(results[0], r)
        print(
            f"{r.config.label:<20}"
            + "".join(f"{c:>16}" for c in cells)
            + (f"  WRONG: {verdict}" if verdict else "  tracks fp32")
        )
        command = command_for(args, r.config, extra)
        rows.append(
            f"| {when} | {where} | {torch.__version__} | {model} | {args.size} | {args.batch} "
            f"| {steps} | {config_cell(r, verdict, cl_note)} | "
            + " | ".join(cells)
            + f" | `{command}` |"
        )
    append_table(args.out_path, LOSS_HEADING, LOSS_INTRO, LOSS_HEADER, rows)


TRANSLATE_HEADING = "## Translation (generator forward, eval, no grad)"
TRANSLATE_INTRO = (
    "G_A on a batch of random images, autocast for the mixed precisions, alternating with the "
    "fp32 eager baseline image by image. MiB: peak memory of one forward, as above."
)
TRANSLATE_HEADER = (
    "| when | machine | torch | model | px | batch | config | s/batch median | images/s "
    "| × fp32 eager | MiB | warm-up s | load | command |"
)


def report_translation(
    args: argparse.Namespace, size: int, results: list[Measured], load: float
) -> None:
    when, where, load_text, model = context(args, load)
    base = results[0].median
    print(f"\nTranslation, G_A forward at {size} px, batch {args.batch}")
    rows = []
    for r in results:
        ratio = base / r.median
        print(
            f"{r.config.label:<20} {r.median:9.4f} s  {args.batch / r.median:8.2f} images/s  "
            f"×{ratio:.2f}  {_cell(r.step_mib, 0)} MiB  (warm-up {sum(r.warmup):.1f} s)"
        )
        extra = [f"--translate {size}", f"--translate-iters {args.translate_iters}", "--skip-train"]
        command = command_for(args, r.config if r is not results[0] else None, extra)
        rows.append(
            f"| {when} | {where} | {torch.__version__} | G {model.split(' / ')[0]} | {size} "
            f"| {args.batch} | {r.config.label} | {r.median:.4f} | {args.batch / r.median:.2f} "
            f"| {ratio:.2f} | {_cell(r.step_mib, 0)} | {sum(r.warmup):.1f} | {load_text} "
            f"| `{command}` |"
        )
    append_table(args.out_path, TRANSLATE_HEADING, TRANSLATE_INTRO, TRANSLATE_HEADER, rows)


# ------------------------------------------------------------------------------ main
def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The machine, model and output options this script shares with profile_step.py."""
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="default: cuda if any"
    )
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--generator", default="resnet_9blocks")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument(
        "--num-downs",
        type=int,
        default=None,
        help="a U-Net's downsamplings (unet_128 with 6 is the built-in recipe's unet_64)",
    )
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--pool-size", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per configuration")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(RESULTS), help="markdown file to append to; - prints only"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument(
        "--configs",
        nargs="*",
        default=["bf16-mixed"],
        type=Config.parse,
        help="candidates, PRECISION[+cl][+compile]; fp32 eager always runs",
    )
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[1],
        help="batch sizes (one table each); --losses and --translate use the first",
    )
    parser.add_argument("--iters", type=int, default=10, help="timed steps per configuration")
    parser.add_argument(
        "--data",
        choices=("synthetic", "loader"),
        default="synthetic",
        help="random tensors in memory, or the project's training DataLoader",
    )
    parser.add_argument(
        "--data-override",
        action="append",
        default=[],
        help="Hydra override for --data loader (repeatable), e.g. data=horse2zebra",
    )
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--skip-train", action="store_true", help="no training-step table")
    parser.add_argument(
        "--losses",
        type=int,
        default=0,
        metavar="N",
        help="also compare the loss terms over N steps against fp32",
    )
    parser.add_argument(
        "--translate",
        type=int,
        nargs="*",
        default=[],
        metavar="PX",
        help="also time a generator forward at these sizes",
    )
    parser.add_argument("--translate-iters", type=int, default=3)
    parser.add_argument(
        "--compile-backend",
        default=None,
        help="torch.compile backend for +compile (default inductor; eager only "
        "traces, for a quick dry run of the code path)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.out_path = None if args.out == "-" else Path(args.out)
    args.configs = [BASELINE, *args.configs]
    args.batches, args.batch = args.batch, args.batch[0]
    return args


def quiet() -> None:
    """Lightning's per-Trainer banners and the few-workers hint would drown the table."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*precision='bf16-mixed'.*")
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    quiet()
    torch.set_num_threads(args.threads)
    if args.compile_backend:
        # the module compiles with nn.Module.compile(), which calls torch.compile
        torch.compile = functools.partial(torch.compile, backend=args.compile_backend)
    for batch in [] if args.skip_train else args.batches:
        args.batch = batch
        load = os.getloadavg()[0]
        results = train_in_turns(args, args.configs, args.warmup, args.warmup + args.iters)
        report_training(args, results, load)
    args.batch = args.batches[0]
    if args.losses:
        load = os.getloadavg()[0]
        results = train_in_turns(args, args.configs, 0, args.losses)
        extra = [f"--size {args.size}", f"--losses {args.losses}", "--skip-train"]
        report_losses(args, results, load, extra)
    for size in args.translate:
        load = os.getloadavg()[0]
        warmup = max(1, args.warmup)
        results = translate_in_turns(args, args.configs, size, warmup, args.translate_iters)
        report_translation(args, size, results, load)
    if args.out_path is not None:
        print(f"\nappended to {args.out_path}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
