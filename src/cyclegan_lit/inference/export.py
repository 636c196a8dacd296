"""Ship one trained generator to an app: ONNX, a ``torch.export`` program (``.pt2``), or the
reference's bare ``.pth`` (what its ``test.py --model test`` loads).

Images come in any size the network accepts, so batch, height and width stay symbolic; height and
width are declared as multiples of the generator's ``min_input_size`` (4 for a ResNet, 2**num_downs
for a U-Net), which is what its stride-2 convolutions need to give back the input's size. A file
is only worth shipping if it computes what PyTorch computes: each export is reloaded by its own
runtime and compared with the PyTorch generator at two image sizes (and two batch sizes) before it
replaces anything at ``path``; a failed export or check leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from cyclegan_lit.atomic_files import atomic_path
from cyclegan_lit.inference.checkpoints import LoadedGenerator
from cyclegan_lit.messages import first_line
from cyclegan_lit.networks.reference_io import export_reference_generator

FORMATS: tuple[str, ...] = ("onnx", "pt2", "reference")
SUFFIXES: dict[str, str] = {"onnx": ".onnx", "pt2": ".pt2", "reference": ".pth"}
DEFAULT_OPSET = 18
MIN_OPSET = 17
ATOL = 1e-4
METADATA_FILE = "cyclegan_lit.json"  # in a .pt2 archive's extra files
INSTALL_HINT = "pip install 'cyclegan-lit[export]'"


class MissingDependencyError(ImportError, ValueError):
    """An optional package the chosen format needs is not installed (a user error: one line)."""


class ExportCheckError(ValueError):
    """The exported file does not compute what the PyTorch generator computes."""


@dataclass(frozen=True)
class SizeCheck:
    """One comparison of the exported file against PyTorch on the same random input."""

    shape: tuple[int, ...]
    max_abs_diff: float

    def __str__(self) -> str:
        return f"{self.max_abs_diff:.2e} at {'×'.join(map(str, self.shape))}"


@dataclass
class ExportResult:
    """What was written: the file, its format and size, and the checks it passed."""

    path: Path
    format: str
    size_bytes: int
    runtime: str | None = None  # what reloaded it for the check; None when not checked
    checks: list[SizeCheck] = field(default_factory=list)
    atol: float = ATOL
    contract: str = ""  # what the file takes and returns (input_contract)

    @property
    def max_abs_diff(self) -> float | None:
        return max((c.max_abs_diff for c in self.checks), default=None)

    def check_line(self) -> str:
        if not self.checks:
            return "check: skipped (check=false)"
        diffs = ", ".join(str(c) for c in self.checks)
        bound = f"≤ {self.atol:.0e}"
        return f"check with {self.runtime}: max |difference| to PyTorch {diffs} ({bound}): ok"


def input_contract(generator: LoadedGenerator) -> str:
    """The input the exported file expects, in words (also stored in the file's metadata)."""
    m = generator.min_input_size
    return (
        f"input: N×{generator.input_nc}×H×W float32 in [-1, 1] (pixels / 127.5 - 1), H and W "
        f"multiples of {m}; output: N×{generator.output_nc}×H×W float32 in [-1, 1]"
    )


def metadata(generator: LoadedGenerator) -> dict[str, str]:
    """String key/values stored in the exported file (ONNX metadata_props, a .pt2 extra file)."""
    return {
        "producer": "cyclegan-lit",
        "contract": input_contract(generator),
        "input_nc": str(generator.input_nc),
        "output_nc": str(generator.output_nc),
        "min_input_size": str(generator.min_input_size),
        "receptive_field": str(generator.receptive_field),
        "value_range": "[-1, 1]",
        "source": generator.source,
    }


def check_shapes(generator: LoadedGenerator) -> list[tuple[int, int, int, int]]:
    """Two inputs of different sizes and batches: 1×C×64×64 and 2×C×96×128 for a ResNet,
    1×C×128×128 and 2×C×256×384 for unet_128."""
    m = generator.min_input_size
    side = m * math.ceil(64 / m)
    step = m * math.ceil(32 / m)
    c = generator.input_nc
    return [(1, c, side, side), (2, c, side + step, side + 2 * step)]


def dynamic_shapes(generator: LoadedGenerator) -> tuple[dict[int, torch.export.Dim], ...]:
    """Batch, height and width symbolic; height and width multiples of ``min_input_size``."""
    from torch.export import Dim

    m = generator.min_input_size
    return (
        {
            0: Dim("batch", min=1),
            2: Dim(f"height_div_{m}", min=1) * m,
            3: Dim(f"width_div_{m}", min=1) * m,
        },
    )


def export_program(generator: LoadedGenerator) -> torch.export.ExportedProgram:
    """``torch.export`` the generator (eval mode, CPU, float32) with dynamic batch, H and W."""
    net = _on_cpu(generator).net.eval()
    batch, _, height, width = check_shapes(generator)[1]  # not 1: a size-1 dim would specialise
    example = torch.zeros(batch, generator.input_nc, height, width)
    with _size_oblivious():
        return torch.export.export(net, (example,), dynamic_shapes=dynamic_shapes(generator))


def _size_oblivious() -> contextlib.AbstractContextManager[object]:
    """Trace sizes without special-casing 1: a U-Net's innermost feature map is 1×1 at the
    smallest input, and without this the program refuses H or W = 2**num_downs (a guard
    ``size // 2**num_downs != 1`` from a contiguity check)."""
    try:
        from torch.fx.experimental import _config
    except ImportError:
        return contextlib.nullcontext()
    if not hasattr(_config, "backed_size_oblivious"):
        return contextlib.nullcontext()
    return _config.patch(backed_size_oblivious=True)


# --------------------------------------------------------------------------- formats


def export_onnx(
    generator: LoadedGenerator,
    path: str | os.PathLike[str],
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    atol: float = ATOL,
) -> ExportResult:
    """Write an ONNX model with dynamic batch, height and width; check it in ONNX Runtime.

    The graph's input is ``input`` and its output ``output``; the model's doc_string and
    metadata_props say what they hold (see ``input_contract``).
    """
    generator = _on_cpu(generator)
    opset = _check_opset(opset)
    if check:
        _import_onnxruntime()  # before minutes of work
    with _onnx_logs() as logs:
        try:
            program = torch.onnx.export(
                export_program(generator),
                dynamo=True,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                external_data=False,
                verbose=False,
            )
        except ImportError as err:
            raise MissingDependencyError(
                f"format=onnx needs onnx and onnxscript ({err.name or err}): {INSTALL_HINT}"
            ) from None
    assert program is not None
    written = program.model.opset_imports.get("", None)
    if written != opset:
        reason = logs[-1] if logs else "the ONNX version converter gave up"
        raise ValueError(
            f"opset={opset}: the exporter could only write opset {written} for this generator "
            f"({reason}); use opset>={written}"
        )
    program.model.doc_string = input_contract(generator)
    program.model.metadata_props.update(metadata(generator))

    def write(tmp: Path) -> None:
        program.save(tmp, external_data=False)

    def verify(tmp: Path) -> list[SizeCheck]:
        session = _onnx_session(tmp)
        name = session.get_inputs()[0].name
        return _compare(
            generator, lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        )

    return _write_checked(
        generator, path, "onnx", write, verify if check else None, "ONNX Runtime", atol
    )


def export_pt2(
    generator: LoadedGenerator,
    path: str | os.PathLike[str],
    check: bool = True,
    atol: float = ATOL,
) -> ExportResult:
    """Write a ``torch.export`` program (``torch.export.load(path).module()`` runs it); check it.

    The archive's extra file ``cyclegan_lit.json`` holds ``metadata(generator)``.
    """
    generator = _on_cpu(generator)
    program = export_program(generator)
    extra = {METADATA_FILE: json.dumps(metadata(generator), indent=2)}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a buffer: no warning about the temp file's suffix
            torch.export.save(program, file, extra_files=extra)

    def verify(tmp: Path) -> list[SizeCheck]:
        with open(tmp, "rb") as file:
            module = torch.export.load(file).module()
        return _compare(generator, module)

    return _write_checked(
        generator, path, "pt2", write, verify if check else None, "torch.export.load", atol
    )


def export_reference(
    generator: LoadedGenerator,
    path: str | os.PathLike[str],
    check: bool = True,
    atol: float = ATOL,
) -> ExportResult:
    """Write the generator's bare state_dict, the reference's ``latest_net_G.pth`` layout.

    Check: the file goes into a copy of the architecture whose weights are all NaN, with
    ``torch.load(weights_only=True)`` and a strict ``load_state_dict`` (as the reference's
    ``test.py`` loads it); that copy must compute what the generator computes.
    """
    generator = _on_cpu(generator)
    target = Path(path)
    if target.is_dir():
        target = target / "latest_net_G.pth"

    def verify(tmp: Path) -> list[SizeCheck]:
        fresh = copy.deepcopy(generator.net).eval()
        with torch.no_grad():
            for tensor in [*fresh.parameters(), *fresh.buffers()]:
                if tensor.is_floating_point():
                    tensor.fill_(math.nan)
        fresh.load_state_dict(torch.load(tmp, map_location="cpu", weights_only=True), strict=True)
        return _compare(generator, fresh)

    def write(tmp: Path) -> None:
        export_reference_generator(generator.net, tmp)

    runtime = "load_state_dict(strict=True)"
    return _write_checked(
        generator, target, "reference", write, verify if check else None, runtime, atol
    )


EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "onnx": export_onnx,
    "pt2": export_pt2,
    "reference": export_reference,
}


