"""Which file is whose: find a dataset folder's image files and read writer and kind from each path.

A layout is a parser from a relative path to (writer, genuine, sample), or None when the path does
not fit it. `detect_layout` tries them from the most specific to the most permissive and keeps the
first that explains more than half of the files; the rest become skips in `load_dataset`. Nothing
here opens a file: that is `checks`. The accepted layouts are listed in the package docstring.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from sigkit.datasets.errors import DatasetError, shortlist

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
_GENUINE_FOLDERS = frozenset({"genuine"})
_FORGED_FOLDERS = frozenset({"forged", "forgeries", "forgery", "forg"})
_IGNORED_FOLDERS = frozenset({"__MACOSX"})


@dataclasses.dataclass(frozen=True)
class Entry:
    """One image file and what its path says about it."""

    path: Path
    writer: str
    genuine: bool
    sample: str


@dataclasses.dataclass(frozen=True)
class Layout:
    """A named path parser, with an example path for the error messages."""

    name: str
    example: str
    parse: Callable[[PurePosixPath], tuple[str, bool, str] | None]
    needs_forgeries: bool = False  # without a forgery folder, "kaggle" would match any folder


_CEDAR_NAME = re.compile(r"^(original|forgeries)_(\d+)_(\d+)$", re.IGNORECASE)
_BHSIG_NAME = re.compile(r"^([A-Z])-S-(\d+)-([GF])-(\d+)$", re.IGNORECASE)


def _parse_cedar(rel: PurePosixPath) -> tuple[str, bool, str] | None:
    match = _CEDAR_NAME.match(rel.stem)
    if match is None or len(rel.parts) < 2:
        return None
    kind, writer, sample = match.groups()
    genuine = kind.lower() == "original"
    expected_folder = "full_org" if genuine else "full_forg"
    if rel.parts[-2].lower() != expected_folder:
        return None
    return writer, genuine, sample


def _parse_bhsig(rel: PurePosixPath) -> tuple[str, bool, str] | None:
    match = _BHSIG_NAME.match(rel.stem)
    if match is None:
        return None
    script, writer, kind, sample = match.groups()
    return f"{script.upper()}-{writer}", kind.upper() == "G", sample


def _parse_generic(rel: PurePosixPath) -> tuple[str, bool, str] | None:
    if len(rel.parts) < 3:
        return None
    folder = rel.parts[-2].lower()
    if folder not in _GENUINE_FOLDERS | _FORGED_FOLDERS:
        return None
    return rel.parts[-3], folder in _GENUINE_FOLDERS, rel.stem


def _parse_kaggle(rel: PurePosixPath) -> tuple[str, bool, str] | None:
    if len(rel.parts) not in (2, 3):
        return None
    folder = rel.parts[-2]
    if folder.lower().endswith("_forg") and len(folder) > len("_forg"):
        return folder[: -len("_forg")], False, rel.stem
    return folder, True, rel.stem


# Most specific first: kaggle reads almost any two-level tree (full_org/ would be a writer), so
# it is only the answer when no stricter layout explains the files.
_LAYOUTS = (
    Layout("cedar", "full_org/original_1_1.png + full_forg/forgeries_1_1.png", _parse_cedar),
    Layout(
        "bhsig",
        "Bengali/001/B-S-1-G-01.tif + Bengali/001/B-S-1-F-01.tif "
        "(Hindi: H-S-...; the Bengali/ or Hindi/ level is optional)",
        _parse_bhsig,
    ),
    Layout("generic", "alice/genuine/01.png + alice/forged/01.png (also forgeries/, forgery/, forg/)", _parse_generic),
    Layout(
        "kaggle",
        "train/001/001_01.png + train/001_forg/0101001.png (the train/ or test/ level is optional)",
        _parse_kaggle,
        needs_forgeries=True,
    ),
)


def dataset_folder(path: str | os.PathLike) -> Path:
    """`path` as an absolute folder, or a DatasetError saying why it is not one."""
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise DatasetError(f"dataset path does not exist: {root}")
    if not root.is_dir():
        raise DatasetError(f"dataset path is a file, not a folder: {root}")
    return root


def image_files(root: Path) -> list[Path]:
    """The image files below `root` in path order, hidden files and __MACOSX/ left out.

    Linked folders are followed, so a folder of links to a corpus reads like the corpus; each
    file keeps the path through the link. A link to a folder that holds it would be walked
    forever and is refused, naming the link.
    """
    images, others = [], 0
    holders = {str(root): frozenset()}  # each folder still to walk: the real paths of those above it
    for folder, subfolders, names in os.walk(root, followlinks=True):
        above = holders.pop(folder) | {os.path.realpath(folder)}
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in _IGNORED_FOLDERS]
        for name in subfolders:
            subfolder = os.path.join(folder, name)
            if os.path.realpath(subfolder) in above:
                raise DatasetError(
                    f"link loop in {root}: {subfolder} links to {os.readlink(subfolder)}, a folder that "
                    "holds it; remove that link or point it at a folder outside the data set"
                )
            holders[subfolder] = above
        for name in names:
            if name.startswith("."):  # ._x.png are macOS resource forks, not images
                continue
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                images.append(Path(folder, name))
            else:
                others += 1
    if not images:
        found = f"{others} file(s) with other extensions" if others else "nothing"
        raise DatasetError(
            f"no image files in {root} (found {found}); expected "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} files in one of these layouts:\n" + _layouts_help()
        )
    return sorted(images, key=str)


def detect_layout(root: Path, files: list[Path]) -> tuple[Layout, list[Entry], list[Path]]:
    """The layout that explains most `files`, their entries, and the files it does not explain."""
    relative = [PurePosixPath(f.relative_to(root).as_posix()) for f in files]
    best: tuple[Layout, list[Entry]] | None = None
    for layout in _LAYOUTS:
        entries = []
        for file, rel in zip(files, relative):
            parsed = layout.parse(rel)
            if parsed is not None:
                entries.append(Entry(file, *parsed))
        if layout.needs_forgeries and all(e.genuine for e in entries):
            continue
        if 2 * len(entries) > len(files):
            matched = {e.path for e in entries}
            unmatched = [f for f in files if f not in matched]
            return layout, entries, unmatched
        if best is None or len(entries) > len(best[1]):
            best = (layout, entries)
    raise DatasetError(_unknown_layout_message(root, relative, best))


def single_top_folder(root: Path, files: list[Path]) -> Path | None:
    """The one folder directly under `root` that holds every image file, or None."""
    tops = {f.relative_to(root).parts[0] for f in files}
    if len(tops) != 1:
        return None
    inner = root / tops.pop()
    return inner if inner.is_dir() else None


def _unknown_layout_message(
    root: Path, relative: list[PurePosixPath], partial: tuple[Layout, list[Entry]] | None
) -> str:
    top_level = sorted({rel.parts[0] for rel in relative if len(rel.parts) > 1})
    examples = ", ".join(str(rel) for rel in relative[:5])
    lines = [
        f"unrecognised signature layout in {root}: found {len(relative)} image file(s), e.g. {examples}",
        "top-level folders: " + (shortlist(top_level) or "(none: the images sit in the folder itself)"),
    ]
    if partial is not None and partial[1]:
        lines.append(f"only {len(partial[1])} of them follow the {partial[0].name} layout")
    lines.append("accepted layouts (one example each):")
    return "\n".join(lines) + "\n" + _layouts_help()


def _layouts_help() -> str:
    return "\n".join(f"  {layout.name:8s} {layout.example}" for layout in _LAYOUTS)


def layout_mismatch_reason(layout: Layout) -> str:
    """The skip reason for a file that the detected layout does not explain."""
    return f"file name does not follow the {layout.name} layout (e.g. {layout.example}); rename or move it"
