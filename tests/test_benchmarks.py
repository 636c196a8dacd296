"""The benchmark scripts run end to end (tiny sizes, on the CPU); no timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_speed  # noqa: E402

from cyclegan_lit.networks.builders import build_generator  # noqa: E402


def test_configurations_parse_and_label() -> None:
    config = train_speed.Config.parse("bf16-mixed+cl+compile")
    assert (config.precision, config.channels_last, config.compile) == ("bf16-mixed", True, True)
    assert config.label == "bf16-mixed+cl+compile"
    assert train_speed.Config.parse("32-true") == train_speed.BASELINE
    with pytest.raises(ValueError, match="precision"):
        train_speed.Config.parse("fp8")
    with pytest.raises(ValueError, match="unknown flag"):
        train_speed.Config.parse("bf16-mixed+fast")


def test_paper_model_flops_scale_with_pixels_and_batch() -> None:
    args = train_speed.parse_args(["--size", "128", "--batch", "4", "--out", "-"])
    assert train_speed.iteration_flops(args, None) == pytest.approx(1.879e12 / 4 * 4)
    args = train_speed.parse_args(["--ngf", "8", "--out", "-"])
    assert train_speed.iteration_flops(args, 123.0) == 123.0  # counted, not scaled


def test_the_built_in_recipe_u_net_is_measured_and_named_in_the_command() -> None:
    """--num-downs builds the U-Net the built-in data trains (unet_128 with 6 downsamplings takes
    64 px), and the command written with each row passes it on."""
    argv = ["--generator", "unet_128", "--num-downs", "6", "--ngf", "4", "--ndf", "4"]
    args = train_speed.parse_args([*argv, "--size", "64", "--out", "-"])
    model = train_speed.build_model(args, train_speed.BASELINE)
    assert model.hparams.generator["num_downs"] == 6
    assert model.G_A(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    assert "--generator unet_128 --ngf 4 --num-downs 6 --ndf 4" in train_speed.command_for(
        args, None, []
    )
    default = train_speed.parse_args(["--out", "-"])
    assert "num_downs" not in train_speed.generator_options(default)


def test_rows_are_appended_under_their_heading(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    header = "| a | b |"
    train_speed.append_table(path, "## One", "intro", header, ["| 1 | 2 |"])
    train_speed.append_table(path, "## Two", "intro", header, ["| 5 | 6 |"])
    train_speed.append_table(path, "## One", "intro", header, ["| 3 | 4 |"])
    lines = path.read_text().splitlines()
    assert lines.count("## One") == 1
    assert lines.index("| 3 | 4 |") == lines.index("| 1 | 2 |") + 1 < lines.index("## Two")


def test_fp32_against_itself_tracks_exactly_and_counts_flops(tmp_path: Path) -> None:
    """Same seed, same batches, same precision: identical losses, so a difference measured for
    a candidate comes from the candidate."""
    out = tmp_path / "RESULTS.md"
    args = ["--size", "32", "--ngf", "4", "--ndf", "4", "--threads", "1", "--warmup", "1"]
    train_speed.main([*args, "--iters", "1", "--configs", "32-true", "--losses", "2",
                      "--out", str(out)])  # fmt: skip
    text = out.read_text()
    assert "## Training iteration" in text and "## Loss tracking" in text
    loss_row = next(line for line in text.splitlines() if "| 2 | 32-true |" in line)
    assert loss_row.count("0.00 / 0.00") == 8
    assert "--configs 32-true" in loss_row  # the command reproduces the row


def _losses(steps: int, **scale: float) -> list[dict[str, float]]:
    return [{n: (1.0 + 0.1 * i) * scale.get(n, 1.0) for n in train_speed.LOSS_NAMES}
            for i in range(steps)]  # fmt: skip


def test_a_candidate_tracks_fp32_only_within_the_limits() -> None:
    """The verdict each timed and each --losses row gets: reconstruction terms (cycle,
    identity) within 5 % of fp32's on average, GAN terms within 35 %, every loss finite, every
    step trained."""
    candidate = train_speed.Config.parse("bf16-mixed+compile")
    fp32 = train_speed.Measured(train_speed.BASELINE, losses=_losses(4))

    def verdict(**kwargs) -> str | None:
        return train_speed.tracking_verdict(fp32, train_speed.Measured(candidate, **kwargs))

    assert verdict(losses=_losses(4, cycle_A=1.04, D_A=1.3, G_B=0.7)) is None
    assert "cycle_A 6.0 %" in verdict(losses=_losses(4, cycle_A=1.06))
    assert "D_A 40.0 %" in verdict(losses=_losses(4, D_A=1.4))
    assert verdict(losses=_losses(4, idt_A=float("nan"))) == "loss_idt_A is not finite"
    assert verdict(losses=_losses(3)) == "trained 3 of 4 steps"
    stop = "train/loss_idt_A is nan at epoch 0, batch 1 (step 2): training stopped, ..."
    said = verdict(losses=_losses(1), stopped=stop)
    assert said == "training stopped, train/loss_idt_A is nan at epoch 0, batch 1 (step 2)"
    drift = train_speed.loss_drift(fp32.losses, _losses(1, idt_A=float("nan")))
    assert all(v != v for v in drift["idt_A"]) and drift["D_A"] == (0.0, 0.0)


def test_a_timed_configuration_whose_losses_go_nan_is_marked_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: bf16 + compile was timed on a CPU where it trains NaN from step 2. A timed
    candidate whose training stops on a NaN loss (here: its generator's weights turn NaN after
    its first step, as NaN gradients make them) is recorded, not fatal, and both tables of the
    same run mark it WRONG; the baseline and the timing of the others go on."""
    built = []
    original = train_speed.build_model

    def build(args, config):
        model = original(args, config)
        built.append(model)
        if len(built) == 2:  # the candidate (the baseline is built first)
            step = model.training_step

            def poisoned(batch, batch_idx):
                if batch_idx == 1:
                    with torch.no_grad():
                        next(model.G_A.parameters()).fill_(float("nan"))
                return step(batch, batch_idx)

            model.training_step = poisoned
        return model

    monkeypatch.setattr(train_speed, "build_model", build)
    out = tmp_path / "RESULTS.md"
    args = ["--size", "32", "--ngf", "4", "--ndf", "4", "--threads", "1", "--warmup", "1"]
    train_speed.main([*args, "--iters", "2", "--configs", "32-true", "--out", str(out)])
    lines = out.read_text().splitlines()
    wrong = "32-true (WRONG: training stopped, train/loss_"
    timed = next(line for line in lines if "| 32 | 1 | synthetic | 32-true (WRONG" in line)
    assert wrong in timed and "batch 1 (step 2))" in timed
    assert timed.split(" | ")[8:10] == ["–", "–"]  # no timed step, no median
    loss_row = next(line for line in lines if "| 3 | 32-true (WRONG" in line)
    assert wrong in loss_row and "--warmup 1 --iters 2 --configs 32-true" in loss_row
    assert loss_row.count("0.00 / 0.00") == 8  # its one finite step matched fp32's
    baseline = next(line for line in lines if "| synthetic | 32-true |" in line)
    assert float(baseline.split(" | ")[8]) > 0


