"""Translating whole images: size kept, tiles that agree with the whole pass, the Python API and
`cyclegan-translate` (folders, globs, formats, index.html, bad input)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import composed, run_cli
from PIL import Image
from test_download import DatasetServer
from test_pretrained import g9_bytes  # noqa: F401  (the served pretrained file)

from cyclegan_lit import translate
from cyclegan_lit.cli.translate import translate_images
from cyclegan_lit.inference import LoadedGenerator, Translator, load_generator
from cyclegan_lit.inference.translate import SharedInstanceNormStats, pad_to_multiple
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.networks import GeneratorConfig, export_reference_generator

TRANSLATE = Path(sys.executable).parent / "cyclegan-translate"
TINY = {"generator": {"name": "resnet_6blocks", "ngf": 8}, "discriminator": {"ndf": 8}}


def _loaded(name: str = "resnet_6blocks", seed: int = 0) -> LoadedGenerator:
    torch.manual_seed(seed)
    options = GeneratorConfig(name=name, ngf=8)
    return LoadedGenerator(
        options.build(3, 3).eval(), 3, 3, options.min_input_size, options.receptive_field, "test"
    )


@pytest.fixture(scope="module")
def checkpoint(tiny_model_and_checkpoint: tuple[CycleGAN, Path]) -> Path:
    return tiny_model_and_checkpoint[1]


def _images(folder: Path) -> Path:
    """Odd sizes, a nested folder, alpha, greyscale, and one unreadable file."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (250, 362, 3), dtype=np.uint8)).save(folder / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (250, 362, 3), dtype=np.uint8)).save(folder / "a2.png")
    rgba = rng.integers(0, 255, (37, 61, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "sub" / "b.png")
    Image.fromarray(rng.integers(0, 255, (33, 45), dtype=np.uint8), "L").save(
        folder / "sub" / "c.png"
    )
    (folder / "sub" / "broken.jpg").write_bytes(b"not an image")
    return folder


# ------------------------------------------------------------------ the translation engine


def test_padding_keeps_any_size_for_resnet_and_unet() -> None:
    for name, size in (("resnet_6blocks", (362, 250)), ("unet_128", (100, 61))):
        out = Translator(_loaded(name))(torch.rand(2, 3, *size) * 2 - 1)
        assert out.shape == (2, 3, *size) and out.abs().max() <= 1
    padded, original = pad_to_multiple(torch.zeros(1, 3, 5, 7), 128)  # too small to reflect
    assert padded.shape[-2:] == (128, 128) and original == (5, 7)


@pytest.mark.parametrize("name", ["resnet_6blocks", "resnet_9blocks"])
def test_tiled_output_matches_the_whole_image(name: str) -> None:
    generator = _loaded(name)
    image = torch.rand(1, 3, 362, 250) * 2 - 1
    whole = Translator(generator)(image)
    tile = generator.receptive_field + 1
    tiled = Translator(generator, tile=tile)(image)
    assert (tiled - whole).abs().max() <= 1e-2  # the bound; measured ~2e-6
    # Without the shared statistics each tile normalises itself: a visible colour shift.
    crop = image[..., :128, :128]
    alone = Translator(generator)(crop)
    assert (alone - whole[..., :128, :128]).abs().max() > 1e-2


def test_large_images_are_tiled_with_stats_of_a_downscaled_copy() -> None:
    generator = _loaded()
    # a photo-like (smooth) image: its statistics survive downscaling, unlike pixel noise
    coarse = torch.rand(1, 3, 30, 26) * 2 - 1
    image = torch.nn.functional.interpolate(coarse, size=(300, 260), mode="bilinear")
    whole = Translator(generator)(image)
    auto = Translator(generator, max_pixels=200 * 200)(image)  # stats from a 0.77x copy
    assert auto.shape == whole.shape
    # Translating four crops separately (each with its own statistics) is what a user would do
    # by hand; the shared, approximate statistics come closer to the whole pass (measured on an
    # untrained generator: 0.046 vs 0.084 mean absolute difference).
    crops = torch.zeros_like(whole)
    for top, left in ((0, 0), (0, 132), (152, 0), (152, 132)):
        crop = image[..., top : top + 148, left : left + 128]
        crops[..., top : top + 148, left : left + 128] = Translator(generator)(crop)
    error = (auto - whole).abs().mean()
    assert error < 0.06 and error < (crops - whole).abs().mean()


def test_shared_stats_restore_the_plain_instance_norm() -> None:
    generator = _loaded()
    stats = SharedInstanceNormStats(generator.net)
    x = torch.rand(1, 3, 64, 64)
    before = generator.net(x)
    with stats.record():
        generator.net(x)
    with stats.apply():
        assert torch.allclose(generator.net(x), before, atol=1e-5)
    assert torch.equal(generator.net(x), before)
    assert not any("forward" in vars(layer) for layer in stats.layers)


def test_tile_smaller_than_the_receptive_field_is_refused() -> None:
    generator = _loaded()
    with pytest.raises(ValueError, match=r"^tile=64: smaller than .* receptive field \(127 px\)"):
        Translator(generator, tile=64)


# ------------------------------------------------------------------ loading and the Python API


def test_python_api_on_pil_images_and_tensors(checkpoint: Path) -> None:
    model = CycleGAN.load_from_checkpoint(checkpoint, map_location="cpu")
    image = Image.new("RGBA", (61, 37), (255, 0, 0, 128))
    out = translate(image, checkpoint)
    assert isinstance(out, Image.Image) and out.size == (61, 37) and out.mode == "RGB"
    grey = Image.new("L", (40, 24), 100)
    outs = translate([image, grey], model, "BtoA")
    assert [o.size for o in outs] == [(61, 37), (40, 24)]
    batch = torch.rand(2, 3, 30, 30) * 2 - 1
    with torch.no_grad():
        expected = model.G_B(torch.nn.functional.pad(batch, (0, 2, 0, 2), mode="reflect"))
    assert torch.allclose(translate(batch, checkpoint, "BtoA"), expected[..., :30, :30], atol=1e-5)


def test_checkpoint_directions_and_reference_files(checkpoint: Path, tmp_path: Path) -> None:
    g_a, g_b = load_generator(checkpoint, "AtoB"), load_generator(checkpoint, "BtoA")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert not torch.allclose(g_a.net(x), g_b.net(x))
    pth = export_reference_generator(g_b.net, tmp_path / "latest_net_G.pth")
    from_pth = load_generator(pth, generator={"name": "resnet_6blocks", "ngf": 8})
    assert torch.equal(from_pth.net(x), g_b.net(x))
    with pytest.raises(ValueError, match=r"^ckpt_path=.*latest_net_G\.pth: .*block count") as info:
        load_generator(pth)  # the default architecture is resnet_9blocks at ngf 64
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"^ckpt_path=.*: no such file"),
        (b"", r"^ckpt_path=.*: the file is empty"),
        (b"\x00random bytes" * 10, r"^ckpt_path=.*: not a checkpoint torch can read"),
    ],
)
def test_bad_checkpoints_are_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        load_generator(path)
    assert "\n" not in str(info.value)


