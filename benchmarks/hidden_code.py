"""Does a checkpoint trained on the built-in data cheat the cycle with a hidden code?

Measures on the paired test scenes of ``data=synthetic`` (docs/model.md, "Hidden codes"):

* B→A→B against A→B: G_A(G_B(b)) vs b, and G_A(a) vs b, in PSNR. A large gap means G_A gets
  from G_B's fakes something the real A images do not carry;
* the mean colour G_B paints squares (and their dark and light bands) and discs (every real A
  object is 215 grey): the code;
* how far apart the mean colours G_A paints on real A squares and discs are, against the true B
  images' gap: near 0 means G_A paints every object alike, whatever its shape;
* which cue G_A reads on a grey square: G_A's square-disc gap with the squares of real A painted in
  G_B's grey, and in G_B's dark and light bands. If only the banded squares open the gap, G_A
  learnt G_B's residue, not the shapes;
* D_A's mean score on real B scenes, on the same scenes with the two styles swapped, and on
  G_A's translations: whether the discriminator knows which style goes with which shape; D_B's
  on real A and on G_B's fakes: whether it sees the residue G_B leaves;
* each direction's error in the background next to its objects (within 3 px) and farther out,
  in grey levels: blurred object edges against the rest of the background;
* where each direction loses its SSIM (the model's ``val/ssim_*``): scored as it is, with the true
  objects pasted into the translation (what its background costs) and with the true background
  around its objects (what its objects cost), against the identity map;
* what each direction does to the background well away from its objects: the shift of each
  image's mean colour (tint, per channel, signed) and the grain left once the error is smoothed
  (rms). SSIM forgives a tint and not a grain. Each generator's grain on images of its own output
  domain (G_A on real B, G_B on real A), which its identity loss trains it to leave unchanged, is
  the floor: a grain near it is the network's own fine error, not something learnt from the cycle.

    python benchmarks/hidden_code.py outputs/<date>/<time>/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchmetrics.image import StructuralSimilarityIndexMeasure

from cyclegan_lit.checkpoint_io import is_complete_checkpoint
from cyclegan_lit.data.synthetic import (
    _SQUARE_BANDS,
    Scene,
    SceneObject,
    _coverage,
    _fill,
    make_scene,
    read_marker,
    render,
)
from cyclegan_lit.models import CycleGAN


def to_tensor(image: np.ndarray) -> Tensor:
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def psnr(x: Tensor, y: Tensor) -> float:
    return float(10 * torch.log10(4.0 / ((x.clamp(-1, 1) - y) ** 2).mean()))


def render_swapped(scene: Scene) -> np.ndarray:
    """Style B with each object painted in the other shape's style (yellow squares...)."""
    size = scene.background.shape[0]
    image = scene.background.copy()
    for obj in scene.objects:
        cov = _coverage(obj, size)[..., None]
        other = dataclasses.replace(obj, shape="disc" if obj.shape == "square" else "square")
        image = image * (1 - cov) + _fill(other, size, "B") * cov
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _inside(obj: SceneObject, size: int) -> np.ndarray:
    """The object's fully covered pixels: its own colour, not a blend with the background."""
    return _coverage(obj, size) > 0.99


