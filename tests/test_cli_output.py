"""What `cyclegan-train` says: `--help` at once (no torch), a run's own lines before its progress
bar, no third-party tips or deprecations, and the run's log in `train.log`."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import CLI, only_run_dir, run_cli

from cyclegan_lit.cli.quiet import quiet_third_party

THIRD_PARTY = ("LeafSpec", "litlogger", "anonymous", "Checkpoint directory", "weights_only")


@pytest.fixture
def small(tiny: list[str]) -> list[str]:
    """A default run's shape (W&B, offline here; the rich progress bar; the test), scaled down."""
    return [o for o in tiny if o != "~callbacks.rich_progress_bar"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _merged(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``cyclegan-train <args>`` with stdout and stderr in one stream, in the order printed."""
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=240, check=False,
    )  # fmt: skip


def _before_progress_bar(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Epoch "))
    return lines[:start]


def test_help_answers_without_importing_torch_or_lightning(tmp_path: Path) -> None:
    """`python -X importtime` lists every module the command imports: neither torch nor Lightning
    (they took about 5 of the 6 seconds `--help` used to take)."""
    for module in ("train", "evaluate", "export", "translate"):
        code = (
            f"import sys; sys.argv = ['cyclegan', '--help']\n"
            f"from cyclegan_lit.cli.{module} import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
        )
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], cwd=tmp_path, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "Usage: cyclegan-" in result.stdout, result.stderr[-2000:]
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert not {"torch", "lightning"} & imported, module


def test_help_lists_no_base_as_a_choice(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run_cli(["--help"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr
    groups = result.stdout.split("Config groups (GROUP=OPTION):")[1].split("Defaults of")[0]
    listed = {line.split(":")[0]: line.split(": ")[1].split(", ") for line in groups.split("\n")
              if ": " in line}  # fmt: skip
    assert {"data", "model/generator", "model/discriminator", "model/scheduler"} <= set(listed)
    assert all("base" not in options for options in listed.values()), listed
    assert "unet_64" in listed["model/generator"] and "horse2zebra" in listed["data"]


def test_a_base_config_given_as_a_choice_is_one_line_and_leaves_no_folder(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = run_cli(["data=base"], tmp_path, cli_env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cyclegan-train: error: data=base: the base that the data options extend, not an option "
        "of its own; pick one of those `cyclegan-train --help` lists for data"
    ]
    assert not (tmp_path / "outputs").exists()


def test_third_party_lines_are_filtered_at_their_source() -> None:
    """The real messages, from the real libraries: Lightning's pytree helper (torch's LeafSpec
    deprecation) and a Trainer's LitLogger tip; the filters drop them and nothing else."""
    import lightning as L
    from lightning.pytorch.utilities._pytree import _tree_flatten

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _tree_flatten(1)
    assert any("LeafSpec" in str(w.message) for w in caught)  # the warning these filters target
    # rank_zero_info logs to the logger of whichever of these two modules was imported last
    loggers = [
        logging.getLogger(f"lightning.{p}.utilities.rank_zero") for p in ("pytorch", "fabric")
    ]
    collect = _Collect()
    levels = [logger.level for logger in loggers]  # another test may have quieted Lightning
    for logger in loggers:
        logger.addHandler(collect)
        logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet_third_party()
            _tree_flatten(1)
            L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
            warnings.warn("another warning stays", UserWarning, stacklevel=1)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collect)
            logger.setLevel(level)
    assert [str(w.message) for w in caught if "LeafSpec" in str(w.message)] == []
    assert "another warning stays" in [str(w.message) for w in caught]
    assert any("GPU available" in m for m in collect.messages), collect.messages
    assert not [m for m in collect.messages if "litlogger" in m]


@pytest.mark.slow
def test_a_run_says_where_it_goes_and_its_progress_not_third_party_notes(
    tmp_path: Path, cli_env: dict[str, str], small: list[str]
) -> None:
    """At most 30 lines of its own before the progress bar (no config tree), no third-party tip or
    deprecation, the run's log in train.log; on resume, none of Lightning's notes either."""
    first = _merged(small, tmp_path, cli_env)
    assert first.returncode == 0, first.stdout[-3000:]
    run = only_run_dir(tmp_path)
    head = _before_progress_bar(first.stdout)
    assert len(head) <= 30, "\n".join(head)
    assert head[0] == (
        f"cyclegan-train: run folder {run.resolve()} (its composed config: config_tree.log; "
        "print_config=true prints it here)"
    )
    assert (
        "lambda_cycle" not in first.stdout
        and "lambda_cycle" in (run / "config_tree.log").read_text()
    )
    assert not [line for line in first.stdout.splitlines() if any(t in line for t in THIRD_PARTY)]
    log = (run / "train.log").read_text()
    for said in ("cyclegan-train: run folder", "Seed set to 0", "Run folder:", "Metrics:"):
        assert said in log, log

    resumed = _merged(
        [*small, "trainer.max_epochs=2", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"],
        tmp_path,
        cli_env,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "resuming" in resumed.stdout and "Restored all states" in resumed.stdout
    assert not [line for line in resumed.stdout.splitlines() if any(t in line for t in THIRD_PARTY)]
    assert (run / "train.log").read_text().count("Seed set to 0") == 2  # both invocations


@pytest.mark.slow
def test_print_config_prints_the_tree(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run_cli(["print_config=true", "model.lr=-1"], tmp_path, cli_env)  # stops after it
    assert result.returncode == 1
    assert "lambda_cycle" in result.stdout and "model.lr=-1: must be > 0" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_train_ends_by_saying_how_to_reach_the_commands() -> None:
    """`.venv/bin` is not on PATH: after training, `make train` says how to reach the commands."""
    repo = Path(__file__).resolve().parents[1]
    planned = subprocess.run(
        ["make", "-n", "-o", "install", "train"], cwd=repo, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    train = next(i for i, line in enumerate(planned) if "bin/cyclegan-train" in line)
    after = "\n".join(planned[train + 1 :])
    assert "source .venv/bin/activate" in after and ".venv/bin/cyclegan-train --help" in after
    readme = (repo / "README.md").read_text().split("## Usage")[0]
    assert "source .venv/bin/activate" in readme and ".venv/bin/cyclegan-train" in readme