def _dry_run(script: str) -> str:
    """``bash benchmarks/<script> --dry-run``'s output; it must succeed and write no results."""
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    env = dict(os.environ, PYTHON=sys.executable, WANDB_MODE="disabled")
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / script), "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = results.read_text() if results.exists() else None
    assert after == before  # a dry run prints only
    return done.stdout


@pytest.mark.slow
def test_gpu_check_dry_run_prints_its_tables() -> None:
    out = _dry_run("gpu_check.sh")
    for batch in (1, 2):
        assert f"32 px, batch {batch}, synthetic data" in out
    for label in ("bf16-mixed", "16-mixed", "32-true+cl", "bf16-mixed+cl", "bf16-mixed+compile"):
        assert f"\n{label} " in out, label
    assert "s/step(med)" in out and "×fp32" in out and "step MiB" in out
    assert "Loss tracking over 2 steps" in out
    assert "Translation, G_A forward at 64 px" in out
    assert "cyclegan-train: ok" in out
    assert "gpu_check done" in out


@pytest.mark.slow
def test_make_bench_times_what_trainer_fast_can_pick_on_this_cpu() -> None:
    """`make bench` (its dry run: same code paths, tiny sizes) times the candidates trainer=fast
    can choose here: on a CPU that emulates bf16 (50x slower than fp32) the bf16 rows would take
    hours, so it times fp32 + compile and channels_last; with bf16 instructions, bf16 too."""
    from cyclegan_lit import perf

    out = _dry_run("run_cpu_bench.sh")
    assert perf.describe("cpu") in out
    rows = {line.split()[0] for line in out.splitlines() if line[:1].isdigit() or "-mixed" in line}
    assert {"32-true", "32-true+compile", "32-true+cl"} <= rows
    if perf.fast_precision("cpu") == "bf16-mixed":
        assert {"bf16-mixed", "bf16-mixed+compile"} <= rows
        assert "Translation, G_A forward at 64 px" in out
    else:
        assert not any(row.startswith("bf16") for row in rows)
        assert "bf16 rows skipped" in out
    assert out.count("Loss tracking over 2 steps") == 3
    assert "aten::" in out  # the profile


