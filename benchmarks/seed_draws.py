"""Final test scores of a built-in recipe over several draws: training seeds × torch threads.

    python benchmarks/seed_draws.py                          # the default run (cyclegan-train)
    python benchmarks/seed_draws.py --name quickstart experiment=quickstart

Each draw is the real ``cyclegan-train`` with ``seed=S data.seed=0`` (the same images; other
initial weights, image pools and order) at ``+torch_threads=T``. A different thread count sums in
another order, so it is another draw too. Runs at one thread go two at a time on a 2-core machine;
the others one at a time, so none is slowed by another. Appends a table (test PSNR, SSIM and the
share of objects translated right, both directions, against the identity map) to
``benchmarks/results/seed_draws.md``, with the command that reproduces it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cyclegan_lit.machine import describe

RESULTS = Path(__file__).parent / "results" / "seed_draws.md"
DIRECTIONS = ("AtoB", "BtoA")


def _command(seed: int, threads: int, overrides: list[str], folder: Path) -> list[str]:
    train = Path(sys.executable).with_name("cyclegan-train")
    return [
        str(train),
        *overrides,
        f"seed={seed}",
        "data.seed=0",
        f"+torch_threads={threads}",
        "logger=csv",
        f"paths.root_dir={folder}",
        f"paths.data_dir={folder.parent / 'data'}",
        f"hydra.run.dir={folder}",
    ]


def run_draws(
    seeds: list[int], threads: list[int], overrides: list[str], cores: int, workdir: Path
) -> list[dict]:
    """Runs every (threads, seed), as many at a time as the cores allow; their final metrics."""
    jobs = [(t, s) for t in threads for s in seeds]
    rows: list[dict] = []
    for t, s in list(jobs):  # a draw already finished in a kept folder is read, not rerun
        done = workdir / f"threads{t}_seed{s}" / "metrics.json"
        if done.is_file():
            rows.append({"threads": t, "seed": s, **_metrics(done)})
            jobs.remove((t, s))
    # cyclegan-train's threads sleep rather than spin while they wait, so a draw beside another
    # is slowed down, not stalled (cyclegan_lit.machine.openmp_threads_sleep_while_waiting)
    env = {**os.environ, "WANDB_MODE": "disabled"}
    env.pop("OMP_NUM_THREADS", None)
    pending = list(jobs)
    while pending:
        batch = [pending.pop(0)]
        while pending and sum(t for t, _ in batch) + pending[0][0] <= cores:
            batch.append(pending.pop(0))
        started = time.perf_counter()
        with contextlib.ExitStack() as logs:
            procs = []
            for t, s in batch:
                folder = workdir / f"threads{t}_seed{s}"
                log = logs.enter_context(open(workdir / f"threads{t}_seed{s}.log", "w"))
                command = _command(s, t, overrides, folder)
                procs.append(
                    (t, s, folder, subprocess.Popen(command, stdout=log, stderr=log, env=env))
                )
            for t, s, folder, proc in procs:
                if proc.wait() != 0:
                    raise SystemExit(f"seed {s} at {t} thread(s) failed: see {workdir}/*.log")
                metrics = _metrics(folder / "metrics.json")
                rows.append({"threads": t, "seed": s, **metrics})
                took = time.perf_counter() - started
                print(f"threads {t} seed {s}: {_summary(metrics)} ({took:.0f} s)", flush=True)
    rows.sort(key=lambda r: (r["threads"], r["seed"]))
    return rows


def _metrics(path: Path) -> dict:
    """The final metrics a run wrote (``metrics.json``: ``{"metrics": {...}, ...}``)."""
    return json.loads(path.read_text())["metrics"]


def _summary(m: dict) -> str:
    parts = []
    for d in DIRECTIONS:
        parts.append(
            f"{d} {m[f'test/psnr_{d}']:.2f}/{m[f'test/ssim_{d}']:.3f}"
            f"/{m.get(f'test/objects_right_{d}', float('nan')):.0%}"
        )
    return "  ".join(parts)


def markdown(rows: list[dict]) -> list[str]:
    """One line per draw, then the identity map (the same for every draw: same test images)."""
    head = "| threads | seed |" + "".join(
        f" {d.replace('to', '→')} PSNR | SSIM | objects right |" for d in DIRECTIONS
    )
    lines = [head, "|---:|---:|" + "---:|---:|---:|" * len(DIRECTIONS)]
    for r in rows:
        cells = "".join(
            f" {r[f'test/psnr_{d}']:.2f} | {r[f'test/ssim_{d}']:.3f} |"
            f" {r.get(f'test/objects_right_{d}', float('nan')):.0%} |"
            for d in DIRECTIONS
        )
        lines.append(f"| {r['threads']} | {r['seed']} |{cells}")
    first = rows[0]
    identity = "".join(
        f" {first[f'test/psnr_identity_{d}']:.2f} | {first[f'test/ssim_identity_{d}']:.3f} | 0% |"
        for d in DIRECTIONS
    )
    lines.append(f"| identity map | |{identity}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="cyclegan-train overrides of the recipe")
    parser.add_argument("--name", default="default", help="names the table")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cores", type=int, default=2, help="threads that may run at once")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the table is appended here")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: deleted)")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        rows = run_draws(args.seeds, args.threads, args.overrides, args.cores, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="draws-") as tmp:
            rows = run_draws(args.seeds, args.threads, args.overrides, args.cores, Path(tmp))
    command = shlex.join(
        [
            "python",
            "benchmarks/seed_draws.py",
            *(["--name", args.name] if args.name != "default" else []),
            *(["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2] else []),
            *(["--threads", *map(str, args.threads)] if args.threads != [1, 2] else []),
            *args.overrides,
        ]
    )
    when = time.strftime("%Y-%m-%d %H:%M")
    lines = [
        f"\n## {args.name}: `{' '.join(['cyclegan-train', *args.overrides])}`\n",
        f"Machine: {describe()}. Measured {when}. Reproduce: `{command}`\n",
        *markdown(rows),
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    new = not args.results.exists()
    with open(args.results, "a") as file:
        if new:
            file.write(
                "# Draws of the built-in recipes\n\nTest scores after training (20 paired test "
                "scenes, 64 px) for training seeds × torch threads; the identity map is the "
                "score of not translating. Written by [`seed_draws.py`](../seed_draws.py).\n"
            )
        file.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
