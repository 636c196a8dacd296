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


@pytest.mark.slow
def test_gpu_check_dry_run_prints_its_tables() -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text() if results.exists() else None
    env = dict(os.environ, PYTHON=sys.executable, WANDB_MODE="disabled")
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for batch in (1, 2):
        assert f"32 px, batch {batch}, synthetic data" in out
    for label in ("bf16-mixed", "16-mixed", "32-true+cl", "bf16-mixed+cl", "bf16-mixed+compile"):
        assert f"\n{label} " in out, label
    assert "s/step(med)" in out and "×fp32" in out and "step MiB" in out
    assert "Loss tracking over 2 steps" in out
    assert "Translation, G_A forward at 64 px" in out
    assert "cyclegan-train: ok" in out
    assert "gpu_check done" in out
    after = results.read_text() if results.exists() else None
    assert after == before  # a dry run prints only


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


def test_hidden_code_measures_a_checkpoint_on_the_test_scenes(tiny_model_and_checkpoint) -> None:
    import copy

    import hidden_code
    import numpy as np
    import torch

    from cyclegan_lit.data.synthetic import _coverage, make_scene, render

    scene = make_scene(0, 32, 0)
    swapped, styled = hidden_code.render_swapped(scene), render(scene, "B")
    for obj in scene.objects:  # each object in the other shape's style, nothing else changed
        inside = _coverage(obj, 32) > 0.99
        assert not np.array_equal(swapped[inside], styled[inside])
        if obj.shape == "square":
            assert (swapped[inside] == np.array([245, 205, 35])).all()  # yellow square
    outside = sum(_coverage(o, 32) for o in scene.objects) == 0
    assert np.array_equal(swapped[outside], styled[outside])

    _, path = tiny_model_and_checkpoint
    results = hidden_code.main([str(path), "--size", "32", "--n-train", "4", "--n-test", "3"])
    assert set(results) >= {"B→A→B PSNR", "A→B PSNR", "G_B square grey", "D_A swapped styles"}
    assert all(np.isfinite(v) for k, v in results.items() if "grey" not in k)
    # these test scenes hold squares and discs: in B, stripes and yellow are far apart in colour
    assert results["true square-disc colour gap"] > 100
    assert all(np.isfinite(results[f"G_B {part} band grey"]) for part in ("dark", "light"))
    assert {"A→B SSIM, true objects", "B→A SSIM, true background", "identity SSIM"} <= set(results)

    # A generator that changes nothing scores the identity map; pasting the true objects into its
    # output gives the ground truth itself.
    model = copy.deepcopy(tiny_model_and_checkpoint[0])
    model.G_A = torch.nn.Identity()
    split = hidden_code.ssim_split(model, [make_scene(i, 32, 0) for i in range(3)])
    assert split["A→B SSIM"] == pytest.approx(split["identity SSIM"], abs=1e-6)
    assert split["A→B SSIM, true background"] == pytest.approx(split["identity SSIM"], abs=1e-6)
    assert split["A→B SSIM, true objects"] == pytest.approx(1.0, abs=1e-6)
    assert split["identity SSIM"] < 0.99
    # G_B's residue put on real A: each square's dark-band rows in one grey, the rest in another;
    # discs and background as they were
    scenes = [make_scene(i, 32, 0) for i in range(3)]
    painted, real_a = hidden_code.paint_squares(scenes[0], 100, 200), render(scenes[0], "A")
    for obj in scenes[0].objects:
        inside = _coverage(obj, 32) > 0.99
        expected = {100, 200} if obj.shape == "square" else {215}
        assert set(np.unique(painted[inside]).tolist()) == expected
    untouched = sum(_coverage(o, 32) for o in scenes[0].objects if o.shape == "square") == 0
    assert np.array_equal(painted[untouched], real_a[untouched])
    # a G_A that changes nothing paints squares in their grey (150 levels, 65 under the discs'
    # 215); with the bands, the dark rows (two bands of three) weigh more
    cue = hidden_code.band_cue(model, scenes, 100, 200)
    assert cue["G_A gap, squares in G_B's grey"] == pytest.approx(65, abs=1e-3)
    assert cue["G_A gap, squares in G_B's bands"] > 65 + 5
    assert all(np.isnan(v) for v in hidden_code.band_cue(model, scenes, np.nan, np.nan).values())
    assert {"D_B real A", "D_B G_B(B)", "G_A gap, squares in G_B's bands"} <= set(results)
    # outside the objects A and B are the same image: the identity map makes no error there
    model.G_B = torch.nn.Identity()
    errors = hidden_code.edge_error(model, [make_scene(i, 32, 0) for i in range(3)])
    assert len(errors) == 4 and set(errors.values()) == {0}
    assert results["A→B error near objects"] > 0
    assert np.isfinite(results["B→A error far from objects"])
    assert np.isfinite(results["A→B background grain"])


def test_hidden_code_refuses_a_missing_or_corrupt_checkpoint_in_one_line(tmp_path, capsys) -> None:
    import hidden_code

    corrupt = tmp_path / "last.ckpt"
    corrupt.write_bytes(b"garbage")
    for path, says in ((tmp_path / "nope.ckpt", "does not exist"), (corrupt, "truncated")):
        with pytest.raises(SystemExit):
            hidden_code.main([str(path)])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert str(path) in error and says in error
    assert corrupt.read_bytes() == b"garbage"  # nothing written over it


