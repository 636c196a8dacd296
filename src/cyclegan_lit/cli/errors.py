"""Bad input ends in one line naming the file or option, not in a traceback.

Missing folders, unreadable images, wrong option values and failed downloads raise errors whose
message already says what is wrong and what to do; a traceback would only hide it. Anything else
is a bug or an internal failure and keeps its traceback, as does every error under
``HYDRA_FULL_ERROR=1``. A run folder that Hydra cannot create, before our code runs, is one line
too (``run_hydra_app``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf.errors import OmegaConfBaseException

from cyclegan_lit.data.download import DownloadError

USER_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, DownloadError)

Result = TypeVar("Result")


def user_error_message(err: BaseException) -> str | None:
    """The one-line message of a user error (unwrapping Hydra's instantiate error), else None."""
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    if not isinstance(err, USER_ERRORS):
        return None
    text = str(err).strip()
    if text.startswith("Caught ") and "in DataLoader worker process" in text.splitlines()[0]:
        # re-raised from a worker: the original message is the traceback's last line
        text = text.splitlines()[-1].split(": ", 1)[-1].strip()
    if not text or "\n" in text:
        return None
    return text


def exit_on_user_error(program: str, run: Callable[[], Result]) -> Result:
    """``run()``; a user error prints ``<program>: error: <message>`` and exits with status 1."""
    try:
        return run()
    except Exception as err:
        message = user_error_message(err)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"{program}: error: {message}", file=sys.stderr)
        sys.exit(1)


# Set (with HYDRA_FULL_ERROR) by run_hydra_app until the task starts; inherited by a SLURM job
# that submitit starts from this process, so that the job unsets both too.
_OUR_FULL_ERROR = "CYCLEGAN_LIT_HYDRA_FULL_ERROR"


def run_hydra_app(program: str, app: Callable[[], None]) -> None:
    """Run a ``@hydra.main`` app so that a run folder Hydra cannot create is one line.

    Hydra creates the run (or sweep) folder and its ``.hydra/`` and log before our task starts, and
    reports a failure there as a traceback. With ``HYDRA_FULL_ERROR=1`` it raises instead, so the
    flag is set until the task starts (``task_started`` unsets it): an ``OSError`` before then
    is one line naming ``paths.log_dir`` (``paths.sweep_dir`` for ``-m``), and Hydra's own errors
    (a mistyped override) are printed as Hydra prints them. A user's HYDRA_FULL_ERROR wins.
    """
    if "HYDRA_FULL_ERROR" in os.environ:
        app()
        return
    os.environ.update({"HYDRA_FULL_ERROR": "1", _OUR_FULL_ERROR: "1"})
    try:
        app()
    except CompactHydraException as err:  # what Hydra prints for these, and its hint
        sys.stderr.write(f"{err}\n")
        if isinstance(err.__cause__, OmegaConfBaseException):
            sys.stderr.write(f"{err.__cause__}\n")
        sys.stderr.write(
            "\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"
        )
        sys.exit(1)
    except OSError as err:  # after Hydra's: a missing config is an OSError too
        if err.filename is None:
            raise
        print(f"{program}: error: {run_folder_message(err)}", file=sys.stderr)
        sys.exit(1)
    finally:
        task_started()


def task_started() -> None:
    """Give errors back to Hydra's usual reporting once the task runs (see ``run_hydra_app``)."""
    if os.environ.pop(_OUR_FULL_ERROR, None):
        os.environ.pop("HYDRA_FULL_ERROR", None)


def run_folder_message(err: OSError) -> str:
    """One line for a run folder that Hydra could not create or write, naming the option to set."""
    sweep = any(arg in ("-m", "--multirun") for arg in sys.argv[1:])
    option = "paths.sweep_dir" if sweep else "paths.log_dir"
    reason = err.strerror or type(err).__name__
    return (
        f"{option}: cannot create or write the run folder {err.filename} ({reason}); set "
        f"{option} (or paths.root_dir) to a folder you can write"
    )
