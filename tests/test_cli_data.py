"""`cyclegan-data`: list, download and verify through `main([...])` and the installed script."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_download import DatasetServer, dataset_zip

from cyclegan_lit.cli.data import main


@pytest.fixture
def server():
    with DatasetServer() as srv:
        srv.files["/mini.zip"] = dataset_zip()
        yield srv


def download(server: DatasetServer, data_dir: Path, *names: str) -> int:
    args = ["download", *names, "--base-url", server.url, "--data-dir", str(data_dir)]
    return main([*args, "--no-progress", "--retries", "0"])


def test_download_list_and_verify(server, tmp_path, capsys):
    assert download(server, tmp_path, "mini") == 0
    assert (tmp_path / "mini" / "trainA" / "0.png").is_file()
    assert f"mini: ready at {tmp_path / 'mini'}" in capsys.readouterr().out

    assert main(["list", "--data-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "ready" in rows["mini"] and "ready" not in rows["horse2zebra"]
    assert "117 MB" in rows["horse2zebra"]

    assert main(["verify", "mini", "--data-dir", str(tmp_path)]) == 0
    digest = hashlib.sha256(server.files["/mini.zip"]).hexdigest()
    assert digest in capsys.readouterr().out


def test_verify_detects_a_changed_zip(server, tmp_path, capsys):
    assert download(server, tmp_path, "mini") == 0
    kept = tmp_path / ".downloads" / "mini.zip"
    kept.write_bytes(kept.read_bytes()[:-1] + b"x")
    capsys.readouterr()
    assert main(["verify", "mini", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cyclegan-data: error:") and "expected sha256" in err
    assert err.count("\n") == 1


def test_verify_without_a_download_says_what_to_run(tmp_path, capsys):
    assert main(["verify", "horse2zebra", "--data-dir", str(tmp_path)]) == 1
    assert "cyclegan-data download horse2zebra" in capsys.readouterr().err


def test_failures_are_one_line_without_traceback(server, tmp_path, capsys):
    server.files["/horse2zebra.zip"] = dataset_zip("horse2zebra")
    assert download(server, tmp_path, "horse2zebra") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "expected 116867962 bytes" in err and server.url + "/horse2zebra.zip" in err
    assert not (tmp_path / "horse2zebra").exists()


def test_a_typo_is_rejected_before_anything_is_downloaded(server, tmp_path, capsys):
    assert download(server, tmp_path, "mini", "horse2zbra") == 1
    assert "did you mean 'horse2zebra'" in capsys.readouterr().err
    assert server.requests == []


def test_installed_console_script_downloads_a_dataset(server, tmp_path):
    script = shutil.which("cyclegan-data", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip(f"cyclegan-data is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != "CYCLEGAN_DATASETS_URL"}
    args = [script, "download", "mini", "--base-url", server.url, "--data-dir", str(tmp_path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mini" / ".complete").is_file()
    assert (tmp_path / "mini" / "testB" / "1.png").is_file()
