"""The gloo process group is destroyed when a rank's interpreter exits (Lightning does this only
for NCCL); a group left alive could abort a rank after a finished CPU DDP run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import atexit, sys
    import torch.distributed as dist
    from cyclegan_lit.distributed import destroy_process_group_at_exit

    destroy_process_group_at_exit()  # no group yet: registers nothing
    store = dist.FileStore(sys.argv[1], 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    # registered first, so it runs last (atexit is last-in, first-out)
    atexit.register(lambda: print("alive at exit:", dist.is_initialized()))
    destroy_process_group_at_exit()
    """
)


def test_a_gloo_group_is_destroyed_at_exit(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "alive at exit: False" in result.stdout
