"""Process-group clean-up that Lightning leaves out for CPU (gloo) data-parallel runs.

Lightning destroys the process group at exit only for NCCL. A gloo group still alive when the
interpreter exits can abort a rank (``terminate called without an active exception``, SIGABRT)
after training has finished, so ``trainer=ddp_spawn`` on the CPU reports a crash for a run that
succeeded. Destroying the group at exit, as Lightning does for NCCL, ends the run cleanly.
"""

from __future__ import annotations

import atexit

import torch.distributed as dist

_registered = False


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def destroy_process_group_at_exit() -> None:
    """Registers (once per process) the group's destruction at exit, if a group is running."""
    global _registered
    if _registered or not (dist.is_available() and dist.is_initialized()):
        return
    atexit.register(_destroy_process_group)
    _registered = True
