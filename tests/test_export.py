"""Exporting a trained generator: ONNX in ONNX Runtime, a torch.export program, the reference's
.pth; each matches PyTorch at two sizes; `cyclegan-export` and its one-line errors."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import composed, run_cli

from cyclegan_lit.cli.export import export
from cyclegan_lit.inference import LoadedGenerator, load_generator
from cyclegan_lit.inference.export import (
    ATOL,
    ExportCheckError,
    MissingDependencyError,
    export_generator,
    export_onnx,
    export_pt2,
    export_reference,
)
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.networks import GeneratorConfig, export_reference_generator

EXPORT = Path(sys.executable).parent / "cyclegan-export"
TINY = {
    "generator": {"name": "resnet_6blocks", "ngf": 8},
    "discriminator": {"name": "basic", "ndf": 8},
}
TINY_GENERATOR = ["generator.name=resnet_6blocks", "generator.ngf=8"]  # for a reference .pth


@pytest.fixture(scope="module")
def checkpoint(tiny_model_and_checkpoint: tuple[CycleGAN, Path]) -> Path:
    return tiny_model_and_checkpoint[1]


@pytest.fixture(scope="module")
def trained(tiny_model_and_checkpoint: tuple[CycleGAN, Path]) -> CycleGAN:
    return tiny_model_and_checkpoint[0]


def _image(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _only_file(folder: Path) -> Path:
    files = [p for p in folder.iterdir() if p.is_file()]
    assert len(files) == 1, files  # no temp files left beside it
    return files[0]


# ------------------------------------------------------------------ the three formats


def test_onnx_runs_in_onnx_runtime_with_dynamic_batch_and_size(
    checkpoint: Path, trained: CycleGAN, tmp_path: Path
) -> None:
    import onnx
    import onnxruntime as ort

    generator = load_generator(checkpoint, "AtoB")
    result = export_onnx(generator, tmp_path / "g.onnx")
    assert result.path == tmp_path / "g.onnx" == _only_file(tmp_path)
    assert result.size_bytes == result.path.stat().st_size > 100_000
    assert [c.shape for c in result.checks] == [(1, 3, 64, 64), (2, 3, 96, 128)]
    assert all(c.max_abs_diff <= ATOL for c in result.checks), result.checks
    print(f"onnx: {result.size_bytes} bytes; {result.check_line()}")

    # The file on its own: symbolic N, H, W; a third size and batch that the export never saw.
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("input", "output")
    assert isinstance(inp.shape[0], str) and inp.shape[1] == 3
    assert all(isinstance(d, str) and d.startswith("4*") for d in inp.shape[2:]), inp.shape
    x = _image(3, 3, 32, 48)
    with torch.no_grad():
        expected = trained.G_A(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == (3, 3, 32, 48) and np.abs(got - expected).max() <= ATOL

    proto = onnx.load(str(result.path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["min_input_size"] == "4" and meta["value_range"] == "[-1, 1]"
    assert "[-1, 1]" in proto.doc_string and "multiples of 4" in proto.doc_string
    assert proto.opset_import[0].version == 18


def test_pt2_reloads_and_matches_at_two_sizes(
    checkpoint: Path, trained: CycleGAN, tmp_path: Path
) -> None:
    result = export_pt2(load_generator(checkpoint, "AtoB"), tmp_path / "g.pt2")
    assert result.path == _only_file(tmp_path)
    assert [c.shape for c in result.checks] == [(1, 3, 64, 64), (2, 3, 96, 128)]
    assert all(c.max_abs_diff <= ATOL for c in result.checks)
    print(f"pt2: {result.size_bytes} bytes; {result.check_line()}")
    extra = {"cyclegan_lit.json": ""}
    module = torch.export.load(result.path, extra_files=extra).module()
    assert '"min_input_size": "4"' in extra["cyclegan_lit.json"]
    x = _image(3, 3, 40, 24)
    with torch.no_grad():
        assert torch.allclose(module(x), trained.G_A(x), atol=ATOL)


def test_unet_pt2_takes_its_smallest_size(tmp_path: Path) -> None:
    """The 1×1 innermost feature map must not make the program refuse H = W = 2**num_downs."""
    torch.manual_seed(0)
    options = GeneratorConfig(name="unet_128", ngf=8)
    generator = LoadedGenerator(
        options.build(3, 3).eval(), 3, 3, options.min_input_size, options.receptive_field, "unet"
    )
    result = export_pt2(generator, tmp_path / "unet.pt2")
    assert [c.shape for c in result.checks] == [(1, 3, 128, 128), (2, 3, 256, 384)]
    assert result.max_abs_diff is not None and result.max_abs_diff <= ATOL


def test_reference_pth_loads_strictly_into_a_fresh_generator(
    checkpoint: Path, trained: CycleGAN, tmp_path: Path
) -> None:
    result = export_reference(load_generator(checkpoint, "AtoB"), tmp_path / "latest_net_G.pth")
    assert result.path == _only_file(tmp_path) and result.max_abs_diff == 0.0
    print(f"reference: {result.size_bytes} bytes; {result.check_line()}")
    # What the reference's test.py does: torch.load, then a strict load_state_dict.
    fresh = GeneratorConfig(**TINY["generator"]).build(3, 3).eval()
    fresh.load_state_dict(torch.load(result.path, weights_only=True), strict=True)
    x = _image(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(fresh(x), trained.G_A(x))


def test_btoa_exports_g_b(checkpoint: Path, trained: CycleGAN, tmp_path: Path) -> None:
    files = {
        d: export_generator(load_generator(checkpoint, d), tmp_path / f"{d}.pth", "reference").path
        for d in ("AtoB", "BtoA")
    }
    x = _image(1, 3, 64, 64)
    outputs = {}
    for direction, path in files.items():
        net = GeneratorConfig(**TINY["generator"]).build(3, 3).eval()
        net.load_state_dict(torch.load(path, weights_only=True), strict=True)
        with torch.no_grad():
            outputs[direction] = net(x)
    with torch.no_grad():
        assert torch.equal(outputs["BtoA"], trained.G_B(x))
        assert torch.equal(outputs["AtoB"], trained.G_A(x))
    assert not torch.allclose(outputs["AtoB"], outputs["BtoA"], atol=1e-3)


def test_reference_pth_as_input(checkpoint: Path, trained: CycleGAN, tmp_path: Path) -> None:
    pth = export_reference_generator(trained.G_B, tmp_path / "in" / "latest_net_G.pth")
    generator = load_generator(pth, "AtoB", TINY["generator"])  # a .pth ignores direction
    result = export_pt2(generator, tmp_path / "out" / "g.pt2")
    module = torch.export.load(result.path).module()
    x = _image(2, 3, 96, 128)
    with torch.no_grad():
        assert torch.allclose(module(x), trained.G_B(x), atol=ATOL)


def test_a_failed_check_leaves_the_old_file_and_no_temp_file(
    checkpoint: Path, tmp_path: Path
) -> None:
    target = tmp_path / "g.pth"
    target.write_bytes(b"old")
    with pytest.raises(ExportCheckError, match=r"differs from PyTorch by .*nothing was written"):
        export_reference(load_generator(checkpoint, "AtoB"), target, atol=-1.0)
    assert target.read_bytes() == b"old" and _only_file(tmp_path) == target


def test_onnx_without_onnxruntime_is_one_line(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(MissingDependencyError) as info:
        export_onnx(load_generator(checkpoint, "AtoB"), tmp_path / "g.onnx")
    assert str(info.value).startswith(
        "format=onnx needs onnxruntime to check the file: pip install 'cyclegan-lit[export]'"
    )
    assert isinstance(info.value, ImportError) and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_an_opset_the_generator_cannot_be_converted_to_is_refused(
    checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"^opset=17: .*could only write opset 18.*Pad") as info:
        export_onnx(load_generator(checkpoint, "AtoB"), tmp_path / "g.onnx", opset=17)
    assert "\n" not in str(info.value) and not any(tmp_path.iterdir())


# ------------------------------------------------------------------ the command line


def _export(tmp_path: Path, overrides: list[str]):
    with composed(overrides, tmp_path / "hydra", config_name="export") as cfg:
        return export(cfg)


def test_config_derives_the_output_name(checkpoint: Path, tmp_path: Path) -> None:
    result = _export(
        tmp_path,
        [f"ckpt_path={checkpoint}", "format=reference", "direction=BtoA", f"output_dir={tmp_path}"],
    )
    assert result.path == tmp_path / "tiny_BtoA.pth" and result.checks
    folder = tmp_path / "app"
    folder.mkdir()
    result = _export(tmp_path, [f"ckpt_path={checkpoint}", "format=reference", f"output={folder}"])
    assert result.path == folder / "tiny_AtoB.pth"


def test_the_file_goes_beside_the_checkpoint_never_into_the_current_folder(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    ckpt = Path(shutil.copy(checkpoint, run / "last.ckpt"))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = _export(tmp_path, [f"ckpt_path={ckpt}", "format=reference"])
    assert result.path == run / "last_AtoB.pth" and result.path.is_file()
    assert not any(here.iterdir())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["ckpt_path=MISSING"], r"^ckpt_path=.*missing\.ckpt: no such file"),
        (["ckpt_path=CORRUPT"], r"^ckpt_path=.*corrupt\.ckpt: not a checkpoint torch can read"),
        (["ckpt_path=null"], r"^ckpt_path=null: give a checkpoint"),
        (["format=tflite"], r"^format='tflite': must be onnx, pt2 or reference"),
        (["direction=AB"], r"^direction='AB': must be AtoB or BtoA"),
        (
            ["output_dir=UNDER_A_FILE"],
            r"^output_dir=.*a_file/out: cannot be written \(.*a_file is a",
        ),
        (["output=UNDER_A_FILE/g.onnx"], r"^output=.*a_file/out/g\.onnx: cannot be written"),
        (["opset=16"], r"^opset=16: must be an integer >= 17"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    checkpoint: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    (tmp_path / "a_file").write_text("")
    (tmp_path / "corrupt.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    places = {
        "MISSING": str(tmp_path / "missing.ckpt"),
        "CORRUPT": str(tmp_path / "corrupt.ckpt"),
        "UNDER_A_FILE": str(tmp_path / "a_file" / "out"),
    }
    for key, value in places.items():
        overrides = [o.replace(key, value) for o in overrides]
    out = tmp_path / "out"
    base = [f"ckpt_path={checkpoint}", f"output_dir={out}"]
    with pytest.raises((ValueError, OSError)) as info:
        _export(tmp_path, [*base, *overrides])
    assert re.search(message, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_console_script_exports_and_reports(
    checkpoint: Path, trained: CycleGAN, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = run_cli(
        [f"ckpt_path={checkpoint}", "output_dir=out"], tmp_path, cli_env, command=[str(EXPORT)]
    )
    assert result.returncode == 0, result.stderr
    written = tmp_path / "out" / "tiny_AtoB.onnx"
    assert written.is_file() and _only_file(tmp_path / "out") == written
    assert f"Wrote {written}" in result.stdout and "KiB, onnx)" in result.stdout
    assert re.search(
        r"check with ONNX Runtime: .* at 1×3×64×64, .* at 2×3×96×128 .*: ok", result.stdout
    )
    assert "Replaced initializer" not in result.stdout + result.stderr  # exporter chatter stays off

    # A reference .pth (architecture from `generator`), written where `output` says.
    pth = export_reference_generator(trained.G_A, tmp_path / "latest_net_G.pth")
    result = run_cli(
        [f"ckpt_path={pth}", "format=pt2", "output=app/g.pt2", *TINY_GENERATOR],
        tmp_path,
        cli_env,
        command=[str(EXPORT)],
    )
    assert result.returncode == 0, result.stderr
    assert (
        tmp_path / "app" / "g.pt2"
    ).is_file() and "check with torch.export.load" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ckpt_path=nope.ckpt"], "ckpt_path=nope.ckpt: no such file"),
        (["ckpt_path=CKPT", "format=tflite"], "format='tflite': must be onnx, pt2 or reference"),
        (["ckpt_path=CKPT", "output_dir=a_file/out"], "output_dir=a_file/out: cannot be written"),
    ],
)
def test_console_script_bad_input_is_one_error_line(
    checkpoint: Path, tmp_path: Path, cli_env: dict[str, str], args: list[str], message: str
) -> None:
    (tmp_path / "a_file").write_text("")
    args = [a.replace("CKPT", str(checkpoint)) for a in args]
    result = run_cli(args, tmp_path, cli_env, command=[str(EXPORT)])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cyclegan-export: error: {message}"), lines
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".onnx", ".pt2", ".pth", ".tmp")]