def export_generator(
    generator: LoadedGenerator,
    path: str | os.PathLike[str],
    format: str = "onnx",
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    atol: float = ATOL,
) -> ExportResult:
    """Export in ``format`` (onnx | pt2 | reference); ``opset`` is read by onnx only."""
    check_format(format)
    if format == "onnx":
        return export_onnx(generator, path, opset=opset, check=check, atol=atol)
    return EXPORTERS[format](generator, path, check=check, atol=atol)


def check_format(format: str, key: str = "format") -> None:
    if format not in FORMATS:
        raise ValueError(f"{key}={format!r}: must be onnx, pt2 or reference")


# --------------------------------------------------------------------------- helpers


def _check_opset(opset: object) -> int:
    try:
        import onnx.defs

        newest = int(onnx.defs.onnx_opset_version())
    except ImportError:
        newest = None
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset={opset!r}: must be an integer >= {MIN_OPSET}")
    if newest is not None and opset > newest:
        raise ValueError(f"opset={opset}: this onnx knows opsets up to {newest}")
    return opset


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            f"format=onnx needs onnxruntime to check the file: {INSTALL_HINT} (or check=false)"
        ) from None
    return onnxruntime


def _onnx_session(path: Path):
    ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types are not importable by name
        first = first_line(err, 300)
        raise ExportCheckError(
            f"ONNX Runtime {ort.__version__} cannot load the exported model ({first})"
        ) from None


