"""Is it a usable image: open, size-check and fully decode every file once, in threads.

Each file gets a `FileCheck`: its sha1 and size (for duplicates and the manifest), what Pillow
says about it, and either a `problem` (empty, not an image, too small, over `max_pixels`,
truncated, blank page) or the `decode_path` TensorFlow should read. Files TensorFlow cannot decode
(TIFF, the BMPs its decoder rejects, CMYK JPEG) are transcoded here, while the image is open, to a
PNG in the cache folder named by the sha1 of the original, and reused on the next load.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from sigkit.datasets.errors import DatasetError
from sigkit.datasets.ink import SIXTEEN_BIT_MODES, ink_on_white, ink_problem

MIN_SIDE = 8  # smaller than this cannot hold a signature; it is an icon or a placeholder

# Formats TensorFlow decodes itself; anything else goes through the PNG cache. MPO is a JPEG
# with extra pictures appended (some cameras write it), which decode_jpeg reads fine.
_TF_FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF"})
_PNG_MODES = frozenset({"L", "LA", "P", "RGB", "RGBA", "I;16"})


@dataclasses.dataclass(frozen=True)
class FileCheck:
    """What checking one file found; `problem` is "" for a usable image."""

    sha1: str = ""
    file_bytes: int = 0
    format: str = ""
    mode: str = ""
    width: int = 0
    height: int = 0
    decode_path: Path | None = None
    problem: str = ""


def check_files(paths: Sequence[Path], max_pixels: int | None, transcode_dir: Path) -> dict[Path, FileCheck]:
    """A FileCheck per path; usable files in a format TensorFlow lacks land in `transcode_dir`."""
    # Pillow decodes and sha1 hashes without the GIL, so threads scale with the cores.
    workers = max(1, min(16, 2 * (os.cpu_count() or 1), len(paths)))
    with _strict_pillow(), ThreadPoolExecutor(max_workers=workers) as pool:
        checks = pool.map(lambda p: _check_file(p, max_pixels, transcode_dir), paths)
        return dict(zip(paths, checks))


_PILLOW_SETTINGS = threading.Lock()


@contextlib.contextmanager
def _strict_pillow():
    """Pillow settings for the scan, restored afterwards.

    `max_pixels`, checked against the header before decoding, replaces Pillow's global
    decompression-bomb limit (which would only warn below twice its value); truncated files
    must fail even if someone enabled LOAD_TRUNCATED_IMAGES, since TensorFlow would fail later.
    """
    with _PILLOW_SETTINGS:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = None, False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _check_file(path: Path, max_pixels: int | None, transcode_dir: Path) -> FileCheck:
    try:
        data = path.read_bytes()
    except OSError as err:
        return FileCheck(problem=f"cannot read the file ({err}); check its permissions")
    check = FileCheck(sha1=hashlib.sha1(data).hexdigest(), file_bytes=len(data))
    if not data:
        return dataclasses.replace(check, problem="empty file (0 bytes): copy it again from the source or delete it")
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as err:  # Pillow raises many types for unreadable input
        return dataclasses.replace(check, problem=_unreadable_reason(data, err))
    with image:
        width, height = image.size
        check = dataclasses.replace(check, format=image.format or "", mode=image.mode, width=width, height=height)
        problem = _size_problem(width, height, max_pixels) or _decode_problem(image)
        if not problem:
            problem = ink_problem(image)
        if problem:
            return dataclasses.replace(check, problem=problem)
        decode_path = path
        if _needs_transcoding(check.format, check.mode):
            decode_path = _transcode_to_png(image, check.sha1, transcode_dir)
    return dataclasses.replace(check, decode_path=decode_path)


def _unreadable_reason(data: bytes, err: Exception) -> str:
    head = data[:64]
    looks_like_text = all(32 <= b < 127 or b in b"\t\r\n" for b in head)
    what = f"it looks like text, starting {head[:24]!r}" if looks_like_text else str(err)
    return f"not an image Pillow can read ({what}): replace it with the real image file or delete it"


def _size_problem(width: int, height: int, max_pixels: int | None) -> str:
    if width < MIN_SIDE or height < MIN_SIDE:
        return (
            f"image is {width}x{height} pixels, below the {MIN_SIDE}x{MIN_SIDE} minimum: "
            "too small to hold a signature; delete it or replace it with the full scan"
        )
    if max_pixels is not None and width * height > max_pixels:
        return (
            f"image is {width}x{height} = {width * height:,} pixels, over "
            f"max_pixels={max_pixels:,}; refused before decoding: downscale the scan "
            "(signature models need far less than a megapixel) or pass a larger max_pixels"
        )
    return ""


def _decode_problem(image: Image.Image) -> str:
    try:
        image.load()
    except Exception as err:  # truncated streams raise OSError, SyntaxError, ValueError, ...
        return (
            f"cannot be decoded completely ({type(err).__name__}: {err}): the file is "
            "truncated or corrupt; copy it again from the source or delete it"
        )
    return ""


# --------------------------------------------------------------------------------------------
# the PNG cache for formats TensorFlow cannot decode


def default_cache_dir() -> Path:
    """Where transcoded TIFF/BMP files go: `$SIGKIT_CACHE/tiff`, else `~/.cache/sigkit/tiff`."""
    root = os.environ.get("SIGKIT_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "sigkit"
    return base.absolute() / "tiff"


def _needs_transcoding(image_format: str, mode: str) -> bool:
    return image_format not in _TF_FORMATS or mode == "CMYK"


def _transcode_to_png(image: Image.Image, sha1: str, cache_dir: Path) -> Path:
    target = cache_dir / f"{sha1}.png"
    if target.is_file() and target.stat().st_size > 0:
        return target
    # Write under a private name, then rename: a parallel load never reads a half-written PNG.
    partial = cache_dir / f".{sha1}.{os.getpid()}.{threading.get_ident()}.partial"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _png_compatible(image).save(partial, format="PNG")
        os.replace(partial, target)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"cannot write the transcoded PNG {target} ({err}): pass a writable cache_dir= or set SIGKIT_CACHE"
        ) from err
    return target


def _png_compatible(image: Image.Image) -> Image.Image:
    """The same pixels in a mode PNG stores: 8-bit, or 16-bit grey when the source has it."""
    if image.mode in _PNG_MODES:
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        return Image.fromarray(np.asarray(image).astype(np.int64).clip(0, 65535).astype(np.uint16))
    if image.mode in ("1", "F"):
        return Image.fromarray(ink_on_white(image))
    if "A" in image.getbands() or "a" in image.getbands():
        return image.convert("RGBA")
    return image.convert("RGB")
