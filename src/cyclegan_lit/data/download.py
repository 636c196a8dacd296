"""Fetch a standard dataset once, check it, and unpack it safely next to the user's data.

`ensure_dataset` is the one entry point: it returns `<data_dir>/<name>` (trainA/trainB/testA/testB)
and downloads only when that folder has no `.complete` marker. Downloads resume with HTTP Range
requests, transient failures are retried with backoff (no network at all, a host that cannot be
resolved or reached, is one line at once: waiting would not bring it back), the zip is checked
against the published size and SHA-256, and extraction refuses anything that could write outside
the dataset folder. The dataset folder appears in one rename, so a failure never leaves a
half-extracted dataset. `download_file` is the single-file part (resume, retries, checks,
progress), shared with the pretrained generators (`cyclegan_lit.inference.pretrained`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from cyclegan_lit import __version__
from cyclegan_lit.data.registry import BASE_URL_ENV, DatasetSpec, get_spec, resolve_base_url

COMPLETE_MARKER = ".complete"
DOWNLOADS_DIR = ".downloads"
SPLIT_DIRS = ("trainA", "trainB", "testA", "testB")
DEFAULT_MAX_UNCOMPRESSED_BYTES = 16 * 2**30  # the largest standard zip (maps) unpacks to ~1.5 GB
_CHUNK = 2**20
_MIRROR_HINT = "set data.base_url or $CYCLEGAN_DATASETS_URL to a mirror"


class DownloadError(RuntimeError):
    """A file could not be fetched or verified; the one-line message says what to do."""


class DatasetDownloadError(DownloadError):
    """A dataset could not be fetched, verified or unpacked; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class DownloadAdvice:
    """What `download_file`'s one-line errors tell the user to do, and the error they raise."""

    mirror: str = "use another mirror"  # after "try again later or ..."
    not_found: str = "check the URL"  # after an HTTP 404 etc., before "or <mirror>"
    url_setting: str = "the URL"  # the setting that gave the URL
    disk: str = "write to another disk"  # after "free some disk space or ..."
    error: type[DownloadError] = DownloadError


_DATASET_ADVICE = DownloadAdvice(
    mirror=_MIRROR_HINT,
    not_found="check the dataset name",
    url_setting=f"data.base_url / ${BASE_URL_ENV}",
    disk="set paths.data_dir (cyclegan-data --data-dir) to another disk",
    error=DatasetDownloadError,
)


class _TransientError(Exception):
    """A failure worth retrying: connection trouble, HTTP 5xx, a body cut short."""


# connect() errors that mean no route to the host at all, as opposed to a refused or reset
# connection, which a server restarting gives
_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN)


def no_network(reason: object) -> bool:
    """Whether a connection failure means no network: the host name cannot be resolved (no DNS,
    or no such host) or no route leads to it. Retrying that only makes the user wait."""
    return isinstance(reason, socket.gaierror) or (
        isinstance(reason, OSError) and reason.errno in _NO_ROUTE
    )


def dataset_dir(name: str, data_dir: str | Path) -> Path:
    """The folder a dataset lives in: `<data_dir>/<name>`."""
    return Path(data_dir).expanduser() / name


def is_dataset_ready(path: str | Path) -> bool:
    """True for a folder we unpacked (it has `.complete`) or one the user prepared by hand."""
    path = Path(path)
    return (path / COMPLETE_MARKER).is_file() or any((path / d).is_dir() for d in SPLIT_DIRS)


