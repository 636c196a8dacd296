"""Standard datasets: download from a real local HTTP server, resume, retry, verify, unpack safely.

The server (`DatasetServer`) runs on 127.0.0.1 in a thread, supports Range requests, and can be told
to fail its first requests with 503 or to cut the body short. No test contacts the internet.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import re
import shutil
import socket
import stat
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from cyclegan_lit.data.download import (
    DatasetDownloadError,
    ensure_dataset,
    no_network,
    verify_download,
)
from cyclegan_lit.data.registry import BASE_URL_ENV, STANDARD_DATASETS, DatasetSpec, get_spec

FAST = {"progress": False, "retries": 3, "backoff_s": 0.01, "timeout_s": 10.0}


class DatasetServer:
    """Serves `files` (URL path -> bytes) and records every request's path and Range header."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, str | None]] = []
        self.fail_first = 0  # answer this many first requests with HTTP 503
        self.drop_first = 0  # then cut this many bodies off half-way
        self.ignore_range = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.state = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, path: str, range_header: str | None) -> int:
        with self._lock:
            self.requests.append({"path": path, "range": range_header})
            return len(self.requests)

    def __enter__(self) -> DatasetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: DatasetServer = self.server.state  # type: ignore[attr-defined]
        number = state.record(self.path, self.headers.get("Range"))
        if number <= state.fail_first:
            self.send_error(503, "Service Unavailable")
            return
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not state.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if number <= state.fail_first + state.drop_first:
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def png_bytes(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 255 - value, 0)).save(buf, format="PNG")
    return buf.getvalue()


def dataset_zip(top: str | None = "mini", extra: dict[str, bytes] | None = None) -> bytes:
    """A small CycleGAN zip: trainA/trainB/testA/testB with two PNGs each, optionally in `top/`."""
    prefix = f"{top}/" if top else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if top:
            zf.writestr(f"{prefix}", b"")
        for i, split in enumerate(("trainA", "trainB", "testA", "testB")):
            zf.writestr(f"{prefix}{split}/", b"")
            for j in range(2):
                zf.writestr(f"{prefix}{split}/{j}.png", png_bytes(40 * i + j))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def server():
    with DatasetServer() as srv:
        yield srv


def leftovers(data_dir: Path) -> list[str]:
    """Temporary extraction folders or part files a failed run must not leave behind."""
    return [p.name for p in data_dir.rglob("*") if ".extract-" in p.name or p.suffix == ".part"]


@pytest.mark.parametrize("top", ["mini", None], ids=["top-folder", "no-top-folder"])
def test_download_unpacks_dataset_and_marks_it_complete(server, tmp_path, top):
    payload = dataset_zip(top)
    server.files["/mini.zip"] = payload
    data_dir = tmp_path / "data"
    path = ensure_dataset("mini", data_dir, base_url=server.url, **FAST)

    assert path == data_dir / "mini"
    for i, split in enumerate(("trainA", "trainB", "testA", "testB")):
        assert sorted(p.name for p in (path / split).iterdir()) == ["0.png", "1.png"]
        assert (path / split / "1.png").read_bytes() == png_bytes(40 * i + 1)
    marker = json.loads((path / ".complete").read_text())
    assert marker == {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "url": server.url + "/mini.zip",
    }
    assert (data_dir / ".downloads" / "mini.zip").read_bytes() == payload
    assert leftovers(data_dir) == []


