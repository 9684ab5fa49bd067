"""Tests for sigkit.datasets: layouts, file checks, the TIFF cache, splits and reference limits.

Every dataset here is a tiny folder drawn with Pillow in tmp_path; only the last test reads the
real CEDAR set, and it skips when that folder is absent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFile

from sigkit.datasets import (
    COLUMNS,
    DatasetError,
    DuplicateImagesWarning,
    default_cache_dir,
    ink_on_white,
    limit_references,
    load_dataset,
    split_writers,
    summarize,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# drawing tiny signatures


def signature(seed: int, size: tuple[int, int] = (64, 32)) -> Image.Image:
    """A light page with a few dark strokes; every seed gives different pixels."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", size, int(rng.integers(230, 250)))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(4):
        points = [(int(rng.integers(2, width - 2)), int(rng.integers(2, height - 2))) for _ in range(4)]
        draw.line(points, fill=int(rng.integers(0, 60)), width=2)
    return image


def save(image: Image.Image, path: Path, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def generic_set(root: Path, writers: dict[str, tuple[int, int]], seed: int = 0) -> Path:
    """<writer>/genuine/g<i>.png and <writer>/forged/f<i>.png, counts per writer."""
    for w, (name, (n_genuine, n_forged)) in enumerate(writers.items()):
        for i in range(n_genuine):
            save(signature(seed + 1000 * w + i), root / name / "genuine" / f"g{i}.png")
        for i in range(n_forged):
            save(signature(seed + 1000 * w + 500 + i), root / name / "forged" / f"f{i}.png")
    return root


def cedar_set(root: Path, writers=(1, 2, 10), samples=(1, 2, 3)) -> Path:
    for w in writers:
        for n in samples:
            save(signature(100 * w + n), root / "full_org" / f"original_{w}_{n}.png")
            save(signature(100 * w + n + 50), root / "full_forg" / f"forgeries_{w}_{n}.png")
    return root


def load_quietly(path: Path, **kwargs) -> pd.DataFrame:
    return load_dataset(path, cache_dir=path.parent / "cache", **kwargs)


# --------------------------------------------------------------------------------------------
# layouts


def test_cedar_layout_rows_columns_and_natural_order(tmp_path):
    root = cedar_set(tmp_path / "cedar")
    manifest = load_quietly(root)

    assert list(manifest.columns) == COLUMNS
    assert list(manifest.index) == list(range(len(manifest)))
    assert (manifest["source"] == "cedar").all()
    # writers in numeric order, genuine before forged, samples in order
    order = list(zip(manifest["writer"], manifest["genuine"], manifest["sample"]))
    expected = [(w, g, s) for w in ("1", "2", "10") for g in (True, False) for s in ("1", "2", "3")]
    assert order == expected
    first = manifest.iloc[0]
    assert first["path"] == str(root / "full_org" / "original_1_1.png")
    assert Path(first["path"]).is_absolute()
    assert first["decode_path"] == first["path"]
    assert (first["format"], first["mode"], first["width"], first["height"]) == ("PNG", "L", 64, 32)
    assert first["file_bytes"] == os.path.getsize(first["path"])
    forged = manifest[~manifest["genuine"]]
    assert all("full_forg" in p for p in forged["path"])
    assert manifest.attrs["skipped"] == []


def test_cedar_name_outside_the_pattern_is_a_skip(tmp_path, caplog):
    root = cedar_set(tmp_path / "cedar")
    stray = save(signature(7), root / "full_org" / "original_1_1 copy.png")
    with caplog.at_level(logging.WARNING, logger="sigkit.datasets"):
        manifest = load_quietly(root)
    assert str(stray) not in set(manifest["path"])
    assert str(stray) in caplog.text and "does not follow the cedar layout" in caplog.text
    with pytest.raises(DatasetError, match="original_1_1 copy.png"):
        load_quietly(root, strict=True)


def test_kaggle_layout_drops_train_test_duplicates_with_one_warning(tmp_path):
    root = tmp_path / "sign_data"
    for i in range(3):
        save(signature(i), root / "train" / "001" / f"001_0{i}.png")
        save(signature(10 + i), root / "train" / "001_forg" / f"0101001_0{i}.png")
        save(signature(20 + i), root / "train" / "049" / f"049_0{i}.png")
        save(signature(30 + i), root / "train" / "049_forg" / f"0201049_0{i}.png")
    # Kaggle's test/ repeats some train images byte for byte and adds a new writer
    for name in ("049/049_00.png", "049/049_01.png", "049_forg/0201049_00.png"):
        (root / "test" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "test" / name).write_bytes((root / "train" / name).read_bytes())
    for i in range(2):
        save(signature(40 + i), root / "test" / "050" / f"050_0{i}.png")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = load_quietly(root)
    duplicate_warnings = [w for w in caught if issubclass(w.category, DuplicateImagesWarning)]
    assert len(duplicate_warnings) == 1
    assert "dropped 3 duplicate" in str(duplicate_warnings[0].message)

    assert (manifest["source"] == "kaggle").all()
    assert sorted(manifest["writer"].unique()) == ["001", "049", "050"]
    assert len(manifest) == 12 + 2  # 17 files on disk: 12 train images, 3 copies, 2 new
    hashes = [hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in manifest["path"]]
    assert len(set(hashes)) == len(hashes)
    # the first copy in sorted path order (test/ < train/) is the one kept
    assert str(root / "test" / "049" / "049_00.png") in set(manifest["path"])
    assert str(root / "train" / "049" / "049_00.png") not in set(manifest["path"])
    dropped = {s["path"] for s in manifest.attrs["skipped"]}
    assert str(root / "train" / "049_forg" / "0201049_00.png") in dropped
    forged = manifest[~manifest["genuine"]]
    assert set(forged["writer"]) == {"001", "049"}
    assert set(manifest.loc[manifest["writer"] == "049", "sample"]) >= {"049_00", "0201049_00"}


def test_kaggle_layout_without_split_folders(tmp_path):
    root = tmp_path / "kaggle"
    for i in range(2):
        save(signature(i), root / "049" / f"049_0{i}.PNG")
        save(signature(5 + i), root / "049_forg" / f"0201049_0{i}.png")
    manifest = load_quietly(root)
    assert (manifest["source"] == "kaggle").all()
    assert manifest["genuine"].tolist() == [True, True, False, False]
    assert set(manifest["writer"]) == {"049"}


def test_same_stem_with_different_bytes_gets_distinct_sample_ids(tmp_path):
    root = tmp_path / "kaggle"
    for split, seed in (("train", 0), ("test", 1)):
        save(signature(seed), root / split / "003" / "a.png")
        save(signature(seed + 10), root / split / "003" / f"b_{split}.png")
        save(signature(seed + 20), root / split / "003_forg" / f"f_{split}.png")
    manifest = load_quietly(root)
    genuine_samples = manifest.loc[manifest["genuine"], "sample"].tolist()
    assert "train/003/a" in genuine_samples and "test/003/a" in genuine_samples
    assert "b_test" in genuine_samples
    assert not manifest.duplicated(["writer", "genuine", "sample"]).any()


def test_bhsig_layout_keeps_scripts_apart_and_transcodes_tiff(tmp_path):
    root = tmp_path / "BHSig260"
    seed = 0
    for script, prefix in (("Bengali", "B"), ("Hindi", "H")):
        for kind in ("G", "F"):
            for n in (1, 2):
                seed += 1
                save(signature(seed), root / script / "001" / f"{prefix}-S-1-{kind}-0{n}.tif")
    cache = tmp_path / "tiff-cache"
    manifest = load_dataset(root, cache_dir=cache)

    assert (manifest["source"] == "bhsig").all()
    assert sorted(manifest["writer"].unique()) == ["B-1", "H-1"]
    assert manifest.groupby("writer")["genuine"].sum().tolist() == [2, 2]
    assert set(manifest["sample"]) == {"01", "02"}
    assert (manifest["format"] == "TIFF").all()
    for row in manifest.itertuples():
        decoded = Path(row.decode_path)
        assert decoded.parent == cache and decoded.suffix == ".png"
        assert decoded.stem == hashlib.sha1(Path(row.path).read_bytes()).hexdigest()
        with Image.open(decoded) as png, Image.open(row.path) as tif:
            assert png.format == "PNG"
            assert np.array_equal(np.asarray(png), np.asarray(tif))


def test_generic_layout_with_mixed_case_extensions_and_folders(tmp_path):
    root = tmp_path / "mine"
    save(signature(1), root / "alice" / "genuine" / "a1.PNG")
    save(signature(2), root / "alice" / "Genuine" / "a2.Jpg", quality=95)
    save(signature(3), root / "alice" / "Forgeries" / "x1.jpeg", quality=95)
    save(signature(4), root / "bob" / "genuine" / "b1.Png")
    save(signature(5), root / "bob" / "genuine" / "b2.TIF")
    save(signature(6).convert("RGB"), root / "bob" / "forg" / "y1.BMP")
    save(signature(7), root / "bob" / "FORGERY" / "y2.tiff")
    (root / "notes.txt").write_text("scanned at 300 dpi")
    (root / "bob" / "genuine" / ".DS_Store").write_bytes(b"\x00\x01")

    manifest = load_dataset(root, cache_dir=tmp_path / "cache")

    assert (manifest["source"] == "generic").all()
    rows = {(r.writer, r.genuine, r.sample) for r in manifest.itertuples()}
    assert rows == {
        ("alice", True, "a1"),
        ("alice", True, "a2"),
        ("alice", False, "x1"),
        ("bob", True, "b1"),
        ("bob", True, "b2"),
        ("bob", False, "y1"),
        ("bob", False, "y2"),
    }
    formats = dict(zip(manifest["sample"], manifest["format"]))
    assert formats == {"a1": "PNG", "a2": "JPEG", "x1": "JPEG", "b1": "PNG", "b2": "TIFF", "y1": "BMP", "y2": "TIFF"}
    transcoded = manifest[manifest["decode_path"] != manifest["path"]]
    assert sorted(transcoded["sample"]) == ["b2", "y1", "y2"]
    assert manifest.attrs["skipped"] == []


def test_unknown_layout_error_says_what_was_found_and_what_is_accepted(tmp_path):
    root = tmp_path / "scans"
    for i in range(3):
        save(signature(i), root / f"scan{i}.png")
    save(signature(9), root / "misc" / "other.png")
    with pytest.raises(DatasetError) as error:
        load_quietly(root)
    message = str(error.value)
    assert "4 image file(s)" in message
    assert "scan0.png" in message and "misc" in message
    for layout, example in (
        ("cedar", "full_org/original_1_1.png"),
        ("kaggle", "001_forg/"),
        ("bhsig", "B-S-1-G-01.tif"),
        ("generic", "alice/genuine/"),
    ):
        assert layout in message and example in message


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match="does not exist.*nowhere"):
        load_dataset(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images yet")
    with pytest.raises(DatasetError, match=r"no image files in .*empty \(found 1 file"):
        load_dataset(empty)


# --------------------------------------------------------------------------------------------
# file checks


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _truncated_png(path: Path) -> None:
    save(signature(77, size=(200, 100)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _text_as_png(path: Path) -> None:
    path.write_text("<html><body>404 Not Found</body></html>\n")


def _blank_page(path: Path) -> None:
    save(Image.new("L", (120, 60), 242), path)


def _noisy_blank_scan(path: Path) -> None:
    # sigma-8 scanner noise: its 0.5..99.5 percentile range is ~40 grey levels, yet no ink
    noise = np.random.default_rng(0).normal(235, 8, (120, 240)).clip(0, 255).astype(np.uint8)
    save(Image.fromarray(noise), path)


def _transparent_page(path: Path) -> None:
    save(Image.new("RGBA", (60, 30), (0, 0, 0, 0)), path)


def _one_pixel(path: Path) -> None:
    save(Image.new("L", (1, 1), 0), path)


def _thin_strip(path: Path) -> None:
    save(Image.new("L", (200, 5), 0), path)


BAD_FILES = [
    pytest.param(_zero_bytes, "empty file (0 bytes)", id="zero-byte"),
    pytest.param(_truncated_png, "truncated", id="truncated-png"),
    pytest.param(_text_as_png, "looks like text", id="text-as-png"),
    pytest.param(_blank_page, "blank page", id="blank-page"),
    pytest.param(_noisy_blank_scan, "blank page", id="noisy-blank-scan"),
    pytest.param(_transparent_page, "blank page", id="transparent-page"),
    pytest.param(_one_pixel, "1x1 pixels", id="1x1"),
    pytest.param(_thin_strip, "200x5 pixels", id="thinner-than-8"),
]


@pytest.mark.parametrize("make_bad, reason", BAD_FILES)
def test_bad_file_is_a_logged_skip(tmp_path, caplog, make_bad, reason):
    root = generic_set(tmp_path / "set", {"alice": (3, 1), "bob": (2, 1)})
    bad = root / "alice" / "genuine" / "bad.png"
    make_bad(bad)

    with caplog.at_level(logging.WARNING, logger="sigkit.datasets"):
        manifest = load_quietly(root)

    assert str(bad) not in set(manifest["path"])
    assert len(manifest) == 7
    assert [s["path"] for s in manifest.attrs["skipped"]] == [str(bad)]
    assert reason in manifest.attrs["skipped"][0]["reason"]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(logged) == 1 and str(bad) in logged[0] and reason in logged[0]


@pytest.mark.parametrize("make_bad, reason", BAD_FILES)
def test_bad_file_is_an_error_when_strict(tmp_path, make_bad, reason):
    root = generic_set(tmp_path / "set", {"alice": (3, 1), "bob": (2, 1)})
    bad = root / "alice" / "genuine" / "bad.png"
    make_bad(bad)
    with pytest.raises(DatasetError) as error:
        load_quietly(root, strict=True)
    assert str(bad) in str(error.value) and reason in str(error.value)


def test_max_pixels_refuses_from_the_header(tmp_path, caplog):
    root = generic_set(tmp_path / "set", {"alice": (3, 0)})
    big = save(signature(3, size=(100, 60)), root / "alice" / "genuine" / "big.png")
    with caplog.at_level(logging.WARNING, logger="sigkit.datasets"):
        manifest = load_quietly(root, max_pixels=5999)
    assert str(big) not in set(manifest["path"]) and len(manifest) == 3
    assert "100x60 = 6,000 pixels, over max_pixels=5,999" in caplog.text
    assert str(big) in set(load_quietly(root, max_pixels=6000)["path"])
    with pytest.raises(DatasetError, match="big.png.*max_pixels=5,999"):
        load_quietly(root, max_pixels=5999, strict=True)


def test_default_max_pixels_refuses_a_real_56_megapixel_png_before_decoding(tmp_path, caplog):
    root = generic_set(tmp_path / "set", {"alice": (2, 1)})
    huge = root / "alice" / "genuine" / "huge.png"
    save(Image.new("1", (8000, 7000), 1), huge)  # 56 MP, but a 1-bit blank PNG is ~20 kB
    header_only = root / "alice" / "genuine" / "huge_header_only.png"
    header_only.write_bytes(huge.read_bytes()[:100])  # decoding this would fail as truncated
    pillow_settings = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES

    with caplog.at_level(logging.WARNING, logger="sigkit.datasets"):
        manifest = load_quietly(root)

    reasons = {s["path"]: s["reason"] for s in manifest.attrs["skipped"]}
    for path in (huge, header_only):
        assert "8000x7000 = 56,000,000 pixels, over max_pixels=50,000,000" in reasons[str(path)]
    assert "truncated" not in caplog.text
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == pillow_settings
    assert len(manifest) == 3


def test_truncated_png_fails_even_if_pillow_was_told_to_accept_truncation(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    root = generic_set(tmp_path / "set", {"alice": (3, 1)})
    _truncated_png(root / "alice" / "genuine" / "cut.png")
    manifest = load_quietly(root)
    assert [Path(s["path"]).name for s in manifest.attrs["skipped"]] == ["cut.png"]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def _sixteen_bit(path: Path) -> None:
    pixels = np.full((40, 80), 60_000, np.uint16)
    pixels[10:14, 5:70] = 4_000
    save(Image.fromarray(pixels), path)


def _alpha_ink(colour: int):
    def make(path: Path) -> None:
        image = Image.new("RGBA", (80, 40), (colour, colour, colour, 0))
        ImageDraw.Draw(image).line([(5, 30), (40, 5), (75, 30)], fill=(colour,) * 3 + (255,), width=3)
        save(image, path)

    return make


def _palette(path: Path) -> None:
    save(signature(11, size=(80, 40)).convert("P"), path)


def _grey_with_alpha(path: Path) -> None:
    image = Image.new("LA", (80, 40), (255, 255))
    ImageDraw.Draw(image).line([(5, 5), (75, 35)], fill=(0, 255), width=3)
    save(image, path)


@pytest.mark.parametrize(
    "make_image, mode",
    [
        pytest.param(_sixteen_bit, "I;16", id="16-bit"),
        pytest.param(_alpha_ink(0), "RGBA", id="black-rgb-alpha-ink"),
        pytest.param(_alpha_ink(255), "RGBA", id="white-rgb-alpha-ink"),
        pytest.param(_palette, "P", id="palette"),
        pytest.param(_grey_with_alpha, "LA", id="LA"),
    ],
)
def test_unusual_but_valid_images_are_accepted(tmp_path, make_image, mode):
    root = generic_set(tmp_path / "set", {"alice": (2, 1)})
    special = root / "alice" / "genuine" / "special.png"
    make_image(special)
    manifest = load_quietly(root, strict=True)
    row = manifest[manifest["path"] == str(special)]
    assert len(row) == 1
    assert row["mode"].item() == mode
    assert row["decode_path"].item() == str(special)
    with Image.open(special) as image:
        image.load()
        grey = ink_on_white(image)
    assert grey.dtype == np.uint8 and grey.shape == (40, 80)
    assert grey.min() < 80 and np.median(grey) > 200  # dark ink on a light page


def _faint_strokes(depth: int, shaded: bool = True) -> Image.Image:
    """Paper around grey 225 (shaded and slightly noisy, or flat) with strokes `depth` darker."""
    rng = np.random.default_rng(1)
    shade = np.linspace(-3, 3, 240)[None, :] + rng.normal(0, 1.0, (120, 240))
    shade = shade if shaded else np.zeros_like(shade)
    ink = np.zeros((120, 240), bool)
    ink[40:44, 20:220] = ink[20:100, 60:63] = ink[30:90, 150:154] = True
    pixels = 225 + shade - depth * ink
    return Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8))


def test_faint_ink_is_a_signature_but_a_faint_smudge_is_blank(tmp_path):
    root = generic_set(tmp_path / "set", {"alice": (2, 1)})
    faint = save(_faint_strokes(21).quantize(8), root / "alice" / "genuine" / "faint.png")
    smudge = save(_faint_strokes(5), root / "alice" / "genuine" / "smudge.png")
    flat_smudge = save(_faint_strokes(8, shaded=False), root / "alice" / "genuine" / "flat.png")
    manifest = load_quietly(root)
    assert str(faint) in set(manifest["path"])
    skipped = manifest.attrs["skipped"]
    assert sorted(s["path"] for s in skipped) == sorted([str(smudge), str(flat_smudge)])
    assert all("blank page" in s["reason"] for s in skipped)


def test_writer_with_too_few_genuine_samples_is_skipped(tmp_path, caplog):
    root = generic_set(tmp_path / "set", {"alice": (3, 1), "bob": (1, 2), "carol": (2, 1)})
    _zero_bytes(root / "carol" / "genuine" / "g1.png")  # leaves carol with one genuine

    with caplog.at_level(logging.WARNING, logger="sigkit.datasets"):
        manifest = load_quietly(root)

    assert set(manifest["writer"]) == {"alice"}
    assert "writer 'bob' has 1 genuine sample(s)" in caplog.text
    assert "writer 'carol' has 1 genuine sample(s)" in caplog.text
    skipped = {Path(s["path"]).relative_to(root).as_posix() for s in manifest.attrs["skipped"]}
    assert {"bob/genuine/g0.png", "bob/forged/f0.png", "bob/forged/f1.png", "carol/genuine/g1.png"} <= skipped
    assert len(load_quietly(root, min_genuine=1)) == 4 + 3 + 2

    save(signature(5), root / "carol" / "genuine" / "g1.png")
    with pytest.raises(DatasetError, match="'bob' has 1 genuine"):
        load_quietly(root, strict=True)
    relaxed = load_quietly(root, strict=True, min_genuine=1)
    assert set(relaxed["writer"]) == {"alice", "bob", "carol"}
    with pytest.raises(DatasetError, match="no usable images"):
        load_quietly(root, min_genuine=4)


# --------------------------------------------------------------------------------------------
# the TIFF cache


def test_tiff_cache_keeps_16_bits_and_is_reused(tmp_path):
    root = generic_set(tmp_path / "set", {"alice": (2, 1)})
    pixels = np.full((30, 60), 50_000, np.uint16)
    pixels[5:25, 20:23] = 1_000
    tiff = save(Image.fromarray(pixels), root / "alice" / "genuine" / "deep.tif")
    cache = tmp_path / "cache"

    first = load_dataset(root, cache_dir=cache)
    png = Path(first.loc[first["path"] == str(tiff), "decode_path"].item())
    with Image.open(png) as image:
        assert (image.format, image.mode) == ("PNG", "I;16")
        assert np.array_equal(np.asarray(image), pixels)
    stamp = png.stat().st_mtime_ns

    second = load_dataset(root, cache_dir=cache)
    assert second["decode_path"].tolist() == first["decode_path"].tolist()
    assert png.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in cache.iterdir()) == [png.name]


def test_cache_dir_defaults_to_sigkit_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGKIT_CACHE", str(tmp_path / "kit-cache"))
    assert default_cache_dir() == tmp_path / "kit-cache" / "tiff"
    root = generic_set(tmp_path / "set", {"alice": (2, 1)})
    save(signature(99), root / "alice" / "forged" / "scan.tiff")
    manifest = load_dataset(root)
    decode = Path(manifest.loc[manifest["sample"] == "scan", "decode_path"].item())
    assert decode.parent == tmp_path / "kit-cache" / "tiff" and decode.is_file()
    monkeypatch.delenv("SIGKIT_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "sigkit" / "tiff"


# --------------------------------------------------------------------------------------------
# splits, reference limits, summary (on a synthetic manifest: no files needed)


def fake_manifest(n_writers: int = 20, n_genuine: int = 6, n_forged: int = 3, pad: int = 0) -> pd.DataFrame:
    rows = []
    for w in range(1, n_writers + 1):
        writer = str(w).zfill(pad)
        for genuine, count in ((True, n_genuine), (False, n_forged)):
            for s in range(1, count + 1):
                kind = "g" if genuine else "f"
                rows.append(
                    {"path": f"/d/{writer}/{kind}{s}.png", "writer": writer, "genuine": genuine, "sample": str(s)}
                )
    return pd.DataFrame(rows)


def writer_sets(splits: dict[str, pd.DataFrame]) -> dict[str, set[str]]:
    return {name: set(part["writer"]) for name, part in splits.items()}


def test_random_split_is_writer_disjoint_complete_and_sized():
    manifest = fake_manifest(20)
    splits = split_writers(manifest, val=0.15, test=0.15, seed=0)
    sets = writer_sets(splits)
    assert list(splits) == ["train", "val", "test"]
    assert [len(sets[k]) for k in ("train", "val", "test")] == [14, 3, 3]
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == set(manifest["writer"])
    assert sum(len(part) for part in splits.values()) == len(manifest)
    assert all(list(part.index) == list(range(len(part))) for part in splits.values())

    counted = writer_sets(split_writers(manifest, val=2, test=5, seed=0))
    assert (len(counted["val"]), len(counted["test"])) == (2, 5)
    no_val = split_writers(manifest, val=0, test=4)
    assert no_val["val"].empty and len(set(no_val["test"]["writer"])) == 4


def test_random_split_is_deterministic_per_seed():
    manifest = fake_manifest(20)
    first = writer_sets(split_writers(manifest, seed=3))
    assert first == writer_sets(split_writers(manifest, seed=3))
    assert first != writer_sets(split_writers(manifest, seed=4))


def test_explicit_writer_lists_override_and_drop_the_rest():
    manifest = fake_manifest(12)
    splits = split_writers(manifest, train_writers=range(1, 7), val_writers=["7", 8], test_writers=[9, "10"])
    assert writer_sets(splits) == {"train": {"1", "2", "3", "4", "5", "6"}, "val": {"7", "8"}, "test": {"9", "10"}}
    only_test = split_writers(manifest, test_writers=[1])
    assert only_test["train"].empty and set(only_test["test"]["writer"]) == {"1"}


def test_explicit_numbers_match_zero_padded_writer_ids():
    manifest = fake_manifest(5, pad=3)
    splits = split_writers(manifest, train_writers=[1, 2, 3], val_writers=["004"], test_writers=[5])
    assert writer_sets(splits) == {"train": {"001", "002", "003"}, "val": {"004"}, "test": {"005"}}


def test_explicit_split_errors_name_the_writers():
    manifest = fake_manifest(5)
    with pytest.raises(DatasetError, match=r"unknown writer id\(s\) in test_writers: 77, ghost"):
        split_writers(manifest, train_writers=[1, 2], test_writers=[77, "ghost"])
    with pytest.raises(DatasetError, match=r"'2' \(train and val\)"):
        split_writers(manifest, train_writers=[1, 2], val_writers=[2])


def test_too_few_writers_for_three_splits_is_a_clear_error():
    with pytest.raises(DatasetError, match="cannot split 2 writer"):
        split_writers(fake_manifest(2), val=0.15, test=0.15)
    three = writer_sets(split_writers(fake_manifest(3), val=0.15, test=0.15))
    assert [len(three[k]) for k in ("train", "val", "test")] == [1, 1, 1]
    with pytest.raises(ValueError, match="fraction must be in"):
        split_writers(fake_manifest(10), val=1.5)


def test_limit_references_caps_genuine_and_keeps_forgeries():
    manifest = fake_manifest(4, n_genuine=6, n_forged=3)
    manifest = manifest[
        ~((manifest["writer"] == "4") & manifest["genuine"] & (manifest["sample"].astype(int) > 2))
    ]  # writer 4 has only 2
    limited = limit_references(manifest, 3, seed=0)
    genuine_counts = limited[limited["genuine"]].groupby("writer").size().to_dict()
    assert genuine_counts == {"1": 3, "2": 3, "3": 3, "4": 2}
    pd.testing.assert_frame_equal(
        limited[~limited["genuine"]].reset_index(drop=True), manifest[~manifest["genuine"]].reset_index(drop=True)
    )
    assert set(limited["path"]) <= set(manifest["path"])
    assert list(limited.index) == list(range(len(limited)))


def test_limit_references_is_deterministic_and_independent_of_other_writers():
    manifest = fake_manifest(6, n_genuine=12)
    first = limit_references(manifest, 4, seed=1)
    assert first.equals(limit_references(manifest, 4, seed=1))
    assert not first.equals(limit_references(manifest, 4, seed=2))
    one_writer = manifest[manifest["writer"] == "3"]
    assert set(limit_references(one_writer, 4, seed=1)["path"]) == set(first.loc[first["writer"] == "3", "path"])
    assert limit_references(manifest, None) is manifest
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            limit_references(manifest, bad)


def test_summarize_counts_per_writer_in_natural_order():
    manifest = fake_manifest(11, n_genuine=4, n_forged=2)
    manifest = manifest[~((manifest["writer"] == "10") & ~manifest["genuine"])]
    summary = summarize(manifest)
    assert list(summary.index)[:3] == ["1", "2", "3"] and list(summary.index)[-2:] == ["10", "11"]
    assert list(summary.columns) == ["genuine", "forged"]
    assert summary.loc["10"].tolist() == [4, 0] and summary.loc["1"].tolist() == [4, 2]


# --------------------------------------------------------------------------------------------
# the real CEDAR set


def cedar_path() -> Path:
    from sigkit.paths import cedar_path as found

    return found() or Path("no-cedar-here")


@pytest.mark.slow
@pytest.mark.cedar
def test_real_cedar_set_loads_completely():
    root = cedar_path()
    if not (root / "full_org").is_dir():
        pytest.skip(f"CEDAR not found at {root} (set SIGKIT_DATA to the folder of corpora, or SIGKIT_CEDAR)")
    manifest = load_dataset(root, strict=True)
    assert manifest["writer"].nunique() == 55
    assert int(manifest["genuine"].sum()) == 1320
    assert int((~manifest["genuine"]).sum()) == 1320
    assert (summarize(manifest) == 24).all().all()
    benchmark = split_writers(
        manifest, train_writers=range(1, 36), val_writers=range(36, 46), test_writers=range(46, 56)
    )
    assert [part["writer"].nunique() for part in benchmark.values()] == [35, 10, 10]


def test_splits_for_a_config_and_rows_in_the_manifest():
    from sigkit.datasets import rows_in, splits_for
    from sigkit.datasets.splits import SplitConfig

    rows = [
        {"path": f"/x/{w}_{i}_{g}.png", "writer": str(w), "genuine": g, "sample": str(i)}
        for w in range(10)
        for i in range(6)
        for g in (True, False)
    ]
    manifest = pd.DataFrame(rows)
    splits = splits_for(manifest, SplitConfig(val_writers=2, test_writers=2, references_per_writer=4), seed=3)
    assert [splits[n]["writer"].nunique() for n in ("train", "val", "test")] == [6, 2, 2]
    assert (splits["train"][splits["train"]["genuine"]].groupby("writer").size() == 4).all()
    assert (splits["val"][splits["val"]["genuine"]].groupby("writer").size() == 6).all()  # only train is capped
    positions = rows_in(manifest, splits["test"])
    assert (manifest["path"].to_numpy()[positions] == splits["test"]["path"].to_numpy()).all()
    with pytest.raises(DatasetError, match="not in the manifest"):
        rows_in(splits["test"], manifest)
