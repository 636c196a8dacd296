"""Can the default recipe's discriminator see the hidden code, and how soon?

On the built-in data the default run's G_B paints the squares it greys darker than the discs
(about 184 against 215, docs/model.md "Hidden codes"), and G_A reads that code back instead of
the shape. Only the A-domain discriminator could stop it. This probe isolates that one job:
fresh discriminators of the composed ``cyclegan-train`` config (same network, initialisation,
GAN loss and Adam settings, its learning rate held constant) learn to tell the training scenes
in style A from other training scenes in style A with every square painted at ``--grey``: a
fake that differs from the real domain by the code alone. Scored every ``--every`` steps on the
test scenes that have a square, each rendered both ways: the mean score of each, and the share
of scenes whose real rendering scores above its coded one (0.5: blind; 1: sees the code in every
scene).
One discriminator per ``--batch`` (same seed), so batch sizes compare within one run.

    python benchmarks/discriminator_probe.py                    # batch 1 and 8, 1000 steps
    python benchmarks/discriminator_probe.py model.discriminator.norm=none --batch 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hidden_code import to_tensor
from torch import Tensor
from training_curve import _compose, provenance, run_or_exit

from cyclegan_lit.data.synthetic import Scene, _coverage, make_scene, render
from cyclegan_lit.models import CycleGAN

RESULTS = Path(__file__).parent / "results" / "discriminator_probe.md"


def render_coded(scene: Scene, grey: float) -> np.ndarray:
    """The scene in style A with every square painted ``grey`` (discs keep A's grey)."""
    size = scene.background.shape[0]
    image = render(scene, "A").astype(np.float64)
    for obj in scene.objects:
        if obj.shape == "square":
            cover = _coverage(obj, size)[..., None]
            image = image * (1 - cover) + grey * cover
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@torch.no_grad()
def score(discriminator: torch.nn.Module, real: Tensor, coded: Tensor) -> dict[str, float]:
    """Mean patch score per scene, rendered both ways."""
    real_scores = discriminator(real).flatten(1).mean(1)
    coded_scores = discriminator(coded).flatten(1).mean(1)
    return {
        "real": float(real_scores.mean()),
        "coded": float(coded_scores.mean()),
        "ranked": float((real_scores > coded_scores).float().mean()),
    }


def probe(
    overrides: Sequence[str], batches: Sequence[int], steps: int, every: int, grey: float
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        cfg = _compose([*overrides, "logger=none", f"paths.log_dir={tmp}"], Path(tmp) / "run")
    if cfg.data.name != "synthetic":
        raise SystemExit(f"data={cfg.data.name}: the probe needs the built-in data's scenes")
    data = cfg.data
    n, size, seed = data.synthetic_train, data.synthetic_size, data.seed

    def stack(scenes: Sequence[Scene], style: str) -> Tensor:
        draw = (lambda s: render(s, "A")) if style == "A" else (lambda s: render_coded(s, grey))
        return torch.cat([to_tensor(draw(s)) for s in scenes])

    # the two training splits' scenes (trainA's, and trainB's drawn coded); the test scenes with
    # a square (the others look the same both ways), both ways
    real = stack([make_scene(i, size, seed) for i in range(n)], "A")
    coded = stack([make_scene(n + i, size, seed) for i in range(n)], "coded")
    tests = [make_scene(2 * n + i, size, seed) for i in range(data.synthetic_test)]
    tests = [s for s in tests if any(o.shape == "square" for o in s.objects)]
    if not tests:
        raise SystemExit("no test scene has a square; raise data.synthetic_test")
    test_real, test_coded = stack(tests, "A"), stack(tests, "coded")
    rows = []
    for batch in batches:
        torch.manual_seed(cfg.seed)
        model: CycleGAN = hydra.utils.instantiate(cfg.model, _convert_="all")
        discriminator, h = model.D_B, model.hparams  # D_B judges the A domain
        optimizer = torch.optim.Adam(discriminator.parameters(), lr=h.lr, betas=(h.beta1, h.beta2))
        rng = np.random.default_rng(cfg.seed)
        start = time.perf_counter()
        for step in range(1, steps + 1):
            real_batch = real[rng.integers(n, size=batch)]
            coded_batch = coded[rng.integers(n, size=batch)]
            loss = model.discriminator_loss(discriminator, real_batch, coded_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % every == 0 or step == steps:
                seconds = time.perf_counter() - start
                scores = score(discriminator, test_real, test_coded)
                rows.append({"batch": batch, "step": step, "seconds": seconds, **scores})
                print(
                    f"batch {batch} step {step}: real A {scores['real']:.2f}, coded "
                    f"{scores['coded']:.2f}, scenes ranked right {scores['ranked']:.2f}"
                )
    return rows


def write_table(rows: list[dict[str, Any]], grey: float, command: str, out: Path) -> None:
    lines = [
        "# Can the discriminator see the hidden code?",
        "",
        "Fresh A-domain discriminators of the default recipe trained (LSGAN, its Adam settings, "
        "constant learning rate) to tell style-A scenes from style-A scenes with every square at "
        f"grey {grey:g} (real A objects are 215), scored on the test scenes with a square, "
        "rendered both ways. ranked right: the share of scenes whose real rendering scores above "
        "its coded one (0.5 = blind). Written by "
        "[`discriminator_probe.py`](../discriminator_probe.py).",
        "",
        provenance(command),
        "",
        "| batch | step | images seen | seconds | D(real A) | D(coded A) | ranked right |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['batch']} | {row['step']} | {row['batch'] * row['step']} | "
            f"{row['seconds']:.0f} | {row['real']:.2f} | {row['coded']:.2f} | "
            f"{row['ranked']:.2f} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="cyclegan-train overrides (key=value)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=250, help="score every N steps")
    parser.add_argument(
        "--grey", type=float, default=184.0, help="the squares' grey in the coded scenes"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown table to write")
    args = parser.parse_args(argv)
    if min(args.batch) < 1 or args.steps < 1 or args.every < 1:
        parser.error("--batch, --steps and --every must be >= 1")
    rows = run_or_exit(
        parser, lambda: probe(args.overrides, args.batch, args.steps, args.every, args.grey)
    )
    flags = ["--batch", *map(str, args.batch), "--steps", str(args.steps)]
    flags += ["--every", str(args.every), "--grey", f"{args.grey:g}"]
    command = shlex.join(["python", "benchmarks/discriminator_probe.py", *args.overrides, *flags])
    write_table(rows, args.grey, command, args.out)
    print(f"wrote {args.out}")
    sys.stdout.flush()
    return rows


if __name__ == "__main__":
    main()