def ensure_dataset(
    name: str,
    data_dir: str | Path,
    base_url: str | None = None,
    download: bool = True,
    progress: bool = True,
    *,
    spec: DatasetSpec | None = None,
    retries: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> Path:
    """Return `<data_dir>/<name>`, downloading and unpacking `<base_url>/<name>.zip` if needed.

    `spec` replaces the registry entry (a mirror's own checksums, or a test's); `retries` and
    `backoff_s` (doubled per attempt) govern transient failures; `max_uncompressed_bytes` bounds
    what a zip may unpack to. A folder holding trainA/trainB/testA/testB that the user prepared
    by hand is used as it is; any other non-empty folder of that name is never touched.
    """
    spec = spec if spec is not None else get_spec(name)
    target = dataset_dir(name, data_dir)
    if is_dataset_ready(target):
        return target
    if not download:
        raise FileNotFoundError(
            f"dataset {name!r} not found at {target}: run `cyclegan-data download {name} "
            f"--data-dir {target.parent}` or set data.download=true"
        )
    _refuse_user_folder(target)
    url = _dataset_url(base_url, spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.parent / DOWNLOADS_DIR / f"{name}.lock"):
        if is_dataset_ready(target):  # another process finished it while we waited
            return target
        _refuse_user_folder(target)
        for stale in target.parent.glob(f".{name}.extract-*"):
            shutil.rmtree(stale, ignore_errors=True)
        zip_path = target.parent / DOWNLOADS_DIR / spec.filename
        sha256 = _kept_zip_digest(zip_path, spec)
        if sha256 is None:
            sha256 = download_file(
                url,
                zip_path,
                spec.num_bytes,
                spec.sha256,
                progress,
                retries=retries,
                backoff_s=backoff_s,
                timeout_s=timeout_s,
                advice=_DATASET_ADVICE,
            )
        try:
            _extract(zip_path, target, max_uncompressed_bytes, {"sha256": sha256, "url": url})
        except zipfile.BadZipFile as err:
            zip_path.unlink(missing_ok=True)
            raise DatasetDownloadError(
                f"{url} is not a valid zip ({err}); it was deleted: try again or {_MIRROR_HINT}"
            ) from None
        except DatasetDownloadError:  # refused contents: the zip is of no use, do not reuse it
            zip_path.unlink(missing_ok=True)
            raise
    return target


def verify_download(name: str, data_dir: str | Path, spec: DatasetSpec | None = None) -> str:
    """Re-hash the kept `<data_dir>/.downloads/<name>.zip`; return its SHA-256 or raise.

    The zip is compared with the published checksum, or, where none is published, with the
    digest recorded in the dataset's `.complete` marker when it was unpacked.
    """
    spec = spec if spec is not None else get_spec(name)
    zip_path = Path(data_dir).expanduser() / DOWNLOADS_DIR / spec.filename
    if not zip_path.is_file():
        raise FileNotFoundError(
            f"no downloaded zip at {zip_path}: run `cyclegan-data download {name} "
            f"--data-dir {data_dir}` first"
        )
    marker = dataset_dir(name, data_dir) / COMPLETE_MARKER
    if spec.sha256 is None and marker.is_file():
        recorded = json.loads(marker.read_text()).get("sha256")
        spec = dataclasses.replace(spec, sha256=recorded)
    problem, digest = _check_file(zip_path, spec.num_bytes, spec.sha256)
    if problem:
        raise DatasetDownloadError(f"{zip_path}: {problem}; delete it and download again")
    return digest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _dataset_url(base_url: str | None, spec: DatasetSpec) -> str:
    url = f"{resolve_base_url(base_url)}/{spec.filename}"
    _check_url(url, _DATASET_ADVICE)
    return url


def _check_url(url: str, advice: DownloadAdvice) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https", "file") or (
        parsed.scheme != "file" and not parsed.netloc
    ):
        raise advice.error(
            f"cannot download {url}: {advice.url_setting} must be an http(s)://host/... "
            f"or file:// URL"
        )


