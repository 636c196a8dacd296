"""``index.html`` beside translated images: input and output side by side, as the reference's
results page (util/html.py), with relative links so the folder can be moved or zipped."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cyclegan_lit.atomic_files import atomic_write


@dataclass(frozen=True)
class IndexRow:
    name: str  # the input's path relative to the input root
    input_file: Path
    output_file: Path
    size: tuple[int, int]  # width, height


def write_index(
    output_dir: Path, rows: Sequence[IndexRow], title: str, skipped: Sequence[str] = ()
) -> Path:
    """Write ``<output_dir>/index.html`` (atomically) and return its path."""
    esc = html.escape
    lines = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif}h1{font-size:1.2em}td{padding:4px;vertical-align:top;text-align:center}"
        "img{image-rendering:pixelated}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{len(rows)} images translated"
        + (f", {len(skipped)} skipped (unreadable)" if skipped else "")
        + ".</p>",
        "<table><tr><th>file</th><th>input</th><th>output</th></tr>",
    ]
    for row in rows:
        src = _relative(row.input_file, output_dir)
        dst = _relative(row.output_file, output_dir)
        width, height = row.size
        # small images shown enlarged, large ones reduced: 128 to 384 px wide on the page
        shown = f'width="{min(384, max(128, width))}"'
        lines.append(
            f"<tr><td>{esc(row.name)}<br>{width}×{height}</td>"
            f'<td><a href="{esc(src)}"><img src="{esc(src)}" {shown} alt="input"></a></td>'
            f'<td><a href="{esc(dst)}"><img src="{esc(dst)}" {shown} alt="output"></a></td></tr>'
        )
    lines.append("</table>")
    if skipped:
        lines.append("<h2>Skipped</h2><ul>")
        lines += [f"<li>{esc(reason)}</li>" for reason in skipped]
        lines.append("</ul>")
    lines.append("</body></html>")
    page = ("\n".join(lines) + "\n").encode("utf-8")
    return atomic_write(output_dir / "index.html", lambda file: file.write(page))


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()