def test_truncated_checkpoint_is_one_line(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    path.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"^ckpt_path=.*(truncated|not a checkpoint)"):
        load_generator(path)


# ------------------------------------------------------------------ the command


def _run(tmp_path: Path, overrides: list[str]):
    with composed(overrides, tmp_path, config_name="translate") as cfg:
        return translate_images(cfg)


def test_folder_sizes_structure_formats_and_index(checkpoint: Path, tmp_path: Path) -> None:
    inputs = _images(tmp_path / "in")
    out = tmp_path / "out"
    report = _run(tmp_path, [f"ckpt_path={checkpoint}", f"input={inputs}", f"output_dir={out}"])
    assert sorted(r.name for r in report.translated) == [
        "a.jpg",
        "a2.png",
        "sub/b.png",
        "sub/c.png",
    ]
    assert len(report.skipped) == 1 and "broken.jpg" in report.skipped[0]
    for source, result in (
        ("a.jpg", "a.jpg"),
        ("sub/b.png", "sub/b.png"),
        ("sub/c.png", "sub/c.png"),
    ):
        assert Image.open(out / result).size == Image.open(inputs / source).size
    assert (
        Image.open(out / "a.jpg").format == "JPEG" and Image.open(out / "sub/c.png").mode == "RGB"
    )
    page = (out / "index.html").read_text()
    links = re.findall(r'src="([^"]+)"', page)
    assert len(links) == 8 and all(not link.startswith("/") for link in links)
    assert all((out / link).is_file() for link in links) and "broken.jpg" in page
    assert "362×250" in page


