"""A `cyclegan-train` that fails before training leaves nothing behind: no run folder, no W&B run,
whatever stopped it (a wrong option, a missing data folder, no network), and says why in one line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import composed, run_cli

from cyclegan_lit.cli.hydra_folder import discard_fresh_folder_on_failure, tidy_fresh_folder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["model.lr=-1"], "model.lr=-1: must be > 0"),
        (["data=folder", "data.root=DATA/nowhere"], "dataset root DATA/nowhere does not exist"),
        (
            # `.invalid` never resolves (RFC 2606): what a machine without network meets
            ["data=horse2zebra", "data.base_url=http://datasets.invalid/cyclegan"],
            "datasets.invalid cannot be reached",
        ),
    ],
    ids=["bad_option", "missing_folder", "no_network"],
)
def test_a_command_that_fails_before_training_leaves_no_run_folder(
    args: list[str], error: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    args = [a.replace("DATA", str(data)) for a in [*args, "paths.data_dir=DATA"]]
    start = time.monotonic()
    result = run_cli(args, tmp_path, cli_env)
    elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("cyclegan-train: error: "), result.stderr
    assert error.replace("DATA", str(data)) in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists()  # no run folder, so no W&B run in it either
    assert not list(tmp_path.rglob("wandb"))
    print(f"{args[0]}: {elapsed:.1f} s")  # shown with -s: the no-network case does not retry


def test_a_config_composed_by_a_script_has_no_run_folder_to_discard_or_tidy(tmp_path: Path) -> None:
    """benchmarks/training_curve.py composes with Hydra's Compose API: HydraConfig is set, but no
    run folder exists; both helpers must then do nothing (and tidy must run, not be a generator)."""
    (tmp_path / "keep").mkdir()
    with composed([], tmp_path):
        with pytest.raises(ValueError), discard_fresh_folder_on_failure(tmp_path):
            raise ValueError("a failure before training")
        assert tidy_fresh_folder(tmp_path) is None
    assert (tmp_path / "keep").is_dir()


@pytest.mark.slow
def test_no_network_stops_before_torch_loads(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The download comes first: offline, the error does not wait for torch and Lightning."""
    args = ["data=horse2zebra", "data.base_url=http://datasets.invalid/cyclegan",
            f"paths.data_dir={tmp_path / 'data'}"]  # fmt: skip
    result = run_cli(args, tmp_path, {**cli_env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 1 and "datasets.invalid cannot be reached" in result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "omegaconf" in imported  # the listing of what was imported is there
    assert "torch" not in imported
