"""A library's exception turned into the short clause our one-line errors quote."""

from __future__ import annotations


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of ``err``'s message (its type name when empty), cut to ``limit`` chars."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if limit is None else line[:limit]