def test_hidden_code_tells_a_backgrounds_tint_from_its_grain() -> None:
    import hidden_code
    import torch

    from cyclegan_lit.data.synthetic import make_scene

    class Shift(torch.nn.Module):  # every pixel 0.1 lighter in R, 0.1 darker in B: a pure tint
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.tensor([0.1, 0.0, -0.1]).view(1, 3, 1, 1)

    class Checkerboard(torch.nn.Module):  # +-0.05 on alternate pixels: grain with no tint
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            yy, xx = torch.meshgrid(
                torch.arange(x.shape[2]), torch.arange(x.shape[3]), indexing="ij"
            )
            return x + 0.05 * (1 - 2 * ((yy + xx) % 2)).to(x)

    model = torch.nn.Module()
    model.G_A, model.G_B = Shift(), Checkerboard()
    drift = hidden_code.background_drift(model, [make_scene(i, 64, 0) for i in range(4)])
    level = 127.5  # grey levels per unit of the [-1, 1] range
    assert [drift[f"A→B background tint {c}"] for c in "RGB"] == pytest.approx(
        [0.1 * level, 0.0, -0.1 * level], abs=1e-3
    )
    assert drift["A→B background grain"] == pytest.approx(0.0, abs=1e-3)
    assert [drift[f"B→A background tint {c}"] for c in "RGB"] == pytest.approx([0, 0, 0], abs=0.2)
    # smoothing keeps a little of the grid, so the grain is a little under its 6.4 levels rms
    assert 0.8 * 0.05 * level < drift["B→A background grain"] <= 0.05 * level
    # on its own domain each generator keeps its effect: G_A (the tint) no grain, G_B the grid's
    assert drift["G_A(B) background grain"] == pytest.approx(0.0, abs=1e-3)
    assert drift["G_B(A) background grain"] == pytest.approx(drift["B→A background grain"])


def test_paired_ceiling_trains_the_default_generators_on_pairs(tmp_path, capsys) -> None:
    import paired_ceiling

    out = tmp_path / "ceiling.md"
    overrides = ["model.generator.ngf=8", "model.discriminator.ndf=4", "data.synthetic_train=16",
                 "data.synthetic_test=2", "model.scheduler.n_epochs=2", "model.lr=0.002",
                 "model.scheduler.n_epochs_decay=2", f"paths.data_dir={tmp_path}"]  # fmt: skip
    rows = paired_ceiling.main([*overrides, "--out", str(out)])
    assert [r["step"] for r in rows] == [0, 16, 32, 48, 64]
    # shown the answer, both generators move towards it; the identity baseline stays put
    assert rows[-1]["psnr_AtoB"] > rows[0]["psnr_AtoB"] + 1
    assert rows[-1]["psnr_BtoA"] > rows[0]["psnr_BtoA"] + 1
    assert len({r["ssim_identity_AtoB"] for r in rows}) == 1
    table = out.read_text()
    assert "| 64 |" in table and "identity map" in table and "data.synthetic_train=16" in table

    with pytest.raises(SystemExit, match="data=folder"):
        paired_ceiling.main(["data=folder", "data.root=/nowhere", "--out", str(out)])
    # a bad value or a mistyped key: one line naming it, and the table already written is kept
    for bad, said in (("model.lr=abc", "model.lr='abc': must be a number"),
                      ("model.lrr=1", "Could not override 'model.lrr'")):  # fmt: skip
        with pytest.raises(SystemExit):
            paired_ceiling.main([bad, "--out", str(out)])
        assert said in capsys.readouterr().err
    assert out.read_text() == table


def test_discriminator_probe_scores_each_batch_size_on_scenes_rendered_both_ways(
    tmp_path: Path,
) -> None:
    import discriminator_probe
    import numpy as np

    from cyclegan_lit.data.synthetic import _coverage, make_scene, render

    scene = next(s for s in (make_scene(i, 32, 0) for i in range(20)) if len(s.objects) > 1)
    coded, real = discriminator_probe.render_coded(scene, 184), render(scene, "A")
    for obj in scene.objects:  # squares at the code's grey, discs and background untouched
        inside = _coverage(obj, 32) > 0.99
        assert (coded[inside] == (184 if obj.shape == "square" else 215)).all()
    outside = sum(_coverage(o, 32) for o in scene.objects) == 0
    assert np.array_equal(coded[outside], real[outside])
    assert np.array_equal(discriminator_probe.render_coded(scene, 215), real)

    tiny = ["data.synthetic_train=4", "data.synthetic_test=6", "data.synthetic_size=32",
            "data.load_size=32", "data.crop_size=32", "model.discriminator.ndf=4"]  # fmt: skip
    out = tmp_path / "probe.md"
    common = ["--batch", "1", "2", "--steps", "2", "--every", "1", "--out", str(out)]
    rows = discriminator_probe.main([*tiny, *common])
    assert [(r["batch"], r["step"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert "--batch 1 2 --steps 2" in out.read_text()
    # no code at all: real and coded scenes are the same images, so no scene can rank right
    control = discriminator_probe.main([*tiny, *common, "--grey", "215"])
    assert all(r["real"] == r["coded"] and r["ranked"] == 0 for r in control)