def _refuse_user_folder(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DatasetDownloadError(
            f"{target} exists but is not a downloaded dataset (no {COMPLETE_MARKER}) and will not "
            f"be overwritten: move it away, or set data.root / paths.data_dir to use another folder"
        )


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise downloads of one file across processes (e.g. one per node); POSIX only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock, concurrent downloads are the caller's concern
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_file(path: Path, num_bytes: int | None, sha256: str | None) -> tuple[str | None, str]:
    """(what is wrong with a downloaded file given the expected size and digest, or None; its
    SHA-256)."""
    size = path.stat().st_size
    if num_bytes is not None and size != num_bytes:
        return f"expected {num_bytes} bytes, got {size}", ""
    digest = sha256_of(path)  # one pass: both the check and the .complete marker need it
    if sha256 is not None and digest != sha256.lower():
        return f"expected sha256 {sha256}, got {digest}", digest
    return None, digest


def _kept_zip_digest(zip_path: Path, spec: DatasetSpec) -> str | None:
    """Reuse a zip kept from an earlier run when it still matches the spec."""
    if not zip_path.is_file():
        return None
    problem, digest = _check_file(zip_path, spec.num_bytes, spec.sha256)
    if problem:
        zip_path.unlink()
        return None
    return digest


def download_file(
    url: str,
    dest: str | Path,
    num_bytes: int | None = None,
    sha256: str | None = None,
    progress: bool = True,
    *,
    retries: int = 4,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    check: Callable[[Path], None] | None = None,
    advice: DownloadAdvice = DownloadAdvice(),
) -> str:
    """Fetch `url` into `<dest>.part` (resuming), verify it, rename it to `dest`; its SHA-256.

    Transient failures (connection, HTTP 5xx, a body cut short) are retried `retries` times,
    waiting `backoff_s` doubled per attempt; the `.part` file is kept for the next call. The
    download must have `num_bytes` and `sha256` where given, and pass `check(part)`, which raises
    a one-line ValueError for contents of the wrong kind; a failed check deletes the download.
    Errors are `advice.error` with one line naming `url` and what to do. No lock is taken: callers
    that may run concurrently hold `exclusive_lock`.
    """
    dest = Path(dest)
    _check_url(url, advice)
    part = dest.with_name(dest.name + ".part")
    with _progress_bar(progress, dest.name) as update:
        for attempt in range(retries + 1):
            try:
                _fetch_into(url, part, num_bytes, timeout_s, update, advice)
                break
            except _TransientError as err:
                if attempt == retries:
                    kept = part.is_file() and part.stat().st_size > 0
                    resume = "the partial download is kept and resumes next time: " if kept else ""
                    raise advice.error(
                        f"could not download {url}: {err} (after {retries + 1} attempts); "
                        f"{resume}try again later or {advice.mirror}"
                    ) from None
                time.sleep(backoff_s * 2**attempt)
    problem, digest = _check_file(part, num_bytes, sha256)
    if problem is None and check is not None:
        try:
            check(part)
        except ValueError as err:
            problem = str(err)
    if problem:
        part.unlink(missing_ok=True)
        raise advice.error(
            f"{url}: {problem}; the download was deleted: try again, or check that "
            f"{advice.url_setting} serves the official files"
        )
    os.replace(part, dest)
    return digest


def _fetch_into(
    url: str, part: Path, expected: int | None, timeout_s: float, update, advice: DownloadAdvice
) -> None:
    """One HTTP attempt: append to `part` from where it stopped, or start over."""
    offset = part.stat().st_size if part.exists() else 0
    if expected is not None and offset >= expected:
        if offset == expected:
            return
        part.unlink()
        offset = 0
    headers = {"User-Agent": f"cyclegan-lit/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # our part file is wrong for this server: start over
            part.unlink()
            raise _TransientError("HTTP 416, restarting from byte 0") from None
        if err.code >= 500 or err.code in (408, 429):
            raise _TransientError(f"server error (HTTP {err.code} {err.reason})") from None
        raise advice.error(
            f"could not download {url}: HTTP {err.code} {err.reason}; {advice.not_found} "
            f"or {advice.mirror}"
        ) from None
    except ValueError as err:  # e.g. "http:/host" without a host
        raise advice.error(f"cannot download {url}: {err}; check {advice.url_setting}") from None
    except (OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        if no_network(reason):
            host = urllib.parse.urlsplit(url).hostname
            raise advice.error(
                f"cannot download {url}: {host} cannot be reached ({reason}); check the network "
                f"connection, or {advice.mirror}"
            ) from None
        raise _TransientError(f"connection failed ({reason})") from None
    with response:
        resumed = bool(offset) and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise _TransientError("server answered the Range request with the wrong bytes")
        if not resumed:  # the server ignored Range (HTTP 200): the body starts at byte 0
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else expected
        update(completed=offset, total=total)
        received = _copy_body(response, part, append=resumed, update=update, advice=advice)
    if length is not None and received < int(length):
        raise _TransientError(f"connection dropped after {offset + received} bytes")


def _copy_body(response, part: Path, append: bool, update, advice: DownloadAdvice) -> int:
    received = 0
    with open(part, "ab" if append else "wb") as f:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise _TransientError(f"connection dropped ({err!r})") from None
            if not chunk:
                return received
            try:
                f.write(chunk)
            except OSError as err:
                raise advice.error(
                    f"cannot write {part}: {err.strerror}; free some disk space or {advice.disk}"
                ) from None
            received += len(chunk)
            update(advance=len(chunk))


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator:
    """Yield `update(completed=, total=, advance=)`, drawing a rich progress bar when enabled."""
    if not enabled:
        yield lambda **_: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    # drawn from the server's first answer on: a download that cannot start is its error alone
    bar = Progress(*columns, console=Console(stderr=True), transient=False)
    tasks = []

    def update(**kwargs) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(label, total=None))
        bar.update(tasks[0], **kwargs)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def _member_parts(info: zipfile.ZipInfo, zip_path: Path) -> list[str] | None:
    """A member's path components, None for entries to skip; refuse anything unsafe."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    problem = None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problem = "an absolute path"
    elif ".." in name.split("/"):
        problem = "a '..' component"
    elif kind == stat.S_IFLNK:
        problem = "a symbolic link"
    elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        problem = "a special file (device, fifo or socket)"
    elif info.flag_bits & 0x1:
        problem = "an encrypted member"
    if problem:
        raise DatasetDownloadError(
            f"{zip_path} holds {problem} ({info.filename!r}) and was not extracted: it is not an "
            f"official dataset zip; it was deleted: check data.base_url / $CYCLEGAN_DATASETS_URL"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or parts[-1] == ".DS_Store":
        return None
    return parts


def _extract(zip_path: Path, target: Path, max_bytes: int, marker: dict[str, str]) -> None:
    """Unpack into a temporary folder beside `target`, mark it complete, then rename it."""
    with zipfile.ZipFile(zip_path) as zf:
        members = [(i, p) for i in zf.infolist() if (p := _member_parts(i, zip_path))]
        declared = sum(info.file_size for info, _ in members)
        if declared > max_bytes:
            raise DatasetDownloadError(
                f"{zip_path} would unpack to {declared} bytes, over the {max_bytes}-byte limit "
                f"(a zip bomb?); it was deleted: check data.base_url / $CYCLEGAN_DATASETS_URL"
            )
        files = [(i, p) for i, p in members if not i.is_dir()]
        tops = {p[0] for _, p in files}
        single_top = len(tops) == 1 and not tops & set(SPLIT_DIRS)
        strip = 1 if single_top and all(len(p) > 1 for _, p in files) else 0
        if not any(len(p) > strip and p[strip] in SPLIT_DIRS for _, p in files):
            raise DatasetDownloadError(
                f"{zip_path} has no trainA/trainB/testA/testB folders: it is not a CycleGAN "
                f"dataset zip; it was deleted: check data.base_url / $CYCLEGAN_DATASETS_URL"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
        try:
            root = tmp / "dataset"
            root.mkdir()
            for info, parts in members:
                dest = root.joinpath(*parts[strip:])
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                elif parts[strip:]:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    _copy_member(zf, info, dest)
            (root / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            if target.is_dir():  # empty (checked by the caller): replace it
                target.rmdir()
            os.replace(root, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    """Copy one member, never writing more than it declares (zipfile checks the CRC)."""
    written = 0
    with zf.open(info) as src, open(dest, "wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise DatasetDownloadError(
                    f"{info.filename!r} in {zf.filename} unpacks larger than it declares; the zip "
                    f"was deleted: check data.base_url / $CYCLEGAN_DATASETS_URL"
                )
            out.write(chunk)
