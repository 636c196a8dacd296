"""What the commands say to the user, each line also kept in the run's log.

Hydra's job logging writes the run's log (``<run>/train.log``) through a file handler on the root
logger, and Lightning's lines reach it by propagating there. Our own lines are printed (results to
stdout, the rest to stderr) so that they read the same outside Hydra (a notebook calling
``train(cfg)``); ``say`` also hands each one to that file handler, so the log holds everything
the run said while the screen shows each line once.
"""

from __future__ import annotations

import logging
import os
import sys

_LOGGER_NAME = "cyclegan_lit"


def rank() -> int:
    """This process's global rank as Lightning knows it (0 outside a distributed run). Before
    Lightning is loaded, from the launcher's environment as Lightning reads it, so that a command
    failing early does not load torch just to ask."""
    if "lightning.fabric.utilities.rank_zero" not in sys.modules:
        for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
            if os.environ.get(key) is not None:
                return int(os.environ[key])
        return 0
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))


def say(text: str, err: bool = True) -> None:
    """Print ``text`` (stderr, or stdout with ``err=False``) and write it to the run's log file."""
    print(text, file=sys.stderr if err else sys.stdout, flush=True)
    record = logging.LogRecord(_LOGGER_NAME, logging.INFO, __file__, 0, text, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def one_console_for_lightning() -> None:
    """Print Lightning's lines once. Importing ``lightning`` gives its logger a console handler of
    its own, and its lines also reach the root logger's handlers, which Hydra's job logging set up
    (the screen and ``train.log``): with a console handler on the root, Lightning's own goes."""
    root = logging.getLogger().handlers
    if not any(type(handler) is logging.StreamHandler for handler in root):
        return
    lightning = logging.getLogger("lightning")
    for handler in list(lightning.handlers):
        if type(handler) is logging.StreamHandler:
            lightning.removeHandler(handler)
