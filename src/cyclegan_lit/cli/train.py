"""`cyclegan-train`: compose the config; build data, model, callbacks, loggers, trainer; fit.

    cyclegan-train                                  # a short run on the built-in synthetic data
    cyclegan-train data=horse2zebra trainer=gpu     # the paper's recipe on horse2zebra
    cyclegan-train --help                           # config groups and options

Reading `train` top to bottom tells the whole program; everything it builds comes from `conf/`.
torch and Lightning are imported inside the functions that use them: `--help` answers without
loading them, and Lightning, imported once Hydra has set up the run's logging, logs into the
run's `train.log` as well as to the screen.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from cyclegan_lit.cli.config_tree import print_config_tree, save_config_tree
from cyclegan_lit.cli.console import one_console_for_lightning, rank, say
from cyclegan_lit.cli.errors import exit_on_user_error, run_hydra_app, task_started
from cyclegan_lit.cli.hydra_folder import (
    discard_fresh_folder_on_failure,
    hydra_job_folder,
    tidy_fresh_folder,
)
from cyclegan_lit.cli.preflight import (
    check_data,
    check_image_size,
    check_writable,
    fetch_data_first,
    refuse_base_choices,
)
from cyclegan_lit.cli.quiet import quiet_third_party, quiet_wandb_logger
from cyclegan_lit.cli.resume import Resume, continue_from, start_resume
from cyclegan_lit.cli.run_report import exit_interrupted, print_outputs, save_metrics, scalars
from cyclegan_lit.cli.wandb_runs import finish_wandb, name_sweep_job
from cyclegan_lit.config_store import config_dir
from cyclegan_lit.machine import cpu_has_bf16, set_torch_threads

if TYPE_CHECKING:
    import lightning as L
    from lightning.pytorch.loggers import Logger, WandbLogger


@dataclass
class Run:
    """Everything ``set_up`` built and checked, ready to fit."""

    cfg: DictConfig
    datamodule: L.LightningDataModule
    model: L.LightningModule
    trainer: L.Trainer
    loggers: list[Logger]
    ckpt_path: str | None


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the model that ``cfg`` describes; return the final metrics."""
    name_sweep_job(cfg)
    quiet_third_party()
    # a command that fails before training (a wrong option, missing data, no network) leaves no
    # run folder behind
    with discard_fresh_folder_on_failure(Path(cfg.paths.log_dir)):
        refuse_base_choices()
        fetch_data_first(cfg.get("data"))
        choose_torch_threads(cfg)
        # a resume continues its run's folder, CSV file and W&B run: redirect them before
        # anything that interpolates ${paths.output_dir} is instantiated
        resume = start_resume(cfg)
        run = set_up(cfg, resume)
    try:
        return fit_and_test(run)
    finally:
        if resume is not None and resume.continues_a_run:
            tidy_fresh_folder(Path(cfg.paths.output_dir))


def set_up(cfg: DictConfig, resume: Resume | None) -> Run:
    """Build everything ``cfg`` describes and check it, the checkpoint to resume and the data
    (downloaded here), before W&B starts a run and before any training."""
    import lightning as L

    one_console_for_lightning()
    output_dir = Path(cfg.paths.output_dir)
    check_writable(output_dir, "paths.output_dir")
    if cfg.get("print_config"):
        print_config_tree(cfg)
    elif rank() == 0:
        say(
            f"cyclegan-train: run folder {output_dir.resolve()} (its composed config: "
            "config_tree.log; print_config=true prints it here)"
        )
    L.seed_everything(cfg.seed, workers=True)

    # _convert_="all": plain dicts and lists, so that checkpoints hold no OmegaConf objects
    # (torch.load(weights_only=True) refuses them when resuming)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model: L.LightningModule = hydra.utils.instantiate(cfg.model, _convert_="all")
    check_image_size(model, datamodule)
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers: list[Logger] = instantiate_all(cfg.get("logger"))
    for logger in loggers:
        quiet_wandb_logger(logger)
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    ckpt_path = None if resume is None else str(resume.ckpt)
    if resume is not None:
        continue_from(
            resume, model, loggers, trainer.max_epochs if cfg.get("train", True) else None
        )
    if rank() == 0:
        check_data(datamodule, "fit" if cfg.get("train", True) else "test")
    save_config_tree(cfg, output_dir / "config_tree.log")
    trainer.loggers = open_loggers(trainer.loggers, OmegaConf.to_container(cfg, resolve=True))
    return Run(cfg, datamodule, model, trainer, loggers, ckpt_path)


