"""`cyclegan-data`: list, download and verify the standard CycleGAN datasets.

    cyclegan-data list [--data-dir data]
    cyclegan-data download horse2zebra [monet2photo ...] [--data-dir data] [--base-url URL]
    cyclegan-data verify horse2zebra [--data-dir data]

Failures print one line and exit 1; a download cut short resumes on the next run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cyclegan_lit.cli.errors import USER_ERRORS
from cyclegan_lit.data.download import (
    COMPLETE_MARKER,
    dataset_dir,
    ensure_dataset,
    is_dataset_ready,
    verify_download,
)
from cyclegan_lit.data.registry import BASE_URL_ENV, STANDARD_DATASETS, get_spec

PROG = "cyclegan-data"


def _size(num_bytes: int | None) -> str:
    return "?" if num_bytes is None else f"{num_bytes / 1e6:,.0f} MB"


def _list(args: argparse.Namespace) -> None:
    print(f"{'name':<24} {'zip size':>10}  {'status':<10}  description")
    for spec in STANDARD_DATASETS.values():
        path = dataset_dir(spec.name, args.data_dir)
        if (path / COMPLETE_MARKER).is_file():
            status = "ready"
        else:
            status = "by hand" if is_dataset_ready(path) else "-"
        print(f"{spec.name:<24} {_size(spec.num_bytes):>10}  {status:<10}  {spec.description}")
    print(f"(status under {Path(args.data_dir).resolve()}; cityscapes must be prepared by hand)")


def _download(args: argparse.Namespace) -> None:
    specs = [get_spec(name) for name in args.names]  # reject a typo before any download starts
    for spec in specs:
        path = ensure_dataset(
            spec.name,
            args.data_dir,
            base_url=args.base_url,
            progress=not args.no_progress,
            retries=args.retries,
        )
        print(f"{spec.name}: ready at {path}")


def _verify(args: argparse.Namespace) -> None:
    for name in args.names:
        spec = get_spec(name)
        digest = verify_download(name, args.data_dir)
        checked = "matches the published checksum" if spec.sha256 else "no published checksum"
        marker = dataset_dir(name, args.data_dir) / COMPLETE_MARKER
        unpacked = "unpacked" if marker.is_file() else "not unpacked yet"
        print(f"{name}: zip OK, sha256 {digest} ({checked}); dataset {unpacked}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "--data-dir", default="data", help="folder holding the datasets (default: data)"
        )
        return sub

    command("list", "list the standard datasets and which are downloaded").set_defaults(run=_list)
    download = command("download", "download, check and unpack datasets")
    download.add_argument("names", nargs="+", metavar="NAME")
    download.add_argument(
        "--base-url",
        default=None,
        help=f"mirror to download from (default: ${BASE_URL_ENV} or the Berkeley server)",
    )
    download.add_argument("--retries", type=int, default=4, help="retries per file (default: 4)")
    download.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    download.set_defaults(run=_download)
    verify = command("verify", "re-hash the kept zip of downloaded datasets")
    verify.add_argument("names", nargs="+", metavar="NAME")
    verify.set_defaults(run=_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 on success, 1 with a one-line error)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; a partial download resumes on the next run", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
