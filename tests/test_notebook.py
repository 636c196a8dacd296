"""notebooks/quickstart.ipynb runs top to bottom on a CPU, in a kernel of this environment."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # kernel "python3" with argv "python" runs as sys.executable: this venv's interpreter
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the training grid and the translated image
    run_dir = tmp_path / "outputs" / "quickstart_notebook"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (run_dir / "images").glob("*.png")) == [
        "epoch_000.png",
        "epoch_001.png",
    ]