def test_batching_changes_nothing_and_format_png(checkpoint: Path, tmp_path: Path) -> None:
    inputs = _images(tmp_path / "in")
    one, four = tmp_path / "one", tmp_path / "four"
    common = [f"ckpt_path={checkpoint}", f"input={inputs}/*.*", "format=png", "html=false"]
    _run(tmp_path, [*common, f"output_dir={one}", "batch_size=1"])
    _run(tmp_path, [*common, f"output_dir={four}", "batch_size=4"])
    names = sorted(p.name for p in one.iterdir())
    assert names == ["a.png", "a2.png"]  # the glob matched the top level only; broken skipped
    for name in names:
        assert np.array_equal(
            np.asarray(Image.open(one / name)), np.asarray(Image.open(four / name))
        )


def test_exif_orientation_is_respected(checkpoint: Path, tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 24), (200, 30, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    image.save(tmp_path / "phone.jpg", exif=exif)
    report = _run(
        tmp_path,
        [
            f"ckpt_path={checkpoint}",
            f"input={tmp_path / 'phone.jpg'}",
            f"output_dir={tmp_path / 'o'}",
        ],
    )
    assert report.translated[0].size == (24, 40)
    assert Image.open(tmp_path / "o" / "phone.jpg").size == (24, 40)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["input=MISSING"], r"^input=.*missing: no such file or folder"),
        (["input=EMPTY"], r"^input=.*: no images"),
        (["output_dir=UNDER_A_FILE"], r"^output_dir=.*: cannot be written"),
        (["tile=16"], r"^tile=16: smaller than"),
        (["ckpt_path=null"], r"^ckpt_path=null: give a checkpoint"),
        (["direction=AB"], r"^direction='AB': must be AtoB or BtoA"),
        (["device=tpu"], r"^device='tpu'"),
        (["format=xyz"], r"^format=xyz: Pillow cannot write"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    checkpoint: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    inputs = _images(tmp_path / "in")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("")
    places = {
        "MISSING": str(tmp_path / "missing"),
        "EMPTY": str(tmp_path / "empty"),
        "UNDER_A_FILE": str(tmp_path / "a_file" / "out"),
    }
    overrides = [
        o.split("=")[0] + "=" + places.get(o.split("=")[1], o.split("=")[1]) for o in overrides
    ]
    out = tmp_path / "out"
    base = [f"ckpt_path={checkpoint}", f"input={inputs}", f"output_dir={out}"]
    with pytest.raises((ValueError, OSError)) as info:
        _run(tmp_path, [*base, *overrides])
    assert re.search(message, str(info.value)) and "\n" not in str(info.value)
    assert not any(p.is_file() for p in out.rglob("*")) if out.exists() else True


@pytest.mark.slow
def test_console_script_translates_and_reports(checkpoint: Path, tmp_path: Path, cli_env) -> None:
    inputs = _images(tmp_path / "in")
    result = run_cli(
        [f"ckpt_path={checkpoint}", f"input={inputs}", "output_dir=out", "direction=BtoA"],
        tmp_path,
        cli_env,
        command=[str(TRANSLATE)],
    )
    assert result.returncode == 0, result.stderr
    assert "Translated 4 images" in result.stdout and "Skipped 1" in result.stdout
    assert (tmp_path / "out" / "index.html").is_file()
    bad = run_cli(
        ["ckpt_path=nope.ckpt", f"input={inputs}"], tmp_path, cli_env, command=[str(TRANSLATE)]
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("cyclegan-translate: error: ckpt_path=")


def test_pretrained_by_name_is_downloaded_once_and_translates(
    tmp_path: Path,
    g9_bytes: bytes,  # noqa: F811
) -> None:
    inputs = _images(tmp_path / "in")
    with DatasetServer() as server:
        server.files["/horse2zebra.pth"] = g9_bytes
        args = [
            "pretrained=horse2zebra",
            f"pretrained_url={server.url}",
            f"cache_dir={tmp_path / 'cache'}",
            f"input={inputs / 'sub'}",
            "html=false",
        ]
        first = _run(tmp_path, [*args, f"output_dir={tmp_path / 'one'}"])
        second = _run(tmp_path, [*args, f"output_dir={tmp_path / 'two'}"])
    assert [r["path"] for r in server.requests] == ["/horse2zebra.pth"]  # cached after one
    assert len(first.translated) == len(second.translated) == 2
    assert (tmp_path / "cache" / "pretrained" / "horse2zebra.pth").is_file()
    assert Image.open(tmp_path / "two" / "b.png").size == (61, 37)
    with pytest.raises(ValueError, match=r"^pretrained='horse2zebr': .*did you mean 'horse2zebra'"):
        _run(tmp_path, [*args[1:], "pretrained=horse2zebr", f"output_dir={tmp_path / 'x'}"])
