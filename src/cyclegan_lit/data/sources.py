"""Where a dataset's trainA/trainB/testA/testB come from: decided once, from ``data.name``/``root``.

* ``FolderSource``: a folder the user gives (``data.root``), used as it is.
* ``SyntheticSource``: the built-in dataset, generated once and cached under ``data_dir``.
* ``DownloadSource``: a standard CycleGAN dataset, downloaded and verified into ``data_dir``.

``prepare()`` does the slow work (download, generation) once per machine; ``locate()`` is cheap and
run by every process: it returns the folder, or a one-line error saying how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .synthetic import has_ground_truth, make_synthetic_dataset


class DatasetSource(Protocol):
    root: Path

    @property
    def has_ground_truth(self) -> bool:
        """Whether the test split is paired (testA/x and testB/x show the same scene)."""
        ...

    def prepare(self) -> None: ...

    def locate(self) -> Path: ...


@dataclass(frozen=True)
class FolderSource:
    root: Path

    @property
    def has_ground_truth(self) -> bool:
        return has_ground_truth(self.root)

    def prepare(self) -> None:
        """Nothing to fetch: the folders are checked when the datasets are built."""

    def locate(self) -> Path:
        return self.root


@dataclass(frozen=True)
class SyntheticSource:
    data_dir: Path
    size: int
    n_train: int
    n_test: int
    seed: int

    @property
    def root(self) -> Path:
        # every option in the name: runs with different counts (a sweep, two runs side by side)
        # each keep their own copy instead of regenerating one folder under the other's feet
        name = f"synthetic_{self.size}px_seed{self.seed}_train{self.n_train}_test{self.n_test}"
        return self.data_dir / name

    @property
    def has_ground_truth(self) -> bool:
        return True

    def prepare(self) -> None:
        self.locate()

    def locate(self) -> Path:
        # generates on the first call, a marker check afterwards
        return make_synthetic_dataset(self.root, self.size, self.n_train, self.n_test, self.seed)


@dataclass(frozen=True)
class DownloadSource:
    name: str
    data_dir: Path
    base_url: str | None
    download: bool

    @property
    def root(self) -> Path:
        from .download import dataset_dir

        return dataset_dir(self.name, self.data_dir)

    @property
    def has_ground_truth(self) -> bool:
        return has_ground_truth(self.root)

    def prepare(self) -> None:
        from .download import ensure_dataset

        ensure_dataset(self.name, self.data_dir, self.base_url, self.download)

    def locate(self) -> Path:
        from .download import ensure_dataset

        return ensure_dataset(self.name, self.data_dir, self.base_url, download=False)


def dataset_source(
    name: str,
    root: str | None,
    data_dir: str,
    download: bool = True,
    base_url: str | None = None,
    synthetic: tuple[int, int, int] = (64, 400, 50),
    seed: int = 0,
) -> DatasetSource:
    """The source ``data.name`` and ``data.root`` describe; ``synthetic`` is (size, train, test).

    A given ``root`` always wins: it is the user's own copy, of any dataset.
    """
    if root:
        return FolderSource(Path(root).expanduser())
    if name == "folder":
        raise ValueError("data.root=null: data=folder needs the folder, set data.root=<path>")
    if name == "synthetic":
        return SyntheticSource(Path(data_dir), *synthetic, seed=seed)
    from .registry import get_spec

    try:
        get_spec(name)  # an unknown name fails here, before any work, with the valid ones
    except ValueError as err:
        raise ValueError(f"data.name={name!r}: {err}") from None
    return DownloadSource(name, Path(data_dir).expanduser(), base_url, download)