def test_profile_lists_the_top_operators_of_a_step(tmp_path: Path) -> None:
    import profile_step

    out = tmp_path / "RESULTS.md"
    profile_step.main(["--size", "32", "--ngf", "4", "--ndf", "4", "--threads", "1",
                       "--warmup", "1", "--steps", "1", "--top", "5", "--configs", "32-true",
                       "--out", str(out)])  # fmt: skip
    rows = [line for line in out.read_text().splitlines() if "| 32-true |" in line]
    assert len(rows) == 5
    shares = [float(row.split("|")[9].strip().rstrip("%")) for row in rows]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100
    assert any("convolution" in row for row in rows)  # convs dominate a CycleGAN step
    assert "--configs 32-true" in rows[0]


def test_autocast_casts_counts_what_our_padding_saves(tmp_path: Path) -> None:
    """The paper generator under CPU bf16 autocast: with our pads, no activation is cast to fp32
    and back around a pad; what is left is the weights' casts and the fp32 image's one."""
    import autocast_casts

    theirs = autocast_casts.conversions(
        lambda: autocast_casts.with_torch_padding(build_generator("resnet_9blocks")), 64
    )
    ours = autocast_casts.conversions(lambda: build_generator("resnet_9blocks"), 64)
    pads = 20  # 2 per residual block, one before the first and one before the last conv
    assert theirs.count - ours.count == 4 * (pads - 1)  # up and down, forward and backward
    floor = autocast_casts.weight_cast_bytes(build_generator("resnet_9blocks"))
    # beyond the weights, image-sized casts only (the input, the output and its gradient): a
    # residual block's activation (256 x 16 x 16 at 64 px) is larger than all of them together
    image = 3 * 64 * 64 * (4 + 2)
    assert floor < ours.bytes < floor + 4 * image < 256 * 16 * 16 * (4 + 2) + floor
    report = tmp_path / "casts.md"
    autocast_casts.main(["--sizes", "32", "--report", str(report)])
    assert "| 32 | 175 / " in report.read_text()
    assert (
        "Reproduce: `python benchmarks/autocast_casts.py --sizes 32 --report" in report.read_text()
    )


@pytest.mark.parametrize("script", ["run_cpu_bench.sh", "gpu_check.sh"])
def test_a_mistyped_option_is_one_line_not_a_full_benchmark_run(script: str) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / script), "--dryrun"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr
        == f"{script}: unknown option --dryrun; use --dry-run, or nothing for the full run\n"
    )