def fit_and_test(run: Run) -> dict[str, float]:
    """Fit, test, write ``metrics.json`` and say where everything went."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    cfg, trainer, model, datamodule = run.cfg, run.trainer, run.model, run.datamodule
    output_dir = Path(cfg.paths.output_dir)
    try:
        metrics: dict[str, float] = {}
        if cfg.get("train", True):
            try:
                trainer.fit(model=model, datamodule=datamodule, ckpt_path=run.ckpt_path)
            except SIGTERMException:
                exit_interrupted(trainer)
            metrics.update(scalars(trainer.callback_metrics))
        if cfg.get("test", False) and has_test_split(datamodule):
            # the final weights; with train=false, the checkpoint given by ckpt_path
            test_ckpt = None if cfg.get("train", True) else run.ckpt_path
            trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt)
            metrics.update(scalars(trainer.callback_metrics))
        if trainer.is_global_zero:
            save_metrics(output_dir, metrics)
            job_folder = hydra_job_folder()
            if job_folder is not None and job_folder.resolve() != output_dir.resolve():
                save_metrics(output_dir, metrics, job_folder)  # a resumed sweep job: the summary
            print_outputs(trainer, output_dir)
    finally:
        finish_wandb(run.loggers)
    return metrics


def choose_torch_threads(cfg: DictConfig) -> None:
    """Fewer torch threads on a machine with few cores for this process (see ``machine``)."""
    trainer = cfg.get("trainer") or {}
    devices = trainer.get("devices")
    processes = devices if isinstance(devices, int) and devices > 1 else 1
    workers = int((cfg.get("data") or {}).get("num_workers") or 0)
    line = set_torch_threads(workers, processes, requested=cfg.get("torch_threads"))
    if line is not None and rank() == 0:
        say(f"cyclegan-train: {line}")


def open_loggers(loggers: list[Logger], params: Any) -> list[Logger]:
    """Log the config to each logger; a W&B logger whose folder cannot be written is dropped with
    one warning line (training goes on with the others), instead of a crash mid-setup."""
    from lightning.pytorch.loggers import WandbLogger

    kept = []
    for logger in loggers:
        if isinstance(logger, WandbLogger) and rank() == 0:
            problem = wandb_folder_problem(logger)
            if problem is None:
                try:
                    logger.log_hyperparams(params)
                except OSError as err:
                    problem = f"{err.strerror or err}"
            if problem is not None:
                say(
                    f"cyclegan-train: warning: W&B folder {wandb_folder(logger)} cannot be written "
                    f"({problem}); training goes on without W&B: make it writable or set "
                    "logger.wandb.save_dir"
                )
                continue
        else:
            logger.log_hyperparams(params)
        kept.append(logger)
    return kept


def wandb_folder(logger: WandbLogger) -> Path:
    """Where W&B writes: ``<save_dir>/wandb`` (``save_dir`` from the config, else WANDB_DIR)."""
    return Path(logger.save_dir or os.environ.get("WANDB_DIR") or ".") / "wandb"


def wandb_folder_problem(logger: WandbLogger) -> str | None:
    """Why W&B could not write its folder (a real write: root ignores permission bits)."""
    folder = wandb_folder(logger)
    if folder.exists() and not folder.is_dir():
        return "a file is in the way"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=folder).cleanup()
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def build_trainer(options: DictConfig, callbacks: list[Any], loggers: list[Logger]) -> L.Trainer:
    """The Trainer; settings this machine cannot run are one line naming them, and a precision
    it can only emulate (bf16 without bf16 instructions) is a warning, not a silent slowdown;
    ``trainer=fast`` says what it chose and why."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.accelerators import CPUAccelerator

    devices, cores = options.get("devices"), os.cpu_count() or 1
    if options.get("accelerator") == "cpu" and isinstance(devices, int) and devices > cores:
        raise ValueError(f"trainer.devices={devices}: more processes than the {cores} CPU cores")
    try:
        trainer = hydra.utils.instantiate(
            options, callbacks=callbacks, logger=loggers or False, _convert_="all"
        )
    except InstantiationException as err:
        cause = err.__cause__
        if not isinstance(cause, (MisconfigurationException, ValueError)):
            raise
        keys = ("accelerator", "devices", "precision", "strategy")
        named = " ".join(f"trainer.{k}={options.get(k)}" for k in keys)
        raise ValueError(f"{named}: {str(cause).strip().splitlines()[0]}") from None
    if (
        trainer.precision.startswith("bf16")
        and isinstance(trainer.accelerator, CPUAccelerator)
        and cpu_has_bf16() is False
    ):
        say(
            f"cyclegan-train: warning: trainer.precision={trainer.precision}: this CPU has no "
            "bf16 instructions, so bf16 is emulated and slower than 32-true"
        )
    if chosen_by_fast(options) and rank() == 0:
        from cyclegan_lit.perf import describe

        say(f"cyclegan-train: {describe(options.get('accelerator'))}")
    return trainer


def chosen_by_fast(options: DictConfig) -> bool:
    """Whether ``trainer.precision`` comes from ``trainer=fast``'s resolver (not set by hand)."""
    raw = OmegaConf.to_container(options, resolve=False).get("precision")
    return isinstance(raw, str) and raw.startswith("${cyclegan.fast_precision:")


def has_test_split(datamodule: L.LightningDataModule) -> bool:
    """A folder without testA/testB trains, then skips the test with a warning, not an error."""
    datamodule.prepare_data()
    if getattr(datamodule, "has_test_split", True):
        return True
    root = getattr(datamodule, "dataset_root", "the dataset")
    say(f"cyclegan-train: no testA/ and testB/ under {root}: skipping the test")
    return False


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group such as ``callbacks`` or ``logger`` (name -> config);
    an entry set to null (``logger=none`` drops the LR monitor that way) is skipped."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(c, _convert_="all") for c in group.values() if c and "_target_" in c
    ]


def main() -> None:
    """Console entry point: ``cyclegan-train [overrides]``."""
    os.environ.setdefault("WANDB_SILENT", "true")  # no banners; the W&B location is printed last

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def _main(cfg: DictConfig) -> float | None:
        task_started()
        metrics = exit_on_user_error("cyclegan-train", lambda: train(cfg))
        metric = cfg.get("optimized_metric")
        if not metric:
            return None
        if metric not in metrics:
            raise KeyError(
                f"optimized_metric={metric} was not logged; logged: {', '.join(metrics)}"
            )
        return metrics[metric]

    run_hydra_app("cyclegan-train", _main)


if __name__ == "__main__":
    main()
