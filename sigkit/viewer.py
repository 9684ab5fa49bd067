"""An interactive look at one test pair at a time: the maps, the decision and how faithful the maps are.

The static grids of notebook 03 show a couple of fixed pairs. `HeatmapViewer` lets a reader pick
any test writer and any of its pairs (genuine against genuine, genuine against a skilled
forgery) and see, for that one pair,

- both signatures with every map the tower has (CBAM attention, Grad-CAM of the distance, and a
  comparison tower's cell differences) side by side,
- the pair's distance, the single-pair threshold chosen on the validation writers, the verdict
  that gives and the truth, so a map can be read next to a right or a wrong decision,
- the pair's deletion curve: the distance as the ink of the first signature is blanked in each
  map's order, against random ink, with the threshold drawn in (where a curve crosses it, the
  ink blanked so far decided the pair).

`show()` displays the widget in a live Jupyter frontend and the static figure of the first pair
elsewhere (papermill, a plain script), so an executed report keeps a picture, not a dead widget.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sigkit import heatmaps
from sigkit.matching import match_layer
from sigkit.model import ensemble_members

METHOD_TITLES = {
    "attention": "CBAM attention",
    "gradcam": "Grad-CAM (pushes apart)",
    "difference": "where the pair differs",
}
# the fractions of the notebook's deletion test: one batched tower pass per curve, cheap enough to redraw
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
RANDOM_ORDERS = 3


def available_methods(tower) -> list[str]:
    """The maps `tower` can give: attention with CBAM (in any ensemble member), Grad-CAM always,
    cell differences with a match head."""
    methods = []
    if any(heatmaps.cbam_layers(member) for member in ensemble_members(tower)):
        methods.append("attention")
    methods.append("gradcam")
    if match_layer(tower) is not None:
        methods.append("difference")
    return methods


def writer_pairs(manifest: pd.DataFrame, writer, per_kind: int = 4, seed: int = 0) -> list[tuple[int, int, str]]:
    """(row a, row b, label) pairs of one writer, genuine-genuine and genuine-forgery in turn, all
    against the same first genuine signature so that the pairs of a writer differ in b only.

    Rows are positions in `manifest`. With `seed` 0 the signatures are taken in manifest order, so
    the first two pairs are those of `heatmaps.example_pairs` (the notebook's static grids);
    otherwise each writer's are drawn at random, reproducibly."""
    manifest = manifest.reset_index(drop=True)
    mine = manifest["writer"] == writer
    genuine = manifest.index[mine & manifest["genuine"]].to_numpy()
    forged = manifest.index[mine & ~manifest["genuine"]].to_numpy()
    if seed:
        # one stream per writer: a writer's pairs do not depend on which writers come before it
        writers = sorted(manifest["writer"].unique())
        rng = np.random.default_rng([seed, writers.index(writer)])
        genuine, forged = genuine[rng.permutation(len(genuine))], forged[rng.permutation(len(forged))]
    if not len(genuine):
        return []
    same = [(int(genuine[0]), int(b), "genuine vs genuine") for b in genuine[1 : per_kind + 1]]
    other = [(int(genuine[0]), int(b), "genuine vs skilled forgery") for b in forged[:per_kind]]
    pairs = []
    for i in range(max(len(same), len(other))):
        pairs += same[i : i + 1] + other[i : i + 1]
    return pairs


def verdict(distance: float, threshold: float) -> str:
    """The single-pair decision: genuine at or below the threshold (as `sigkit.metrics.at_threshold`)."""
    return "genuine" if distance <= threshold else "forged"


def has_live_frontend() -> bool:
    """Whether this runs in a kernel that a Jupyter server started for an open notebook.

    The server (JupyterLab, Notebook 7) puts the notebook's path in the kernel's environment as
    `JPY_SESSION_NAME`; papermill starts its kernel itself and sets nothing, and a script has no
    kernel at all. ipywidgets must import as well."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None or not os.environ.get("JPY_SESSION_NAME"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def png(fig: Figure):
    """`fig` as a PNG for `IPython.display`: the same picture whatever matplotlib backend the kernel
    has set up (a Figure of its own is shown as an image only once the inline backend is loaded)."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return Image(data=buffer.getvalue(), format="png")


class HeatmapViewer:
    """One test pair at a time, chosen by writer and pair (`select`, or the controls of `widget`).

    `manifest` is the test split (columns writer, genuine), its row positions aligned with
    `images` ((N, H, W, 1) uint8 or float); `threshold` the single-pair decision threshold. The
    maps shown are `methods` (by default every one the tower has, `available_methods`).
    """

    def __init__(
        self,
        tower,
        manifest: pd.DataFrame,
        images,
        threshold: float,
        seed: int = 0,
        methods: list[str] | None = None,
        per_kind: int = 4,
    ):
        self.tower = tower
        self.manifest = manifest.reset_index(drop=True)
        self.images = heatmaps.as_float_batch(images)
        if len(self.images) != len(self.manifest):
            raise ValueError(f"{len(self.images)} images for {len(self.manifest)} manifest rows; they must align")
        self.threshold = float(threshold)
        self.seed = int(seed)
        self.methods = list(methods) if methods is not None else available_methods(tower)
        unknown = sorted(set(self.methods) - set(METHOD_TITLES))
        if unknown:
            raise ValueError(f"unknown map method(s) {unknown}; choose from {sorted(METHOD_TITLES)}")
        self._pairs = {
            writer: writer_pairs(self.manifest, writer, per_kind, self.seed)
            for writer in sorted(self.manifest["writer"].unique())
        }
        self.writers = [writer for writer, pairs in self._pairs.items() if pairs]
        if not self.writers:
            raise ValueError("no test writer has a pair to show (each needs two genuine signatures or a forgery)")
        self.writer, self.pair = self.writers[0], 0
        self.redraws = 0  # figures drawn by `select`: how a caller sees that a new selection was drawn
        self.last_figure: Figure | None = None
        self._widget = None
        self._controls: dict = {}
        self._syncing = False

    def pairs(self, writer=None) -> list[tuple[int, int, str]]:
        """(row a, row b, label) pairs of `writer` (the chosen one by default)."""
        return self._pairs[self.writer if writer is None else writer]

    @property
    def current(self) -> tuple[int, int, str]:
        return self.pairs()[self.pair]

    def distance(self) -> float:
        index_a, index_b, _ = self.current
        return heatmaps.pair_distance(self.tower, self.images[index_a], self.images[index_b])

    def truth(self) -> str:
        return "genuine" if bool(self.manifest["genuine"].iloc[self.current[1]]) else "forged"

    def maps(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each method's (map of a, map of b), as computed: not stretched."""
        index_a, index_b, _ = self.current
        a, b = self.images[index_a : index_a + 1], self.images[index_b : index_b + 1]
        found = {}
        for method in self.methods:
            if method == "attention":
                found[method] = tuple(heatmaps.attention_maps(self.tower, np.concatenate([a, b])))
            elif method == "gradcam":
                found[method] = heatmaps.grad_cam(self.tower, a, b)
            else:
                found[method] = heatmaps.difference_maps(self.tower, a, b)
        return found

    def deletion_curves(self, maps: dict | None = None) -> dict[str, np.ndarray]:
        """The pair's distance as a's ink is blanked in each map's order (and at random), over
        [0, *FRACTIONS]."""
        index_a, index_b, _ = self.current
        a, b = self.images[index_a : index_a + 1], self.images[index_b : index_b + 1]
        maps = self.maps() if maps is None else maps
        curves = {
            method: heatmaps.deletion_curve(self.tower, a, b, heat_a, FRACTIONS, self.seed)
            for method, (heat_a, _) in maps.items()
        }
        curves["random"] = np.mean(
            [heatmaps.deletion_curve(self.tower, a, b, None, FRACTIONS, self.seed + i) for i in range(RANDOM_ORDERS)],
            axis=0,
        )
        return curves

    def title(self) -> str:
        """The pair, its distance against the threshold, the verdict that gives and the truth."""
        distance = self.distance()
        decided, truth = verdict(distance, self.threshold), self.truth()
        outcome = "right" if decided == truth else "wrong"
        return (
            f"writer {self.writer}, pair {self.pair + 1} of {len(self.pairs())}: {self.current[2]}\n"
            f"d = {distance:.3f}, threshold {self.threshold:.3f}: verdict {decided}, truth {truth} ({outcome})"
        )

    def figure(self) -> Figure:
        """The chosen pair: a row per signature (as it is, then under each map), the deletion curves
        on the right, the distance, threshold, verdict and truth on top."""
        index_a, index_b, _ = self.current
        pair = (self.images[index_a], self.images[index_b])
        maps = self.maps()
        curves = self.deletion_curves(maps)
        height, width = pair[0].shape[:2]
        side = 2.4 / max(height, width)
        columns = 1 + len(maps)
        # a Figure of its own, not pyplot's: redrawing never piles up open figures or shows one twice
        fig = Figure(figsize=(columns * side * width + 4.2, max(2 * side * height + 1.2, 3.4)), layout="constrained")
        grid = fig.add_gridspec(2, columns + 1, width_ratios=[side * width] * columns + [3.6])
        kinds = ["genuine" if self.manifest["genuine"].iloc[i] else "skilled forgery" for i in (index_a, index_b)]
        for row, (image, name) in enumerate(zip(pair, ("a", "b"))):
            ax = fig.add_subplot(grid[row, 0])
            ax.imshow(1.0 - image[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}: {kinds[row]} (row {self.current[row]})", fontsize=8)
            ax.axis("off")
            for column, (method, heats) in enumerate(maps.items(), start=1):
                # stretched per image so that the contrast is visible; the curves use the maps as computed
                ax = fig.add_subplot(grid[row, column])
                ax.imshow(heatmaps.overlay(image, heatmaps.stretch(heats[row])))
                ax.set_title(METHOD_TITLES[method], fontsize=8)
                ax.axis("off")
        ax = fig.add_subplot(grid[:, -1])
        steps = [0.0, *FRACTIONS]
        for method, curve in curves.items():
            ax.plot(steps, curve, marker="o", markersize=3, label=method, linestyle="--" if method == "random" else "-")
        ax.axhline(self.threshold, color="black", linewidth=0.8, linestyle=":", label="threshold")
        ax.set_xlabel("share of a's ink blanked (hottest first)", fontsize=8)
        ax.set_ylabel("distance of the pair", fontsize=8)
        ax.set_title("Deletion curve of this pair", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
        fig.suptitle(self.title(), fontsize=9)
        return fig

    def select(self, writer=None, pair: int | None = None) -> Figure:
        """Choose a writer (its first pair, unless `pair` says) and/or a pair, and draw it."""
        if writer is not None and writer != self.writer:
            if writer not in self._pairs or not self._pairs[writer]:
                raise ValueError(f"writer {writer!r} has no test pair; choose one of {self.writers}")
            self.writer, self.pair = writer, 0
        if pair is not None:
            if not 0 <= int(pair) < len(self.pairs()):
                raise ValueError(f"writer {self.writer} has pairs 0 to {len(self.pairs()) - 1}, not {pair}")
            self.pair = int(pair)
        self.last_figure = self.figure()
        self.redraws += 1
        self._sync_controls()
        if "output" in self._controls:
            from IPython.display import display

            output = self._controls["output"]
            with output:
                output.clear_output(wait=True)
                display(png(self.last_figure))
        return self.last_figure

    def _pair_options(self) -> list[tuple[str, int]]:
        return [(f"{i + 1}: {label}", i) for i, (_, _, label) in enumerate(self.pairs())]

    def _sync_controls(self) -> None:
        """Show the selection in the controls without their observers drawing it again."""
        if not self._controls:
            return
        self._syncing = True
        try:
            self._controls["writer"].value = self.writer
            pairs = self._controls["pair"]
            if self._controls["pairs_of"] != self.writer:
                pairs.options, self._controls["pairs_of"] = self._pair_options(), self.writer
            pairs.value = self.pair
        finally:
            self._syncing = False

    def widget(self):
        """The controls (test writer, pair) above the figure; a change of either redraws."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        writer = widgets.Dropdown(options=[(str(w), w) for w in self.writers], value=self.writer, description="writer")
        pair = widgets.Dropdown(options=self._pair_options(), value=self.pair, description="pair")
        pair.layout.width = "22em"
        output = widgets.Output()

        def on_writer(change):
            if not self._syncing:
                self.select(writer=change["new"])

        def on_pair(change):
            if not self._syncing and change["new"] is not None:
                self.select(pair=change["new"])

        writer.observe(on_writer, names="value")
        pair.observe(on_pair, names="value")
        self._controls = {"writer": writer, "pair": pair, "output": output, "pairs_of": self.writer}
        self._widget = widgets.VBox([widgets.HBox([writer, pair]), output])
        self.select()
        return self._widget

    def show(self, interactive: bool | None = None) -> None:
        """Display the widget, or the static figure of the chosen pair.

        `interactive=None` decides by itself: the widget in a notebook opened in JupyterLab (or
        any frontend a Jupyter server started the kernel for, `has_live_frontend`), the figure
        under papermill or in a script, where a widget would be saved without its picture. True
        or False forces one. Returns nothing, so that a cell ending in `viewer.show()` shows it once;
        the figure shown is `last_figure`, e.g. to save."""
        from IPython.display import display

        if interactive is None:
            interactive = has_live_frontend()
        if interactive:
            display(self.widget())
        else:
            display(png(self.last_figure if self.last_figure is not None else self.select()))
