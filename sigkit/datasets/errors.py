"""The exception types of `sigkit.datasets`, and the list shortener their messages share.

Every other module of the package raises or formats these, so they sit below all of them.
"""

from __future__ import annotations

from collections.abc import Sequence


class DatasetError(ValueError):
    """The files on disk cannot become a usable manifest; the message says what to change."""


class DuplicateImagesWarning(UserWarning):
    """Identical image files were found and all but one copy of each were dropped."""


def shortlist(items: Sequence[str], limit: int = 10) -> str:
    """The first `limit` items, comma-separated, and how many there are when some are cut."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
