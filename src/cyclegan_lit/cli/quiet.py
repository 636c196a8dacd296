"""Third-party lines that are not the user's to act on, silenced at their source, one each.

Each filter matches one message of one library (by its text and the module or logger that emits
it), so that everything else those libraries say still shows. Checked by
``tests/test_cli_quiet.py``, which fails when a library changes a message and the line is back.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any


class _DropLines(logging.Filter):
    """Drops the records of one logger whose message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


_LITLOGGER_TIP = _DropLines("litlogger")


def quiet_third_party() -> None:
    """Install the filters (idempotent: a sweep runs this once per job)."""
    # torch 2.14 deprecates `LeafSpec`, which Lightning 2.6's own pytree helper still builds at
    # every step: Lightning's to change, nothing for the user to do
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )
    # Lightning advertises its LitLogger service on every Trainer ("💡 Tip: ... litlogger")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_LITLOGGER_TIP)
    # a resumed run continues its own folder on purpose (resume.continue_run), so Lightning's
    # "Checkpoint directory ... exists and is not empty" is expected, not a warning
    warnings.filterwarnings(
        "ignore",
        message=r"Checkpoint directory .* exists and is not empty",
        module=r"lightning\.pytorch\.callbacks\.model_checkpoint",
    )
    # "`weights_only` was not set, defaulting to `False`": Lightning's note at each checkpoint it
    # writes; full checkpoints are what resuming needs. Its only INFO line in this logger.
    logging.getLogger("lightning.pytorch.trainer.connectors.checkpoint_connector").setLevel(
        logging.WARNING
    )


def quiet_wandb_logger(logger: Any) -> None:
    """Lightning's WandbLogger passes ``anonymous=None`` to ``wandb.init``, and wandb 0.31 warns
    that the setting "has no effect" whatever its value: leave the key out when it is None."""
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and init.get("anonymous", False) is None:
        del init["anonymous"]
