"""Image discovery and decoding: every Pillow mode on purpose, every bad file a one-line error."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_lit.data.images import ImageLoadError, find_images, load_image, read_image


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


# -- finding images ---------------------------------------------------------------------------


def test_find_images_walks_recursively_sorted_any_case(tmp_path):
    for rel in ["b.PNG", "a.jpg", "sub/c.JpEg", "sub/deep/d.tiff", "e.webp", "f.bmp"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / "g.gif").write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()  # a folder with an image-like name is not an image
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == sorted(found)
    assert set(found) == {"b.PNG", "a.jpg", "sub/c.JpEg", "sub/deep/d.tiff", "e.webp", "f.bmp"}
    assert len(find_images(tmp_path, max_dataset_size=2)) == 2
    assert find_images(tmp_path, max_dataset_size=2) == find_images(tmp_path)[:2]


def test_find_images_missing_folder_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        find_images(tmp_path / "nope")
    assert "nope" in str(err.value) and "\n" not in str(err.value)


# -- modes ------------------------------------------------------------------------------------


def test_grey_l_becomes_rgb_or_stays_one_channel(tmp_path):
    path = tmp_path / "l.png"
    Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8), "L").save(path)
    rgb = _pixels(load_image(path, 3))
    assert rgb.shape == (2, 2, 3) and (rgb[..., 0] == rgb[..., 2]).all() and rgb[0, 1, 1] == 100
    grey = read_image(path, 1)
    assert grey.shape == (1, 2, 2) and grey.dtype == torch.uint8 and grey[0, 1, 0] == 200


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_onto_white(tmp_path, mode):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 10, 10, 255)  # opaque dark
    rgba[0, 1] = (10, 10, 10, 0)  # fully transparent dark
    rgba[1, 0] = (10, 10, 10, 128)  # half transparent
    rgba[1, 1] = (10, 10, 10, 255)
    img = Image.fromarray(rgba, "RGBA")
    img = img.convert(mode)
    path = tmp_path / f"{mode}.png"
    img.save(path)
    out = _pixels(load_image(path, 3))
    assert out.shape == (2, 2, 3)
    assert abs(out[0, 0, 0] - 10) <= 2
    assert (out[0, 1] == 255).all()  # transparent shows the white background, not black
    assert 120 <= out[1, 0, 0] <= 140
    assert torch.equal(read_image(path, 3), torch.from_numpy(out.astype(np.uint8)).permute(2, 0, 1))


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    path = tmp_path / "p.png"
    img.save(path, transparency=1)
    out = _pixels(load_image(path, 3))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert read_image(path).shape == (3, 1, 2)


def test_cmyk_tiff_becomes_rgb(tmp_path):
    cmyk = np.zeros((1, 2, 4), np.uint8)
    cmyk[0, 0] = (255, 0, 0, 0)  # cyan
    cmyk[0, 1] = (0, 0, 0, 255)  # black
    path = tmp_path / "cmyk.tif"
    Image.fromarray(cmyk, "CMYK").save(path)
    out = _pixels(load_image(path, 3))
    assert out[0, 0].tolist() == [0, 255, 255]
    assert out[0, 1].tolist() == [0, 0, 0]


def test_cmyk_jpeg_falls_back_to_pillow(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # red
    out = read_image(path, 3)
    assert out.shape == (3, 16, 16)
    r, g, b = (int(v) for v in out[:, 8, 8])
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535, 1000]], np.uint16)
    path = tmp_path / "i16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    out = _pixels(load_image(path, 1))
    assert out.tolist() == [[0, 100, 255, 4]]  # Pillow's convert("L") would give 0, 255, 255, 255
    assert read_image(path, 3)[:, 0, 1].tolist() == [100, 100, 100]


def test_thirty_two_bit_int_and_float(tmp_path):
    path_i = tmp_path / "i32.tif"
    Image.fromarray(np.array([[0, 257 * 50, 65535]], np.int32), "I").save(path_i)
    assert _pixels(load_image(path_i, 1)).tolist() == [[0, 50, 255]]
    path_f = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F").save(path_f)
    assert _pixels(load_image(path_f, 1)).tolist() == [[0, 128, 255]]


def test_bilevel(tmp_path):
    path = tmp_path / "one.png"
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    img.save(path)
    assert _pixels(load_image(path, 1)).tolist() == [[0, 255]]


def _exif_rotated_jpeg(path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    img.save(path, exif=exif, quality=95)


def test_exif_orientation_is_applied_on_both_paths(tmp_path):
    path = tmp_path / "rot.jpg"
    _exif_rotated_jpeg(path)
    pil = _pixels(load_image(path, 3))
    assert pil.shape == (40, 20, 3)  # portrait once rotated
    assert pil[2, 10].mean() > 200 and pil[-3, 10].mean() < 50  # left band is now on top
    fast = read_image(path, 3)
    assert fast.shape == (3, 40, 20)
    slow = torch.from_numpy(pil.astype(np.uint8)).permute(2, 0, 1)
    assert (fast.int() - slow.int()).abs().max() <= 3


def test_fast_path_matches_pillow(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(24, 30, 3), dtype=np.uint8)
    png, jpg = tmp_path / "x.png", tmp_path / "x.jpg"
    Image.fromarray(array).save(png)
    Image.fromarray(array).save(jpg, quality=90)
    assert torch.equal(read_image(png), read_image(png, fast=False))
    assert torch.equal(read_image(png), torch.from_numpy(array).permute(2, 0, 1))
    diff = (read_image(jpg).int() - read_image(jpg, fast=False).int()).abs()
    assert diff.float().mean() < 1.0


# -- bad files ----------------------------------------------------------------------------------


def _valid_png_bytes() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _valid_jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _assert_one_line_error(path, fn=read_image):
    with pytest.raises(ImageLoadError) as err:
        fn(path, 3)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(err.value, ValueError)
    return message


@pytest.mark.parametrize(
    "name,content",
    [
        ("empty.png", b""),
        ("truncated.png", _valid_png_bytes()[:300]),
        ("truncated.jpg", _valid_jpeg_bytes()[:400]),
        ("text.jpg", b"this is not a jpeg\n"),
    ],
)
@pytest.mark.parametrize("fn", [read_image, load_image])
def test_bad_files_raise_one_line_error(tmp_path, name, content, fn):
    path = tmp_path / name
    path.write_bytes(content)
    message = _assert_one_line_error(path, fn)
    assert "replace or delete" in message


def test_directory_and_missing_file(tmp_path):
    (tmp_path / "dir.png").mkdir()
    _assert_one_line_error(tmp_path / "dir.png")
    _assert_one_line_error(tmp_path / "gone.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(_valid_png_bytes())
    path.chmod(0)
    try:
        _assert_one_line_error(path)
    finally:
        path.chmod(0o644)


def test_decompression_bomb(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(_valid_png_bytes())  # 64×64 = 4096 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # error above 2× the limit
    message = _assert_one_line_error(path, load_image)
    assert "MAX_IMAGE_PIXELS" in message


@pytest.mark.parametrize("decode", [load_image, read_image])
def test_image_between_one_and_two_times_the_pixel_limit_is_refused(tmp_path, monkeypatch, decode):
    """Pillow only warns below 2x MAX_IMAGE_PIXELS; such a file is refused like a bigger one."""
    path = tmp_path / "large.png"
    path.write_bytes(_valid_png_bytes())  # 64×64 = 4096 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 is between 1x and 2x
    message = _assert_one_line_error(path, decode)
    assert "MAX_IMAGE_PIXELS" in message
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4096)  # at the limit: decoded
    assert tuple(read_image(path).shape) == (3, 64, 64)
