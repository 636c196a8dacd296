"""One-line errors: a library's exception turned into the short clause they quote, and options
of the wrong type named by their key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of ``err``'s message (its type name when empty), cut to ``limit`` chars."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if limit is None else line[:limit]


def check_option_types(
    group: str, numbers: Mapping[str, Any] | None = None, integers: Mapping[str, Any] | None = None
) -> None:
    """``model.lr=abc`` or ``data.batch_size=abc`` names its key instead of failing later inside
    a comparison. ``None`` passes (an unset optional); ``True`` is not a number."""
    for kind, options, types in (
        ("a number", numbers or {}, (int, float)),
        ("an integer", integers or {}, int),
    ):
        for name, value in options.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
                raise ValueError(f"{group}.{name}={value!r}: must be {kind}")