def _dark_rows(obj: SceneObject, size: int) -> np.ndarray:
    """The rows of a square's dark bands in style B (_fill: dark at both edges, light between)."""
    return ((np.arange(size) - obj.y0) * _SQUARE_BANDS // obj.side) % 2 == 0


def paint_squares(scene: Scene, dark: float, light: float) -> np.ndarray:
    """Style A with each square's dark-band rows in grey ``dark`` and the others in ``light``:
    the residue G_B leaves on the squares it greys, put on a real A image."""
    size = scene.background.shape[0]
    image = render(scene, "A")
    for obj in scene.objects:
        if obj.shape == "square":
            inside = _inside(obj, size)
            dark_rows = _dark_rows(obj, size)[:, None]
            image[inside & dark_rows] = round(dark)
            image[inside & ~dark_rows] = round(light)
    return image


def _pixels(image: Tensor) -> np.ndarray:
    return ((image[0].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)


def _gap(colours: dict[str, list[np.ndarray]]) -> float:
    """Mean |difference| over R, G, B between the mean colours on squares and on discs."""
    if not (colours["square"] and colours["disc"]):
        return float("nan")
    return float(np.abs(np.mean(colours["square"], 0) - np.mean(colours["disc"], 0)).mean())


@torch.no_grad()
def measure(model: CycleGAN, scenes: Sequence[Scene]) -> dict[str, float]:
    cycled, direct, d_real, d_swapped, d_fake, d_b_real, d_b_fake = [], [], [], [], [], [], []
    parts = ("square", "disc", "dark band", "light band")
    grey: dict[str, list[np.ndarray]] = {part: [] for part in parts}
    painted_b: dict[str, list[np.ndarray]] = {"square": [], "disc": []}  # G_A's, on real A
    true_b: dict[str, list[np.ndarray]] = {"square": [], "disc": []}
    for scene in scenes:
        a, b = to_tensor(render(scene, "A")), to_tensor(render(scene, "B"))
        fake_a = model.G_B(b)
        cycled.append(psnr(model.G_A(fake_a), b))
        fake_b = model.G_A(a)
        direct.append(psnr(fake_b, b))
        d_real.append(float(model.D_A(b).mean()))
        d_swapped.append(float(model.D_A(to_tensor(render_swapped(scene))).mean()))
        d_fake.append(float(model.D_A(fake_b).mean()))
        d_b_real.append(float(model.D_B(a).mean()))
        d_b_fake.append(float(model.D_B(fake_a).mean()))
        painted, translated, truth = _pixels(fake_a), _pixels(fake_b), _pixels(b)
        size = painted.shape[0]
        for obj in scene.objects:
            inside = _inside(obj, size)
            grey[obj.shape].append(painted[inside].mean(axis=0))
            painted_b[obj.shape].append(translated[inside].mean(axis=0))
            true_b[obj.shape].append(truth[inside].mean(axis=0))
            if obj.shape == "square":
                dark = _dark_rows(obj, size)
                for name, rows in (("dark band", dark), ("light band", ~dark)):
                    grey[name].append(painted[inside & rows[:, None]].mean(axis=0))
    nan = float("nan")
    return {
        "B→A→B PSNR": float(np.mean(cycled)),
        "A→B PSNR": float(np.mean(direct)),
        **{f"G_B {k} grey": float(np.mean(v)) if v else nan for k, v in grey.items()},
        "G_A square-disc colour gap": _gap(painted_b),
        "true square-disc colour gap": _gap(true_b),
        "D_A real B": float(np.mean(d_real)),
        "D_A swapped styles": float(np.mean(d_swapped)),
        "D_A G_A(A)": float(np.mean(d_fake)),
        "D_B real A": float(np.mean(d_b_real)),
        "D_B G_B(B)": float(np.mean(d_b_fake)),
    }


@torch.no_grad()
def band_cue(
    model: CycleGAN, scenes: Sequence[Scene], dark: float, light: float
) -> dict[str, float]:
    """What G_A reads on a grey square: its shape, its grey, or the bands G_B leaves on it.

    G_A's square-disc colour gap on real A with each square painted over: once all in the mean of
    ``dark`` and ``light`` (the grey G_B leaves, without bands), once in ``dark`` and ``light`` on
    the bands' rows. A G_A that reads shapes paints both like real A; one that learnt G_B's
    residue paints stripes only on the banded squares, so only that gap opens."""
    names = ("G_A gap, squares in G_B's grey", "G_A gap, squares in G_B's bands")
    if not (np.isfinite(dark) and np.isfinite(light)):  # no squares in the test scenes
        return dict.fromkeys(names, float("nan"))
    grey = (dark + light) / 2
    variants = {"G_B's grey": (grey, grey), "G_B's bands": (dark, light)}
    results = {}
    for name, (dark_grey, light_grey) in variants.items():
        painted: dict[str, list[np.ndarray]] = {"square": [], "disc": []}
        for scene in scenes:
            image = paint_squares(scene, dark_grey, light_grey)
            translated = _pixels(model.G_A(to_tensor(image)))
            for obj in scene.objects:
                inside = _inside(obj, image.shape[0])
                painted[obj.shape].append(translated[inside].mean(axis=0))
        results[f"G_A gap, squares in {name}"] = _gap(painted)
    return results


def _translate(
    model: CycleGAN, scene: Scene
) -> tuple[Tensor, Tensor, Tensor, dict[str, tuple[Tensor, Tensor]]]:
    """The scene's object mask (every pixel an object touches, edges included: outside it A and
    B are the same image), A, B, and each direction's translation (clamped) with its truth."""
    size = scene.background.shape[0]
    touched = torch.from_numpy(sum(_coverage(o, size) for o in scene.objects) > 0)
    a, b = to_tensor(render(scene, "A")), to_tensor(render(scene, "B"))
    return (
        touched,
        a,
        b,
        {
            "A→B": (model.G_A(a).clamp(-1, 1), b),
            "B→A": (model.G_B(b).clamp(-1, 1), a),
        },
    )


@torch.no_grad()
def ssim_split(model: CycleGAN, scenes: Sequence[Scene]) -> dict[str, float]:
    """SSIM of each direction as translated, with the true objects, with the true background."""
    kinds = ("", ", true objects", ", true background")
    metrics = {
        f"{d} SSIM{k}": StructuralSimilarityIndexMeasure(data_range=1.0)
        for d in ("A→B", "B→A", "identity")
        for k in (kinds if d != "identity" else ("",))
    }
    for scene in scenes:
        touched, a, b, translations = _translate(model, scene)
        objects = touched.float()[None, None]
        for name, (translated, target) in translations.items():
            out, truth = (translated + 1) / 2, (target + 1) / 2
            metrics[f"{name} SSIM"].update(out, truth)
            metrics[f"{name} SSIM, true objects"].update(
                out * (1 - objects) + truth * objects, truth
            )
            metrics[f"{name} SSIM, true background"].update(
                out * objects + truth * (1 - objects), truth
            )
        metrics["identity SSIM"].update((a + 1) / 2, (b + 1) / 2)
    return {name: float(metric.compute()) for name, metric in metrics.items()}


def _within(mask: Tensor, width: int) -> Tensor:
    """Pixels of ``mask`` or within ``width`` px of one (a square neighbourhood)."""
    grown = torch.nn.functional.max_pool2d(
        mask[None, None].float(), 2 * width + 1, stride=1, padding=width
    )
    return grown[0, 0].bool()


@torch.no_grad()
def edge_error(model: CycleGAN, scenes: Sequence[Scene], width: int = 3) -> dict[str, float]:
    """Mean |output - truth| (grey levels, over R, G, B) on background pixels within ``width``
    px of an object (a square neighbourhood) and farther away. Outside the objects A and B are
    the same image, so the identity map scores 0 on both."""
    errors: dict[str, list[Tensor]] = {
        f"{d} error {where} objects": [] for d in ("A→B", "B→A") for where in ("near", "far from")
    }
    for scene in scenes:
        touched, _, _, translations = _translate(model, scene)
        near_or_on = _within(touched, width)
        near, far = near_or_on & ~touched, ~near_or_on
        for name, (translated, target) in translations.items():
            error = (translated - target).abs()[0].mean(0) * 127.5
            errors[f"{name} error near objects"].append(error[near])
            errors[f"{name} error far from objects"].append(error[far])
    return {name: float(torch.cat(values).mean()) for name, values in errors.items()}


@torch.no_grad()
def background_drift(
    model: CycleGAN, scenes: Sequence[Scene], width: int = 6, sigma: float = 2.0
) -> dict[str, float]:
    """Tint and grain of each direction's background farther than ``width`` px from any object
    (wide enough that smoothing does not reach an object), in grey levels. Tint: the mean signed
    error of each image there, per channel, averaged over images. Grain: the rms of the error
    minus its Gaussian smoothing (``sigma`` px); also of each generator on its own output domain
    (``G_A(B)``, ``G_B(A)``: the identity losses' images), the floor under the cycle's grain."""
    from torchvision.transforms.functional import gaussian_blur

    kernel, nan = 2 * round(3 * sigma) + 1, float("nan")
    shifts: dict[str, list[Tensor]] = {"A→B": [], "B→A": []}
    grain: dict[str, list[Tensor]] = {"A→B": [], "B→A": [], "G_A(B)": [], "G_B(A)": []}
    for scene in scenes:
        touched, a, b, translations = _translate(model, scene)
        far = ~_within(touched, width)
        if not far.any():
            continue
        own_domain = {
            "G_A(B)": (model.G_A(b).clamp(-1, 1), b),
            "G_B(A)": (model.G_B(a).clamp(-1, 1), a),
        }
        for name, (translated, target) in {**translations, **own_domain}.items():
            error = (translated - target)[0] * 127.5
            if name in shifts:
                shifts[name].append(error[:, far].mean(1))
            fine = error - gaussian_blur(error[None], [kernel, kernel], [sigma, sigma])[0]
            grain[name].append(fine[:, far].pow(2).mean(0))
    results: dict[str, float] = {}
    for name in shifts:
        mean_shift = torch.stack(shifts[name]).mean(0) if shifts[name] else torch.full((3,), nan)
        for channel, value in zip("RGB", mean_shift.tolist(), strict=True):
            results[f"{name} background tint {channel}"] = value
    for name, values in grain.items():
        results[f"{name} background grain"] = (
            float(torch.cat(values).mean().sqrt()) if values else nan
        )
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument(
        "--data-root", help="the synthetic dataset's folder (default: the parameters below)"
    )
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not Path(args.checkpoint).is_file():
        parser.error(f"checkpoint {args.checkpoint} does not exist; pass a run's last.ckpt")
    if not is_complete_checkpoint(args.checkpoint):
        parser.error(
            f"checkpoint {args.checkpoint} is truncated or not a checkpoint; pass a run's last.ckpt"
        )
    if args.data_root:
        marker = read_marker(args.data_root) or {}
        args.size = marker.get("size", args.size)
        args.n_train = marker.get("n_train", args.n_train)
        args.n_test = marker.get("n_test", args.n_test)
        args.seed = marker.get("seed", args.seed)
    model = CycleGAN.load_from_checkpoint(args.checkpoint, map_location="cpu", weights_only=False)
    model.eval()
    first = 2 * args.n_train  # the test scenes follow both training splits
    scenes = [make_scene(first + i, args.size, args.seed) for i in range(args.n_test)]
    measured = measure(model, scenes)
    dark, light = measured["G_B dark band grey"], measured["G_B light band grey"]
    results = {
        **measured,
        **band_cue(model, scenes, dark, light),
        **edge_error(model, scenes),
        **ssim_split(model, scenes),
        **background_drift(model, scenes),
    }
    for name, value in results.items():
        print(f"{name:<32} {value:8.3f}")
    sys.stdout.flush()
    return results


if __name__ == "__main__":
    main()
