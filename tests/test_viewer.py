"""The heatmap viewer of notebook 03, headless: it builds, its controls redraw, it falls back to a figure."""

import sys

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import sigkit  # noqa: E402
from sigkit.heatmaps import example_pairs  # noqa: E402
from sigkit.model import tower_for  # noqa: E402
from sigkit.viewer import HeatmapViewer, available_methods, verdict, writer_pairs  # noqa: E402

SIZE = (32, 64)


def tiny_tower(**changes):
    keras.utils.set_random_seed(0)
    config = sigkit.Config().replace(image_size=SIZE, widths=(8, 16), convs_per_block=1, embedding_dim=16, **changes)
    return tower_for(config.model, SIZE)


def test_manifest(writers=("w1", "w2"), genuine=3, forged=2):
    """A test split as the notebook has it (writer, genuine) and uint8 images aligned with its rows:
    a few ink bars (255) on a black background."""
    rows = [(w, True) for w in writers for _ in range(genuine)] + [(w, False) for w in writers for _ in range(forged)]
    manifest = pd.DataFrame(rows, columns=["writer", "genuine"], index=np.arange(100, 100 + len(rows)))
    rng = np.random.default_rng(0)
    images = np.zeros((len(rows), *SIZE, 1), np.uint8)
    for image in images:
        for _ in range(4):
            row, col = rng.integers(2, 26), rng.integers(2, 50)
            image[row : row + rng.integers(2, 6), col : col + rng.integers(4, 14)] = 255
    return manifest, images


test_manifest.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def viewer():
    manifest, images = test_manifest()
    return HeatmapViewer(tiny_tower(), manifest, images, threshold=0.5)


def panel_titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_pairs_alternate_genuine_and_forged_against_one_reference_and_follow_the_seed():
    manifest, _ = test_manifest()
    pairs = writer_pairs(manifest, "w2")
    assert [label for _, _, label in pairs] == ["genuine vs genuine", "genuine vs skilled forgery"] * 2
    assert len({a for a, _, _ in pairs}) == 1
    positions = manifest.reset_index(drop=True)
    assert all(positions["writer"].iloc[[a, b]].eq("w2").all() for a, b, _ in pairs)
    assert [bool(positions["genuine"].iloc[b]) for _, b, _ in pairs] == [True, False, True, False]
    assert writer_pairs(manifest, "w2", seed=3) == writer_pairs(manifest, "w2", seed=3)
    # seed 0: the first two pairs are those of the notebook's static grids
    static = [(a, b) for a, b, title in example_pairs(manifest, 2) if title.startswith("writer w2")]
    assert [(a, b) for a, b, _ in pairs[:2]] == static


def test_the_viewer_builds_with_the_maps_the_tower_has(viewer):
    assert viewer.methods == ["attention", "gradcam"]
    assert viewer.writers == ["w1", "w2"] and viewer.writer == "w1" and viewer.pair == 0
    titles = panel_titles(viewer.figure())
    assert "CBAM attention" in titles and "Grad-CAM (pushes apart)" in titles
    assert "Deletion curve of this pair" in titles


def test_the_widget_has_writer_and_pair_controls_and_a_change_redraws(viewer):
    widgets = pytest.importorskip("ipywidgets")
    box = viewer.widget()
    controls, output = box.children
    writer, pair = controls.children
    assert isinstance(writer, widgets.Dropdown) and isinstance(pair, widgets.Dropdown)
    assert isinstance(output, widgets.Output)
    assert [value for _, value in writer.options] == viewer.writers
    before, title = viewer.redraws, viewer.last_figure.get_suptitle()
    assert "writer w1" in title

    writer.value = "w2"
    assert viewer.redraws == before + 1  # one redraw for one change, not one per control touched
    assert viewer.writer == "w2" and viewer.pair == 0 and pair.value == 0
    assert "writer w2" in viewer.last_figure.get_suptitle()

    pair.value = 1
    assert viewer.redraws == before + 2 and viewer.pair == 1
    assert "skilled forgery" in viewer.last_figure.get_suptitle()

    viewer.select(writer="w1", pair=1)  # and the other way round: a selection in code moves the controls
    assert (writer.value, pair.value) == ("w1", 1)


def test_the_verdict_follows_the_distance_against_the_threshold(viewer):
    viewer.select(writer="w1", pair=1)
    distance = viewer.distance()
    assert viewer.truth() == "forged"
    for threshold, expected in ((distance * 0.5, "forged"), (distance * 2 + 0.1, "genuine")):
        viewer.threshold = threshold
        title = viewer.figure().get_suptitle()
        assert f"verdict {expected}" in title and f"d = {distance:.3f}" in title
        assert ("(right)" in title) == (expected == "forged")
    assert verdict(0.2, 0.3) == "genuine" and verdict(0.4, 0.3) == "forged"
    viewer.threshold = 0.5


def test_the_deletion_curves_start_at_the_pairs_distance(viewer):
    curves = viewer.deletion_curves()
    assert set(curves) == {"attention", "gradcam", "random"}
    assert all(len(curve) == 6 for curve in curves.values())
    np.testing.assert_allclose([curve[0] for curve in curves.values()], viewer.distance(), rtol=1e-4, atol=1e-5)


def test_a_tower_without_cbam_shows_no_attention_and_a_match_tower_its_differences():
    manifest, images = test_manifest(writers=("w1",))
    plain = HeatmapViewer(tiny_tower(attention="none"), manifest, images, threshold=0.5)
    assert plain.methods == ["gradcam"]
    assert "CBAM attention" not in panel_titles(plain.figure())
    assert available_methods(tiny_tower(head="match", match_dim=8, match_pool=4)) == [
        "attention",
        "gradcam",
        "difference",
    ]


def test_show_without_a_frontend_displays_the_static_figure_without_ipywidgets(viewer, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **_: shown.extend(objects))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # importing it now fails
    fresh = HeatmapViewer(viewer.tower, viewer.manifest, viewer.images, threshold=0.5)
    for interactive in (False, None):
        assert fresh.show(interactive=interactive) is None
    assert len(shown) == 2 and all(isinstance(image, IPython.display.Image) for image in shown)
    assert shown[0].data.startswith(b"\x89PNG") and isinstance(fresh.last_figure, Figure)
    assert fresh.redraws == 1 and fresh._widget is None


def test_a_live_frontend_is_a_kernel_a_jupyter_server_started(monkeypatch):
    import IPython

    from sigkit.viewer import has_live_frontend

    class Kernel:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/notebooks/03_evaluation.ipynb")
    pytest.importorskip("ipywidgets")
    assert has_live_frontend()
    monkeypatch.delenv("JPY_SESSION_NAME")  # papermill starts its kernel without one
    assert not has_live_frontend()
