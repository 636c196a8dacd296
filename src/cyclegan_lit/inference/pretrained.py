"""The reference's pretrained CycleGAN generators by name, downloaded once into a local cache.

The names and the server are those of the reference's ``scripts/download_cyclegan_model.sh``: each
``<name>.pth`` is one generator's bare state_dict (its ``latest_net_G.pth``), a resnet_9blocks
with instance norm and no dropout. No checksums are published, so a download is accepted only when
it loads into that generator; the download itself (resume, retries, lock) is the datasets' one.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from cyclegan_lit.data.download import DownloadAdvice, DownloadError, download_file, exclusive_lock
from cyclegan_lit.networks import build_generator, load_reference_weights

DEFAULT_PRETRAINED_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models"
PRETRAINED_URL_ENV = "CYCLEGAN_LIT_PRETRAINED_URL"
CACHE_ENV = "CYCLEGAN_LIT_CACHE"
PRETRAINED_SUBDIR = "pretrained"


class PretrainedDownloadError(DownloadError):
    """A pretrained generator could not be fetched or is not one; the message says what to do."""


@dataclass(frozen=True)
class PretrainedSpec:
    """One official generator: ``<pretrained_url>/<filename>``, translating ``direction``."""

    name: str
    filename: str
    direction: str  # what it translates, e.g. "horse -> zebra"
    description: str  # what it was trained on
    num_bytes: int | None = None  # none published
    sha256: str | None = None  # none published


def _spec(name: str, direction: str, description: str) -> PretrainedSpec:
    return PretrainedSpec(name, f"{name}.pth", direction, description)


PRETRAINED: dict[str, PretrainedSpec] = {
    spec.name: spec
    for spec in (
        _spec("apple2orange", "apple -> orange", "G_A of apple2orange (ImageNet)"),
        _spec("orange2apple", "orange -> apple", "G_B of apple2orange (ImageNet)"),
        _spec("summer2winter_yosemite", "summer -> winter", "G_A of summer2winter_yosemite"),
        _spec("winter2summer_yosemite", "winter -> summer", "G_B of summer2winter_yosemite"),
        _spec("horse2zebra", "horse -> zebra", "G_A of horse2zebra (ImageNet)"),
        _spec("zebra2horse", "zebra -> horse", "G_B of horse2zebra (ImageNet)"),
        _spec("monet2photo", "Monet painting -> photo", "G_A of monet2photo"),
        _spec("style_monet", "photo -> Monet painting", "G_B of monet2photo"),
        _spec("style_cezanne", "photo -> Cezanne painting", "G_B of cezanne2photo"),
        _spec("style_ukiyoe", "photo -> Ukiyo-e print", "G_B of ukiyoe2photo"),
        _spec("style_vangogh", "photo -> Van Gogh painting", "G_B of vangogh2photo"),
        _spec("sat2map", "aerial photo -> map", "G_A of maps"),
        _spec("map2sat", "map -> aerial photo", "G_B of maps"),
        _spec("cityscapes_photo2label", "street photo -> label map", "cityscapes"),
        _spec("cityscapes_label2photo", "label map -> street photo", "cityscapes"),
        _spec("facades_photo2label", "facade photo -> label map", "facades (CMP)"),
        _spec("facades_label2photo", "label map -> facade photo", "facades (CMP)"),
        _spec("iphone2dslr_flower", "iPhone photo -> DSLR photo", "G_A of iphone2dslr_flower"),
    )
}

_ADVICE = DownloadAdvice(
    mirror=f"set pretrained_url or ${PRETRAINED_URL_ENV} to a mirror",
    not_found="check the name (`pretrained=list` shows them)",
    url_setting=f"pretrained_url / ${PRETRAINED_URL_ENV}",
    disk=f"set cache_dir or ${CACHE_ENV} to another disk",
    error=PretrainedDownloadError,
)


def get_pretrained_spec(name: str) -> PretrainedSpec:
    """Look up a pretrained generator; an unknown name fails with a close match and the names."""
    if name in PRETRAINED:
        return PRETRAINED[name]
    close = difflib.get_close_matches(str(name), PRETRAINED, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"pretrained={name!r}: unknown name;{hint} known: {', '.join(PRETRAINED)}")


def default_cache_dir() -> Path:
    """``$CYCLEGAN_LIT_CACHE``, else ``~/.cache/cyclegan_lit``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/cyclegan_lit").expanduser()


def pretrained_url(base_url: str | None = None) -> str:
    """Where the weights are served: the argument, else ``$CYCLEGAN_LIT_PRETRAINED_URL``, else the
    reference's server."""
    url = base_url or os.environ.get(PRETRAINED_URL_ENV) or DEFAULT_PRETRAINED_URL
    return url.rstrip("/")


def pretrained_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/pretrained/<name>.pth``, whether or not it was downloaded yet."""
    spec = get_pretrained_spec(name)
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / PRETRAINED_SUBDIR / spec.filename


def fetch_pretrained(
    name: str,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    progress: bool = True,
    *,
    retries: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> Path:
    """The cached ``<cache_dir>/pretrained/<name>.pth``, downloaded first if it is not there.

    A cached file is returned without contacting the server. A download is kept only when it
    loads into a resnet_9blocks generator; an interrupted one resumes on the next call.
    """
    spec = get_pretrained_spec(name)
    path = pretrained_path(name, cache_dir)
    if path.is_file():
        return path
    url = f"{pretrained_url(base_url)}/{spec.filename}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path.parent / f".{spec.name}.lock"):
        if path.is_file():  # another process downloaded it while we waited
            return path
        download_file(
            url,
            path,
            spec.num_bytes,
            spec.sha256,
            progress,
            retries=retries,
            backoff_s=backoff_s,
            timeout_s=timeout_s,
            check=check_generator_file,
            advice=_ADVICE,
        )
    return path


def check_generator_file(path: str | Path) -> None:
    """Raise a one-line ValueError unless ``path`` is a pretrained-layout generator state_dict."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any failure to parse untrusted bytes means "not weights"
        with open(path, "rb") as f:
            if f.read(512).lstrip().startswith(b"<"):
                raise ValueError("not weights but an HTML/XML page (an error page?)") from None
        raise ValueError(
            f"not weights: torch.load(weights_only=True) cannot read it ({type(err).__name__}); "
            f"is it truncated?"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"not a generator state_dict: it holds a {type(state).__name__}")
    net = build_generator("resnet_9blocks", 3, 3, ngf=64, norm="instance", use_dropout=False)
    try:
        load_reference_weights(net, state)
    except ValueError as err:
        detail = " ".join(str(err).split()).removeprefix("given state_dict: ").split(" [")[0]
        raise ValueError(
            f"not the official generator (resnet_9blocks, ngf 64, instance norm, 3 -> 3 "
            f"channels): {detail[:200]}"
        ) from None


def pretrained_table(cache_dir: str | Path | None = None) -> str:
    """A plain-text table of the names, what each translates, and whether it is cached."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    rows = [("name", "translates", "cached")]
    for spec in PRETRAINED.values():
        cached = (root / PRETRAINED_SUBDIR / spec.filename).is_file()
        rows.append((spec.name, spec.direction, "yes" if cached else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    lines.append(f"(cache: {root / PRETRAINED_SUBDIR}; from {pretrained_url()})")
    return "\n".join(lines)
