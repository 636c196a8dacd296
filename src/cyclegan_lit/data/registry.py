"""The standard CycleGAN datasets, described as data: name, zip, size and checksum.

Sizes and SHA-256 digests are the ones TFDS publishes for the same zips; where
none is published the download is checked only for zip integrity (CRC of every member).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

DEFAULT_BASE_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets"
BASE_URL_ENV = "CYCLEGAN_DATASETS_URL"


@dataclass(frozen=True)
class DatasetSpec:
    """One downloadable dataset: `<base_url>/<filename>` unpacks to trainA/trainB/testA/testB."""

    name: str
    filename: str
    num_bytes: int | None
    sha256: str | None
    description: str


def _spec(name: str, num_bytes: int | None, sha256: str | None, description: str) -> DatasetSpec:
    return DatasetSpec(name, f"{name}.zip", num_bytes, sha256, description)


STANDARD_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "horse2zebra",
            116_867_962,
            "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1",
            "horses <-> zebras from ImageNet (1067 / 1334 train, 120 / 140 test)",
        ),
        _spec(
            "apple2orange",
            78_456_409,
            "845a191e9af8926408ea597001cd03a452e3300a1f44a79fe329b3d59f6e3eb8",
            "apples <-> oranges from ImageNet (995 / 1019 train, 266 / 248 test)",
        ),
        _spec(
            "summer2winter_yosemite",
            132_640_856,
            "167fe1726807a9d22bd106b4a6c0bd7953b688af924ac1bf967439c4961e49f9",
            "Yosemite in summer <-> winter, Flickr photos",
        ),
        _spec(
            "monet2photo",
            305_231_073,
            "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04",
            "Monet paintings <-> landscape photos",
        ),
        _spec(
            "cezanne2photo",
            279_885_071,
            "3a6c10ca21f9485862f1cbd707744b9dc258954a04631271d23a3605eeb63cff",
            "Cezanne paintings <-> landscape photos",
        ),
        _spec(
            "ukiyoe2photo",
            292_946_532,
            "02a2a2fb5ecf425ca1bf86aca7304377da64a2a1d3b86df54eb65e4068bf3b08",
            "Ukiyo-e prints <-> landscape photos",
        ),
        _spec(
            "vangogh2photo",
            306_590_349,
            "362c3473e70be0944bda08d49d660eafdc2854df55d697835b8186d1d79caaff",
            "Van Gogh paintings <-> landscape photos",
        ),
        _spec(
            "maps",
            1_476_754_427,
            "639534f69dbf9f36bef8d6292a7698006361221f83f0285d7c9ca78afe6e8a9e",
            "aerial photos <-> Google Maps tiles (1096 train pairs)",
        ),
        _spec(
            "facades",
            35_135_868,
            "9a31ebf3a31b9b5cd195dd5bf62e9308e00cb94604d1019e3889ac84248695c0",
            "CMP building facades: label maps <-> photos (400 train)",
        ),
        _spec(
            "iphone2dslr_flower",
            339_964_458,
            "8fcb5e374d631b107e1d961b8c4cd0a186aa2a4ff3e279923f4c426128de7113",
            "flowers shot on iPhone <-> DSLR (shallow depth of field), Flickr",
        ),
        _spec(
            "ae_photos",
            None,
            None,
            "a few photos for trying the pretrained style models (no published checksum)",
        ),
        _spec(
            "mini",
            None,
            None,
            "tiny dataset used by the reference's smoke tests (no published checksum)",
        ),
    )
}

# Names the reference script knows but that cannot be downloaded, with what to do instead.
UNAVAILABLE_DATASETS: dict[str, str] = {
    "cityscapes": (
        "dataset 'cityscapes' is not served for licence reasons: register at "
        "https://www.cityscapes-dataset.com, download gtFine_trainvaltest.zip and "
        "leftImg8bit_trainvaltest.zip, build trainA/trainB/testA/testB with the reference's "
        "datasets/prepare_cityscapes_dataset.py, and point data.root at the result"
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """Look up a standard dataset; unknown names fail with the valid ones and a close match."""
    if name in STANDARD_DATASETS:
        return STANDARD_DATASETS[name]
    if name in UNAVAILABLE_DATASETS:
        raise ValueError(UNAVAILABLE_DATASETS[name])
    close = difflib.get_close_matches(name, STANDARD_DATASETS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(
        f"unknown dataset {name!r}: {hint}valid names are {', '.join(STANDARD_DATASETS)}"
    )


def resolve_base_url(base_url: str | None = None) -> str:
    """Where the zips are served: the argument, else $CYCLEGAN_DATASETS_URL, else Berkeley."""
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url.rstrip("/")