@contextlib.contextmanager
def _onnx_logs() -> Iterator[list[str]]:
    """Keep the ONNX exporter's, optimizer's and version converter's log records off the console
    (a CLI's logging config would print every pass); collect the last line of each warning (a
    failed down-conversion to an older opset is only logged)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text = str(record.exc_info[1])
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            if lines:
                records.append(lines[-1].split("failed: ")[-1][:300])

    handler = Collect(logging.WARNING)
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    saved = [(lg.propagate, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.handlers = False, [handler]
    try:
        yield records
    finally:
        for lg, (propagate, handlers) in zip(loggers, saved, strict=True):
            lg.propagate, lg.handlers = propagate, handlers


def _compare(
    generator: LoadedGenerator, run: Callable[[Tensor], Tensor] | nn.Module
) -> list[SizeCheck]:
    """Max |exported - PyTorch| on seeded random inputs in [-1, 1] at each ``check_shapes``."""
    checks = []
    rng = torch.Generator().manual_seed(0)
    for shape in check_shapes(generator):
        x = torch.rand(shape, generator=rng) * 2 - 1
        with torch.no_grad():
            expected = generator.net(x)
            got = run(x.clone())
        if got.shape != expected.shape:
            raise ExportCheckError(
                f"the exported model returns {tuple(got.shape)} for {shape}, PyTorch "
                f"{tuple(expected.shape)}"
            )
        checks.append(SizeCheck(shape, float((got.float() - expected).abs().max())))
    return checks


def _on_cpu(generator: LoadedGenerator) -> LoadedGenerator:
    """The generator itself when it is on the CPU, else a CPU copy (the checks run on the CPU)."""
    if all(t.device.type == "cpu" for t in [*generator.net.parameters(), *generator.net.buffers()]):
        return generator
    return dataclasses.replace(generator, net=copy.deepcopy(generator.net).cpu().eval())


def _checked(checks: list[SizeCheck], atol: float) -> list[SizeCheck]:
    for c in checks:
        if not c.max_abs_diff <= atol:  # NaN fails too
            raise ExportCheckError(
                f"the exported model differs from PyTorch by {c.max_abs_diff:.3g} at "
                f"{'×'.join(map(str, c.shape))} (more than {atol:g}); nothing was written"
            )
    return checks


def _write_checked(
    generator: LoadedGenerator,
    path: str | os.PathLike[str],
    format: str,
    write: Callable[[Path], None],
    verify: Callable[[Path], list[SizeCheck]] | None,
    runtime: str,
    atol: float,
) -> ExportResult:
    """``write`` a temp file beside ``path``, ``verify`` it, then move it onto ``path``."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a folder; give the path of the file to write")
    with atomic_path(target) as tmp:
        write(tmp)
        checks = _checked(verify(tmp), atol) if verify is not None else []
    return ExportResult(
        target,
        format,
        target.stat().st_size,
        runtime if verify is not None else None,
        checks,
        atol,
        input_contract(generator),
    )
