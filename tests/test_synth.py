"""The embedded synthetic data set: layout, determinism, re-run shortcut, file forms, and
that it poses a real verification task (skilled forgeries harder than random ones, neither
trivial) without a format leak between genuine and forged files.

`task_metrics(out_dir)` is the naive, honest measure used for the numbers in the report:
Otsu-binarise, crop to the ink box, resize to 64x128, blur, Euclidean distances; EER of
genuine-genuine (same writer) against genuine-skilled (same writer) and against
genuine-other-writer; and the cross-validated AUC of a logistic regression on background-only
cues. Run it by hand on the full set with

    python -c "import sys; sys.path.insert(0, 'tests'); import test_synth as t; t.report('OUT')"
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sigkit import synth
from sigkit.synth import samples  # render_writer looks its steps up there: patch them there

SMALL = dict(n_writers=6, n_genuine=6, n_forged=6, seed=0)


# --------------------------------------------------------------------------------------------
# measuring helpers


def load_gray(src) -> np.ndarray:
    """A path or PIL image in any of the file forms as grey 0..255 float, alpha over white."""
    im = src if isinstance(src, Image.Image) else Image.open(src)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return np.asarray(im.convert("L"), dtype=np.float32)


def _ink_mask(g: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    return g < threshold_otsu(g)


def _shape_vector(g: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    m = _ink_mask(g)
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    crop = m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8) * 255
    small = np.asarray(Image.fromarray(crop).resize((128, 64), Image.BILINEAR), np.float32) / 255
    return gaussian_filter(small, 2.0).ravel()


def _eer(pos: np.ndarray, neg: np.ndarray) -> float:
    """Equal error rate for distances: positives should be small, negatives large."""
    thr = np.unique(np.concatenate([pos, neg]))
    frr = 1 - np.searchsorted(np.sort(pos), thr, side="right") / len(pos)  # pos above thr
    far = np.searchsorted(np.sort(neg), thr, side="right") / len(neg)  # neg at or below thr
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def _files(out: Path):
    pat = re.compile(r"(original|forgeries)_(\d+)_(\d+)\.png$")
    rows = []
    for p in sorted(out.glob("full_*/*.png")):
        m = pat.search(p.name)
        rows.append((p, m.group(1) == "forgeries", int(m.group(2))))
    return rows


def task_metrics(out_dir) -> dict:
    return measure([(Image.open(p), f, w) for p, f, w in _files(Path(out_dir))])


def measure(records) -> dict:
    """records: (PIL image, is_forgery, writer) triples -> EERs and leak AUC."""
    from scipy.ndimage import binary_dilation
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    vecs, forged, writer, cues = [], [], [], []
    modes = sorted(set(synth.FILE_MODES) | {"RGBA"})
    for im, f, w in records:
        g = load_gray(im)
        vecs.append(_shape_vector(g))
        forged.append(f)
        writer.append(w)
        # background only: pixels well away from the ink (dilated mask), and the file's form
        bg = g[~binary_dilation(_ink_mask(g), iterations=4)]
        cues.append([bg.mean(), bg.std(), im.size[0], im.size[1]] + [im.mode == m for m in modes])
    X = np.stack(vecs)
    forged, writer = np.array(forged), np.array(writer)
    sq = (X * X).sum(1)
    D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0))
    gen = ~forged
    same = writer[:, None] == writer[None, :]
    upper = np.triu(np.ones_like(D, bool), 1)
    gg = D[gen[:, None] & gen[None, :] & same & upper]
    gs = D[gen[:, None] & forged[None, :] & same]
    gr = D[gen[:, None] & gen[None, :] & ~same & upper]
    y = forged.astype(int)
    cues = np.asarray(cues, float)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    prob = cross_val_predict(clf, cues, y, cv=cv, method="predict_proba")[:, 1]
    return {
        "skilled_eer": _eer(gg, gs),
        "random_eer": _eer(gg, gr),
        "leak_auc": float(roc_auc_score(y, prob)),
        "n_images": len(records),
    }


def report(out_dir, **params):
    """Generate (or reuse) a set, time it, and print the task measures."""
    t = time.perf_counter()
    synth.generate(out_dir, **params)
    secs = time.perf_counter() - t
    m = task_metrics(out_dir)
    print(f"generate: {secs:.1f} s; {m}")
    return m


# --------------------------------------------------------------------------------------------
# tests


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return synth.generate(tmp_path_factory.mktemp("synth") / "set", **SMALL)


def _digest(out: Path) -> dict:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("full_*/*.png"))
    }


def test_layout_and_counts(small_set):
    org = sorted(p.name for p in (small_set / "full_org").iterdir())
    forg = sorted(p.name for p in (small_set / "full_forg").iterdir())
    assert org == sorted(f"original_{w}_{n}.png" for w in range(1, 7) for n in range(1, 7))
    assert forg == sorted(f"forgeries_{w}_{n}.png" for w in range(1, 7) for n in range(1, 7))
    readme = (small_set / "README.md").read_text()
    assert "seed=0" in readme and synth.GENERATOR_VERSION in readme and "n_writers=6" in readme
    meta = json.loads((small_set / synth.MANIFEST).read_text())
    assert meta["complete"] and meta["n_writers"] == 6 and meta["seed"] == 0


def test_images_load_and_have_ink(small_set):
    for p, _, _ in _files(small_set):
        im = Image.open(p)
        im.load()
        assert max(im.size) <= 400 and min(im.size) >= 60
        g = load_gray(p)
        ink = g < 160
        assert 0.003 < ink.mean() < 0.25, p.name  # some ink, not a blot
        assert np.median(g) > 200, p.name  # light paper


def test_file_modes_mixed_and_class_blind(small_set):
    by_class = {False: Counter(), True: Counter()}
    for p, f, _ in _files(small_set):
        by_class[f][Image.open(p).mode] += 1
    for c in by_class.values():
        assert len(c) >= 2  # several forms in each class
    assert len(by_class[False] | by_class[True]) >= 3
    # the law of the file form does not know the class: draw it many times for each key
    draws = {
        cls: Counter(
            synth._scan_params(synth._rng(0, synth._SCAN, cls, w, n))["mode"] for w in range(40) for n in range(50)
        )
        for cls in (0, 1)
    }
    for m in synth.FILE_MODES:
        a, b = draws[0][m] / 2000, draws[1][m] / 2000
        assert a > 0.05 and abs(a - b) < 0.05, (m, a, b)


def test_transparent_form_keeps_ink_in_alpha():
    rng = np.random.default_rng(0)
    scan = synth._scan_params(rng)
    scan["mode"] = "RGBA-alpha"
    cov = np.zeros((50, 80), np.float32)
    cov[20:25, 10:70] = 1.0
    im = synth._to_file(cov, scan, rng)
    a = np.asarray(im)
    assert im.mode == "RGBA" and a[0, 0, 3] == 0 and a[22, 40, 3] > 200
    assert load_gray_from(im)[22, 40] < 100 and load_gray_from(im)[0, 0] == 255


def load_gray_from(im):
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, im.convert("RGBA")).convert("L"))


def test_deterministic(tmp_path, small_set):
    a = synth.generate(tmp_path / "a", n_writers=2, n_genuine=2, n_forged=2, seed=0)
    b = synth.generate(tmp_path / "b", n_writers=2, n_genuine=2, n_forged=2, seed=0)
    c = synth.generate(tmp_path / "c", n_writers=2, n_genuine=2, n_forged=2, seed=1)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert (a / "README.md").read_bytes() == (b / "README.md").read_bytes()
    assert da.keys() == dc.keys() and not set(da.values()) & set(dc.values())
    # a smaller set is a subset of a larger one with the same seed
    big = _digest(small_set)
    assert all(big[k] == v for k, v in da.items())


def test_same_bytes_with_worker_processes(tmp_path):
    kw = dict(n_writers=3, n_genuine=1, n_forged=2, seed=5)
    one = synth.generate(tmp_path / "one", **kw, processes=1)
    two = synth.generate(tmp_path / "two", **kw, processes=2)
    assert _digest(one) == _digest(two) and len(_digest(one)) == 9


def test_rerun_shortcut_and_overwrite(tmp_path):
    kw = dict(n_writers=2, n_genuine=2, n_forged=1, seed=3)
    out = synth.generate(tmp_path / "s", **kw)
    f = out / "full_org" / "original_1_1.png"
    stamp = f.stat().st_mtime_ns
    t = time.perf_counter()
    assert synth.generate(out, **kw) == out
    assert time.perf_counter() - t < 0.5
    assert f.stat().st_mtime_ns == stamp  # not rewritten
    synth.generate(out, **kw, overwrite=True)
    assert f.stat().st_mtime_ns != stamp
    # other parameters: regenerated, and no stale files of the larger set survive
    synth.generate(out, **{**kw, "n_writers": 1})
    assert not (out / "full_org" / "original_2_1.png").exists()
    assert synth.is_complete(out, **{**kw, "n_writers": 1})
    # an incomplete set (a missing file) is regenerated, not trusted
    f.unlink()
    synth.generate(out, **{**kw, "n_writers": 1})
    assert f.is_file()


def test_refuses_to_clobber_foreign_images(tmp_path):
    org = tmp_path / "real" / "full_org"
    org.mkdir(parents=True)
    Image.new("L", (10, 10), 255).save(org / "original_1_1.png")
    with pytest.raises(FileExistsError):
        synth.generate(tmp_path / "real", n_writers=1, n_genuine=1, n_forged=1)


def test_bad_counts():
    with pytest.raises(ValueError):
        synth.generate("/nonexistent/never", n_writers=0)


def _check_task(m):
    """The bounds of a real task, loose for a 6-writer set (few pairs, noisy estimates)."""
    assert 0.08 < m["skilled_eer"] < 0.45, m  # not trivial, not indistinguishable
    assert m["random_eer"] < m["skilled_eer"] - 0.05, m  # other writers are easier
    assert 0.25 < m["leak_auc"] < 0.75, m  # background cues do not tell the class


def test_real_task_small_set(small_set):
    """Skilled forgeries are harder than random ones; neither trivial nor noise; no leak.

    Measured by hand on the full 30x(24+24) set (seed 0): skilled EER ~0.29, random-forgery
    EER ~0.10, leak AUC ~0.51; the real CEDAR gives 0.44 / 0.29 / 1.00 with this measure.
    """
    m = task_metrics(small_set)
    print(m)
    _check_task(m)


def _records(n_writers=6, n=6, seed=0):
    recs = []
    for w in range(1, n_writers + 1):
        g, f = synth.render_writer(seed, w, n, n)
        recs += [(im, False, w) for im in g] + [(im, True, w) for im in f]
    return recs


def test_task_check_fails_when_forgeries_are_genuine(monkeypatch):
    monkeypatch.setattr(samples, "_forger", lambda plan, rng: (plan, None))
    monkeypatch.setattr(samples, "_forgery", lambda plan, ex, rng: synth._genuine(plan, rng))
    with pytest.raises(AssertionError):
        _check_task(measure(_records()))


def test_task_check_fails_on_noise(monkeypatch):
    """Every image a different random signature: no writer identity left."""
    plan = synth._writer_plan
    monkeypatch.setattr(samples, "_genuine", lambda p, rng, g=synth._genuine: g(plan(rng), rng))
    monkeypatch.setattr(samples, "_forgery", lambda p, ex, rng, g=synth._genuine: g(plan(rng), rng))
    with pytest.raises(AssertionError):
        _check_task(measure(_records()))


def test_leak_check_fails_on_a_format_leak(small_set):
    """If the class decided the file form, the background-cue regression would see it."""
    recs = [
        (Image.fromarray(load_gray(p).astype(np.uint8)).convert("L" if f else "RGB"), f, w)
        for p, f, w in _files(small_set)
    ]
    assert measure(recs)["leak_auc"] > 0.9