def test_second_call_uses_the_dataset_without_contacting_the_server(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    first = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    second = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    offline = ensure_dataset("mini", tmp_path, download=False)
    assert first == second == offline
    assert len(server.requests) == 1


def test_a_kept_zip_is_unpacked_again_without_downloading(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    path = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    shutil.rmtree(path)
    assert ensure_dataset("mini", tmp_path, base_url=server.url, **FAST) == path
    assert (path / "trainB" / "1.png").is_file()
    assert len(server.requests) == 1


def test_matching_published_checksum_is_accepted(server, tmp_path):
    payload = dataset_zip()
    server.files["/mini.zip"] = payload
    spec = DatasetSpec("mini", "mini.zip", len(payload), hashlib.sha256(payload).hexdigest(), "")
    path = ensure_dataset("mini", tmp_path, base_url=server.url, spec=spec, **FAST)
    assert (path / ".complete").is_file()
    assert verify_download("mini", tmp_path, spec=spec) == spec.sha256


def test_checksum_mismatch_deletes_the_download_and_creates_no_dataset(server, tmp_path):
    payload = dataset_zip()
    server.files["/mini.zip"] = payload
    spec = DatasetSpec("mini", "mini.zip", len(payload), "0" * 64, "")
    with pytest.raises(DatasetDownloadError) as err:
        ensure_dataset("mini", tmp_path, base_url=server.url, spec=spec, **FAST)
    message = str(err.value)
    assert "\n" not in message
    assert server.url + "/mini.zip" in message
    assert "0" * 64 in message and hashlib.sha256(payload).hexdigest() in message
    assert not (tmp_path / "mini").exists()
    assert not (tmp_path / ".downloads" / "mini.zip").exists()
    assert leftovers(tmp_path) == []


def test_registered_size_rejects_a_zip_that_is_not_the_official_one(server, tmp_path):
    server.files["/horse2zebra.zip"] = dataset_zip("horse2zebra")
    with pytest.raises(DatasetDownloadError, match="expected 116867962 bytes"):
        ensure_dataset("horse2zebra", tmp_path, base_url=server.url, **FAST)
    assert not (tmp_path / "horse2zebra").exists()


def test_server_errors_are_retried(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    server.fail_first = 2
    path = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert (path / ".complete").is_file()
    assert len(server.requests) == 3


def test_persistent_server_error_gives_one_line_advice(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    server.fail_first = 100
    with pytest.raises(DatasetDownloadError) as err:
        ensure_dataset("mini", tmp_path, base_url=server.url, **{**FAST, "retries": 1})
    message = str(err.value)
    assert "\n" not in message
    assert "HTTP 503" in message and server.url + "/mini.zip" in message
    assert BASE_URL_ENV in message
    assert len(server.requests) == 2
    assert not (tmp_path / "mini").exists()


def test_missing_file_fails_without_retrying(server, tmp_path):
    with pytest.raises(DatasetDownloadError, match="HTTP 404"):
        ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert len(server.requests) == 1


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    payload = dataset_zip()
    server.files["/mini.zip"] = payload
    server.drop_first = 1
    path = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(payload) // 2}-"]
    assert (tmp_path / ".downloads" / "mini.zip").read_bytes() == payload
    assert (path / "testB" / "0.png").is_file()


def test_server_ignoring_range_restarts_from_the_first_byte(server, tmp_path):
    payload = dataset_zip()
    server.files["/mini.zip"] = payload
    server.drop_first = 1
    server.ignore_range = True
    ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert server.requests[1]["range"] is not None
    assert (tmp_path / ".downloads" / "mini.zip").read_bytes() == payload


def test_partial_download_from_an_earlier_run_is_resumed(server, tmp_path):
    payload = dataset_zip()
    server.files["/mini.zip"] = payload
    part = tmp_path / ".downloads" / "mini.zip.part"
    part.parent.mkdir()
    part.write_bytes(payload[:100])
    ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert [r["range"] for r in server.requests] == ["bytes=100-"]
    assert (tmp_path / ".downloads" / "mini.zip").read_bytes() == payload


def test_a_response_that_is_not_a_zip_is_deleted(server, tmp_path):
    server.files["/mini.zip"] = b"<html>captive portal</html>"
    with pytest.raises(DatasetDownloadError, match="not a valid zip"):
        ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert not (tmp_path / "mini").exists()
    assert not (tmp_path / ".downloads" / "mini.zip").exists()


def _symlink_entry() -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo("mini/trainA/link.png")
    info.create_system = 3  # unix, so external_attr carries the file type
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, b"../../../../outside.png"


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_zip_entries_are_refused_and_nothing_is_written(server, tmp_path, kind):
    data_dir = tmp_path / "data"
    outside = tmp_path / "evil.txt"
    buf = io.BytesIO(dataset_zip())
    with zipfile.ZipFile(buf, "a") as zf:
        if kind == "dotdot":
            zf.writestr("mini/trainA/../../../../evil.txt", b"pwned")  # lands on `outside`
        elif kind == "absolute":
            zf.writestr(zipfile.ZipInfo(str(outside)), b"pwned")
        else:
            zf.writestr(*_symlink_entry())
    server.files["/mini.zip"] = buf.getvalue()

    with pytest.raises(DatasetDownloadError, match="was not extracted") as err:
        ensure_dataset("mini", data_dir, base_url=server.url, **FAST)
    assert "\n" not in str(err.value)
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert [p for p in tmp_path.rglob("*") if p.is_symlink() or "evil" in p.name] == []
    assert not (data_dir / "mini").exists()
    assert leftovers(data_dir) == []


def test_zip_bomb_is_refused(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip(extra={"mini/trainA/big.png": bytes(2**20)})
    with pytest.raises(DatasetDownloadError, match="zip bomb"):
        ensure_dataset("mini", tmp_path, base_url=server.url, max_uncompressed_bytes=2**19, **FAST)
    assert not (tmp_path / "mini").exists()


def test_a_zip_without_domain_folders_is_refused(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mini/readme.txt", b"hello")
    server.files["/mini.zip"] = buf.getvalue()
    with pytest.raises(DatasetDownloadError, match="no trainA/trainB/testA/testB"):
        ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert not (tmp_path / "mini").exists()


def test_an_existing_user_folder_is_never_overwritten(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    notes = tmp_path / "mini" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    with pytest.raises(DatasetDownloadError, match="will not be overwritten") as err:
        ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert str(tmp_path / "mini") in str(err.value) and "data.root" in str(err.value)
    assert notes.read_text() == "mine"
    assert sorted(p.name for p in notes.parent.iterdir()) == ["notes.txt"]
    assert server.requests == []


def test_an_empty_folder_is_filled(server, tmp_path):
    server.files["/mini.zip"] = dataset_zip()
    (tmp_path / "mini").mkdir()
    path = ensure_dataset("mini", tmp_path, base_url=server.url, **FAST)
    assert (path / "trainA" / "0.png").is_file()


def test_a_folder_prepared_by_hand_is_used_as_it_is(tmp_path):
    (tmp_path / "mini" / "trainA").mkdir(parents=True)
    assert ensure_dataset("mini", tmp_path, download=False) == tmp_path / "mini"


def test_missing_dataset_without_download_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        ensure_dataset("horse2zebra", tmp_path, download=False)
    message = str(err.value)
    assert "\n" not in message
    assert "cyclegan-data download horse2zebra" in message and "data.download=true" in message
    assert list(tmp_path.iterdir()) == []


def test_base_url_comes_from_the_environment_unless_given(server, tmp_path, monkeypatch):
    server.files["/mini.zip"] = dataset_zip()
    monkeypatch.setenv(BASE_URL_ENV, server.url)
    ensure_dataset("mini", tmp_path / "a", **FAST)
    assert len(server.requests) == 1
    with pytest.raises(DatasetDownloadError, match="HTTP 404"):
        ensure_dataset("mini", tmp_path / "b", base_url=server.url + "/elsewhere", **FAST)


@pytest.mark.parametrize("base_url", ["ftp://example.org/datasets", "http:/no-host"])
def test_an_unusable_base_url_fails_at_once(tmp_path, base_url):
    with pytest.raises(DatasetDownloadError, match="must be an http"):
        ensure_dataset("mini", tmp_path, base_url=base_url, **FAST)
    assert not (tmp_path / "mini").exists()


def test_unknown_name_suggests_the_closest(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'horse2zebra'") as err:
        ensure_dataset("horse2zebr", tmp_path)
    assert "monet2photo" in str(err.value)


def test_cityscapes_explains_how_to_prepare_it():
    with pytest.raises(ValueError, match="licence") as err:
        get_spec("cityscapes")
    assert "prepare_cityscapes_dataset.py" in str(err.value) and "\n" not in str(err.value)


def test_every_dataset_with_a_published_checksum_is_verified():
    published = {n for n, s in STANDARD_DATASETS.items() if s.sha256 and s.num_bytes}
    assert published == set(STANDARD_DATASETS) - {"ae_photos", "mini"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", STANDARD_DATASETS[n].sha256) for n in published)


def test_no_network_is_one_line_at_once_not_retried(tmp_path):
    """A host that cannot be resolved (`.invalid` never resolves, RFC 2606): no retries, one line
    naming the host, well within 5 s even with the default retries and backoff."""
    start = time.monotonic()
    with pytest.raises(DatasetDownloadError) as err:
        ensure_dataset("mini", tmp_path, base_url="http://datasets.invalid/x", progress=True)
    elapsed = time.monotonic() - start
    message = str(err.value)
    assert elapsed < 5, elapsed
    assert "\n" not in message and "datasets.invalid cannot be reached" in message
    assert "attempts" not in message  # not retried
    assert not (tmp_path / "mini").exists()


def test_no_route_and_unresolvable_hosts_mean_no_network_a_refused_connection_does_not():
    assert no_network(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert no_network(OSError(errno.ENETUNREACH, "Network is unreachable"))
    assert no_network(OSError(errno.EHOSTUNREACH, "No route to host"))
    assert not no_network(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert not no_network(TimeoutError("timed out"))


def test_a_refused_connection_is_still_retried(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatasetDownloadError, match=r"Connection refused.*after 4 attempts"):
        ensure_dataset("mini", tmp_path, base_url=f"http://127.0.0.1:{port}", **FAST)
