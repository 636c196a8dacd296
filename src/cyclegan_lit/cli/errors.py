"""Bad input ends in one line naming the file or option, not in a traceback.

Missing folders, unreadable images, wrong option values and failed downloads raise errors whose
message already says what is wrong and what to do; a traceback would only hide it. Anything else
is a bug or an internal failure and keeps its traceback, as does every error under
``HYDRA_FULL_ERROR=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import InstantiationException

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
