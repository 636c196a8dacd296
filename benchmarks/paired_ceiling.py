"""What the default recipe's generators reach when they are shown the answer.

Trains G_A and G_B of the composed ``cyclegan-train`` config (the same networks, initialisation,
Adam settings, each generator's learning rate and schedule, and number of steps) on the built-in
data, but with the supervision CycleGAN does not have: each training scene rendered in both
styles, and an L1 loss between the translation and the true image (no discriminator, no cycle).
The generators after every epoch are scored as ``training_curve.py`` scores its snapshots: by the
model's own ``test_step`` on the paired test split. If this ceiling is far above
what ``cyclegan-train`` reaches, the networks and the step budget are not what holds the default
run back; the unpaired objective is (docs/model.md, "Hidden codes").

    python benchmarks/paired_ceiling.py                 # the default recipe
    python benchmarks/paired_ceiling.py model.lr=2e-4   # any cyclegan-train override
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
import torch.nn.functional as F
from hidden_code import to_tensor
from training_curve import (
    _compose,
    _score,
    generator_weights,
    markdown_table,
    provenance,
    run_or_exit,
)

from cyclegan_lit.data.synthetic import make_scene, render
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.schedulers import build_scheduler

RESULTS = Path(__file__).parent / "results" / "paired_ceiling.md"


def pairs(first: int, count: int, size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    scenes = (make_scene(first + i, size, seed) for i in range(count))
    return [(to_tensor(render(s, "A")), to_tensor(render(s, "B"))) for s in scenes]


def train(overrides: Sequence[str]) -> list[dict[str, Any]]:
    """Trains on pairs; the scored generators after each epoch, as ``training_curve`` rows."""
    with tempfile.TemporaryDirectory(prefix="ceiling-") as tmp:
        cfg = _compose([*overrides, "logger=none", f"paths.log_dir={tmp}"], Path(tmp) / "run")
        if cfg.data.name != "synthetic":
            raise SystemExit(
                f"data={cfg.data.name}: the ceiling needs the built-in data's ground truth"
            )
        torch.manual_seed(cfg.seed)
        model: CycleGAN = hydra.utils.instantiate(cfg.model, _convert_="all")
        data = cfg.data
        train_pairs = pairs(0, data.synthetic_train, data.synthetic_size, data.seed)  # trainA's
        h = model.hparams
        optimizer = torch.optim.Adam(
            model.generator_param_groups(), lr=h.lr, betas=(h.beta1, h.beta2)
        )
        scheduler = build_scheduler(optimizer, model.schedule)
        rng = np.random.default_rng(cfg.seed)
        points = [(0, 0.0, generator_weights(model))]
        clock, step = 0.0, 0
        for _ in range(model.schedule.total_epochs):
            start = time.perf_counter()
            for index in rng.permutation(len(train_pairs)):
                a, b = train_pairs[index]
                loss = F.l1_loss(model.G_A(a), b) + F.l1_loss(model.G_B(b), a)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
            scheduler.step()
            clock += time.perf_counter() - start
            points.append((step, clock, generator_weights(model)))
        return _score(cfg, points)


def write_table(
    rows: list[dict[str, Any]], overrides: Sequence[str], command: str, out: Path
) -> None:
    lines = [
        "# Paired ceiling of the default recipe",
        "",
        "The recipe's generators trained on its training scenes rendered in both styles, with an "
        "L1 loss (the answer CycleGAN is not given), scored on the paired test split by the "
        f"model's own test step. Recipe: `{shlex.join(['cyclegan-train', *overrides])}`. Written "
        "by [`paired_ceiling.py`](../paired_ceiling.py).",
        "",
        provenance(command),
        "",
        *markdown_table(rows),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="cyclegan-train overrides (key=value)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown table to write")
    args = parser.parse_args(argv)
    rows = run_or_exit(parser, lambda: train(args.overrides))
    command = shlex.join(["python", "benchmarks/paired_ceiling.py", *args.overrides])
    write_table(rows, args.overrides, command, args.out)
    print(f"wrote {args.out}")
    sys.stdout.flush()
    return rows


if __name__ == "__main__":
    main()
