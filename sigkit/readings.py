"""What a figure shows for this run, in a sentence or two computed from the run's own numbers.

Every figure of the numbered notebooks is followed by one of these readings, so that the text
beside a figure can never contradict it: which writers fail, whether a map sits on the ink,
whether a difference is inside the noise. Each function takes the numbers the figure was drawn
from and returns plain text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def _interval(bounds) -> str:
    if bounds is None or any(b is None for b in bounds):
        return ""
    low, high = bounds
    return f" (95 % interval over test writers {100 * low:.1f}-{100 * high:.1f} %)"


# --- 01 data -------------------------------------------------------------------------------------


def samples_per_writer(per_writer: pd.DataFrame) -> str:
    """`per_writer`: `sigkit.datasets.summarize` (one row per writer, genuine and forged counts)."""
    counts = per_writer.select_dtypes("number")
    totals = counts.sum(axis=1)
    text = f"{len(per_writer)} writers hold {int(totals.min())}-{int(totals.max())} images each"
    parts = [f"{column} {int(counts[column].min())}-{int(counts[column].max())}" for column in counts.columns]
    text += f" ({', '.join(parts)})."
    if totals.max() > 2 * max(totals.min(), 1):
        text += f" The largest writer has {totals.max() / max(totals.min(), 1):.1f}x the images of the smallest."
    else:
        text += " The writers are about equally represented."
    return text


def genuine_and_forged(manifest: pd.DataFrame, writers) -> str:
    """`manifest` rows of the shown `writers`: how the genuine and the forged files differ as files."""
    shown = manifest[manifest["writer"].isin(writers)]
    sizes = shown.groupby("genuine")[["width", "height"]].median()
    parts = [
        f"{'genuine' if genuine else 'forged'} files {int(row['width'])} x {int(row['height'])} px"
        for genuine, row in sizes.sort_index(ascending=False).iterrows()
    ]
    return (
        f"Writers {', '.join(map(str, writers))}: median page size {' against '.join(parts)}. "
        "Whatever differs between the two kinds of file besides the strokes, preprocessing takes away."
    )


def preprocessing_steps(steps: dict) -> str:
    """`steps`: `sigkit.preprocess.steps` (caption -> image), grey page first, network input last."""
    images = list(steps.values())
    page, ink, output = images[0], images[2], images[-1]
    cropped = images[-2]
    return (
        f"Otsu marks {_pct(float((ink > 0.5).mean()))} of the {page.shape[0]} x {page.shape[1]} page as ink; "
        f"the ink box ({cropped.shape[0]} x {cropped.shape[1]}) is resized into {output.shape[0]} x "
        f"{output.shape[1]} without changing its aspect ratio, the rest padded with 0."
    )


def preprocessed(images: np.ndarray) -> str:
    """`images`: preprocessed uint8 or float images, ink bright on a zero background."""
    pixels = images.reshape(len(images), -1).astype(np.float32)
    pixels /= 255.0 if images.dtype == np.uint8 else 1.0
    ink = (pixels > 0.5).mean(axis=1)
    zero = (pixels == 0).mean()
    return (
        f"Ink covers {_pct(float(np.median(ink)))} of a preprocessed image (median over {len(images)}, "
        f"{_pct(float(ink.min()))} to {_pct(float(ink.max()))}); {_pct(float(zero))} of all pixels are exactly "
        "0, so nothing of the paper's tone or noise is left for a model to use."
    )


def augmentation(original: np.ndarray, augmented: np.ndarray) -> str:
    """`original`: one image (H, W, 1) in [0, 1]; `augmented`: its draws (n, H, W, 1)."""
    ink = original > 0.5
    kept = [float((draw > 0.5)[ink].mean()) for draw in augmented]
    ratio = [float((draw > 0.5).sum() / max(ink.sum(), 1)) for draw in augmented]
    return (
        f"Across the {len(augmented)} draws, {_pct(min(kept))} to {_pct(max(kept))} of the original ink pixels are "
        f"still ink (a shift of a pixel or two moves a thin stroke off itself), and the amount of ink ranges from "
        f"{min(ratio):.2f}x to {max(ratio):.2f}x the original (stroke thickness): each epoch sees a slightly "
        "different signature."
    )


def pairs(train_pairs: pd.DataFrame) -> str:
    """`train_pairs`: `sigkit.pairs.make_pairs` (a `kind` and a `label` column)."""
    counts = train_pairs["kind"].value_counts()
    positive = int((train_pairs["label"] == 1).sum())
    return (
        f"{len(train_pairs)} training pairs: {positive} genuine ({_pct(positive / len(train_pairs))}), "
        + ", ".join(f"{int(n)} {kind}" for kind, n in counts.items() if kind != "genuine")
        + "; each negative shown is either a skilled forgery of the writer or another writer's signature."
    )


def leak_check(table: pd.DataFrame) -> str:
    """`table`: `sigkit.leak.leak_check_by_corpus` (auc, ci_low, ci_high per row)."""
    sentences = []
    for name, row in table.iterrows():
        low, high = float(row["ci_low"]), float(row["ci_high"])
        if low > 0.5:
            verdict = "above chance: these images give the answer away without the handwriting"
        elif high < 0.5:
            verdict = "below chance"
        else:
            verdict = "its interval holds chance (0.5): nothing but the handwriting is left to learn"
        sentences.append(f"{name}: background-only AUC {float(row['auc']):.2f} ({low:.2f}-{high:.2f}), {verdict}.")
    return " ".join(sentences)


# --- 02 training ---------------------------------------------------------------------------------


def training(history: pd.DataFrame) -> str:
    """`history`: `TrainResult.history` (epoch, loss, val_eer; a member column for an ensemble)."""
    sentences = []
    members = history.groupby("member") if "member" in history else [(None, history)]
    for member, part in members:
        part = part.reset_index(drop=True)
        best = int(part["val_eer"].idxmin())
        name = "" if member is None else f"Member {member}: "
        first, best_eer, losses = part["val_eer"].iloc[0], part["val_eer"][best], part["loss"]
        sentences.append(
            f"{name}validation EER {_pct(first)} after epoch 1, best {_pct(best_eer)} at epoch {best + 1} of "
            f"{len(part)}; training loss {losses.iloc[0]:.3f} -> {losses.iloc[-1]:.3f}."
        )
        if best >= len(part) - 2 and len(part) > 2:
            sentences.append("The best epoch is among the last two: more epochs may still help.")
        elif len(part) - best > 2:
            sentences.append(f"The last {len(part) - 1 - best} epochs did not improve on it.")
    return " ".join(sentences)


def tower(model) -> str:
    """`model`: a tower; where its parameters sit and what the attention adds."""
    total = int(model.count_params())
    by_kind: dict[str, int] = {}
    for layer in model.layers:
        by_kind[type(layer).__name__] = by_kind.get(type(layer).__name__, 0) + int(layer.count_params())
    largest = max(by_kind, key=by_kind.get)
    text = f"{total:,} parameters, {_pct(by_kind[largest] / total)} of them in {largest} layers"
    if by_kind.get("CBAM"):
        text += f"; the CBAM attention adds {by_kind['CBAM']:,} ({_pct(by_kind['CBAM'] / total)})"
    return text + "."


def demo_fit(losses) -> str:
    """`losses`: the loss after each epoch of a short `fit`."""
    losses = [float(v) for v in losses]
    change = "fell" if losses[-1] < losses[0] else "did not fall"
    return f"In {len(losses)} short epochs the contrastive loss {change} from {losses[0]:.3f} to {losses[-1]:.3f}."


# --- 03 evaluation -------------------------------------------------------------------------------


def roc(evaluation, k: int) -> str:
    rows = [r for r in _headline_rows(evaluation, k) if r["forgeries"] == "skilled"]
    best = min(rows, key=lambda r: r["eer"])
    worst = max(rows, key=lambda r: r["eer"])
    random_ = [r for r in _headline_rows(evaluation, k) if r["forgeries"] == "random"]
    text = (
        f"On skilled forgeries the best curve is {best['label']} (EER {_pct(best['eer'])}, AUC {best['auc']:.3f}), "
        f"the weakest {worst['label']} (EER {_pct(worst['eer'])}, AUC {worst['auc']:.3f})."
    )
    if random_:
        text += (
            f" Random forgeries: EER {_pct(min(r['eer'] for r in random_))} to {_pct(max(r['eer'] for r in random_))}."
        )
    return text


def det(evaluation, k: int) -> str:
    rows = [r for r in _headline_rows(evaluation, k) if r["forgeries"] == "skilled"]
    parts = [f"{r['label']}: FAR {_pct(r['far'])}, FRR {_pct(r['frr'])}" for r in rows]
    return "Skilled forgeries at the validation threshold (each curve's EER point marked): " + "; ".join(parts) + "."


def far_frr(evaluation, k: int) -> str:
    single = evaluation.row("single")
    scores = evaluation.scores[_single()]
    genuine, forged = scores[scores["label"] == 1]["distance"], scores[scores["label"] == 0]["distance"]
    threshold = float(single["threshold"])
    far, frr = float((forged <= threshold).mean()), float((genuine > threshold).mean())
    return (
        f"The validation threshold {threshold:.3f} gives FAR {_pct(far)} and FRR {_pct(frr)} on the test writers; "
        f"FAR and FRR cross at {_pct(single['eer'])}"
        + (
            ": the threshold chosen on other writers lands near the test writers' own EER point."
            if abs(far - frr) < 0.05
            else f": {'FRR' if frr > far else 'FAR'} exceeds {'FAR' if frr > far else 'FRR'} by "
            f"{100 * abs(far - frr):.1f} points, so on these writers the threshold chosen on others is "
            f"{'too strict' if frr > far else 'too lenient'}."
        )
    )


def histograms(evaluation, k: int) -> str:
    pairs_ = evaluation.pairs()
    medians = pairs_.groupby("kind")["distance"].median()
    order = ", ".join(f"{kind} {value:.3f}" for kind, value in medians.sort_values().items())
    overlap = ""
    if {"genuine", "skilled"} <= set(medians.index):
        genuine = pairs_[pairs_["kind"] == "genuine"]["distance"]
        skilled = pairs_[pairs_["kind"] == "skilled"]["distance"]
        share = float((skilled < genuine.quantile(0.9)).mean())
        overlap = f" {_pct(share)} of skilled forgeries lie closer than the 90th percentile of genuine pairs."
    return f"Median distance by kind: {order}.{overlap}"


def per_writer(evaluation, k: int) -> str:
    table = evaluation.per_writer()
    sentences = []
    for protocol, part in table.groupby("protocol", sort=False):
        part = part.sort_values("eer", ascending=False)
        worst = ", ".join(f"{w} ({_pct(e)})" for w, e in zip(part["writer"].head(3), part["eer"].head(3)))
        perfect = int((part["eer"] < 1e-9).sum())
        sentences.append(
            f"{protocol}: mean {_pct(part['eer'].mean())} over {len(part)} writers; hardest {worst}; "
            f"{perfect} writer(s) without an error."
        )
    return " ".join(sentences)


def confusion(evaluation, k: int) -> str:
    row = evaluation.row("mean", k)
    return (
        f"With {k} references at the validation threshold: accuracy {_pct(row['accuracy'])}, precision "
        f"{_pct(row['precision'])}, recall {_pct(row['recall'])}; {_pct(row['far'])} of forgeries accepted and "
        f"{_pct(row['frr'])} of genuine signatures rejected."
    )


def eer_by_k(evaluation, k: int) -> str:
    curve = evaluation.curve()
    sentences = []
    for method in curve.columns:
        values = curve[method].dropna()
        if len(values) < 2:
            continue
        first, last = values.iloc[0], values.iloc[-1]
        sentences.append(
            f"{method}: {_pct(first)} with {values.index[0]} -> {_pct(last)} with {values.index[-1]} references"
        )
    best = curve.stack().idxmin()
    return "; ".join(sentences) + f". Lowest: {_pct(curve.stack().min())}, {best[1]} with {best[0]} references."


def fusion(evaluation, k: int) -> str:
    """The fusion rows of the evaluation table (`sigkit.scoring.fuse`) against the scorer the
    validation writers rank first, skilled forgeries: what combining the scorers buys here."""
    table = evaluation.table
    rows = table[(table["method"] == "fusion") & (table["forgeries"] == "skilled")]
    if rows.empty:
        return "No fusion row: it needs validation writers and two scorers or more asking the same questions."
    sentences = []
    for _, row in rows.iterrows():
        how = row["classifier"]
        gain, bounds = how.get("gain"), how.get("gain_ci")
        verdict = ""
        if bounds is not None:
            low, high = bounds
            verdict = (
                f" (95 % paired interval {100 * low:+.1f} to {100 * high:+.1f}: "
                + ("a real gain" if low > 0 else "a real loss" if high < 0 else "cannot be told from none")
                + ")"
            )
        sentences.append(
            f"{row['label']}: {len(how['members'])} scorers "
            + ("averaged" if how["fusion"] == "mean" else "weighted by a logistic regression")
            + f" (chosen on the validation writers), {_pct(row['eer'])} against {_pct(row['eer'] + gain)} for "
            f"{how['best_member']}, the one they rank first: {100 * gain:+.1f} points{verdict}"
        )
    return ". ".join(sentences) + "."


EVALUATION_READINGS = {
    "03_roc": roc,
    "03_det": det,
    "03_far_frr": far_frr,
    "03_distance_histograms": histograms,
    "03_per_writer_eer": per_writer,
    "03_confusion": confusion,
    "03_eer_by_k": eer_by_k,
}


def evaluation_figure(name: str, evaluation, k: int) -> str:
    """The reading of one of `sigkit.evaluation.evaluation_figures`' figures, by its name."""
    return EVALUATION_READINGS[name](evaluation, k)


def attention(ink_ratio: float, deletion: pd.DataFrame | None = None) -> str:
    """The CBAM map's verdict: where its mass sits (`ink_ratio`: mean attention on ink over mean on
    background) and, with the deletion test's rows (method, area), whether it beats random ink."""
    if ink_ratio > 1.2:
        where = f"{ink_ratio:.2f}x as much attention on ink as on background: the map sits on the strokes"
    elif ink_ratio < 0.83:
        where = f"{ink_ratio:.2f}x: the map sits more on the background than on the strokes"
    else:
        where = f"{ink_ratio:.2f}x: the map is spread over ink and background alike, not on the strokes"
    text = f"Attention on ink over attention on background: {where}."
    if deletion is not None and {"attention", "random"} <= set(deletion["method"]):
        text += " " + deletion_verdict(deletion, "attention")
    elif deletion is not None:
        text += " The deletion test did not score this map."
    return text


def deletion_verdict(deletion: pd.DataFrame, method: str) -> str:
    """Whether `method`'s map moves the distance faster than random ink, beyond the pairs' spread."""
    by_pair = deletion.pivot_table(index=["a", "b"], columns="method", values="area")
    gain = by_pair[method] - by_pair["random"]
    mean, spread = float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else float("nan")
    ours, random_ = float(by_pair[method].mean()), float(by_pair["random"].mean())
    if np.isfinite(spread) and mean > 2 * spread:
        verdict = "better than random ink: blanking what it ranks first moves the distance faster"
    elif np.isfinite(spread) and mean < -2 * spread:
        verdict = "worse than random ink: it ranks first ink the distance does not depend on"
    else:
        verdict = "no better than random here"
    return f"In the deletion test the {method} map scores {ours:.3f} against random ink's {random_:.3f}: {verdict}."


def deletion(deletion_rows: pd.DataFrame) -> str:
    """`deletion_rows`: `sigkit.heatmaps.deletion_test`'s rows; every map against random ink."""
    methods = [m for m in deletion_rows["method"].unique() if m != "random"]
    areas = deletion_rows.groupby("method")["area"].mean().sort_values(ascending=False)
    ranking = ", ".join(f"{m} {a:.3f}" for m, a in areas.items())
    return f"Mean area per map: {ranking}. " + " ".join(deletion_verdict(deletion_rows, m) for m in methods)


# --- 04 comparison -------------------------------------------------------------------------------


def literature(table: pd.DataFrame, metric: str = "eer") -> str:
    """`table`: `sigkit.literature.with_measured` (published rows and this run's, `measured` flags)."""
    rows = table[table["metric"] == metric]
    own, published = rows[rows["measured"].astype(bool)], rows[~rows["measured"].astype(bool)]
    dataset = own["dataset"].iloc[0] if len(own) else ""
    same = published[published["dataset"] == dataset]
    mine = "; ".join(f"{m} {v:.1f} %" for m, v in zip(own["method"], own["value"]))
    if same.empty:
        return (
            f"This run ({dataset}): {mine}. None of the {len(published)} published {metric.upper()} figures is on "
            "this data set: the bars place the run beside them, they do not rank it."
        )
    low, high = same["value"].min(), same["value"].max()
    return (
        f"This run ({dataset}): {mine}. The {len(same)} published {metric.upper()} figure(s) on {dataset} run "
        f"from {low:.1f} to {high:.1f} %; read each bar's protocol before comparing (a threshold tuned on the "
        "test pairs, or writers seen in training, lowers the figure)."
    )


def arms_training(histories: dict) -> str:
    """`histories`: arm name -> its `history.csv` frame; each arm's best epoch and whether it had settled."""
    sentences = []
    for name, history in histories.items():
        best = int(history["val_eer"].to_numpy().argmin())
        settled = "still improving at the end" if best >= len(history) - 2 else "settled"
        sentences.append(
            f"{name}: best validation EER {_pct(history['val_eer'].min())} at epoch {best + 1} of "
            f"{len(history)} ({settled})"
        )
    return "; ".join(sentences) + "."


def limited_data(curve: pd.DataFrame, column: str, recorded: str | None = None) -> str:
    """`curve`: rows by references per training writer (column "references per writer") with the
    test EER `column` in percent; `recorded` names where a recorded curve comes from."""
    curve = curve.sort_values("references per writer")
    points = ", ".join(f"{int(n)}: {v:.1f} %" for n, v in zip(curve["references per writer"], curve[column]))
    fewest, most = curve[column].iloc[0], curve[column].iloc[-1]
    trend = "falls" if most < fewest - 1 else ("rises" if most > fewest + 1 else "stays within a point")
    steps = np.diff(curve[column].to_numpy(float))
    steady = bool(np.all(steps <= 1)) or bool(np.all(steps >= -1))
    text = f"{column} by genuine references per training writer: {points}; from fewest to most it {trend}"
    text += "." if steady else ", not steadily (one split's test writers move it by more than the trend)."
    return (f"Recorded, {recorded}: " + text) if recorded else text


def recorded_ablation(
    table: list[dict], column: str = "test single_skilled", against: str = "vs cbam: single_skilled"
) -> str:
    """`table`: the rows of a recorded ablation (`bench/ablation.py`'s `ablation.json`)."""
    parts = []
    for row in table:
        text = f"{row['variant']} {row[column]}"
        if isinstance(row.get(against), str):
            low, high = (float(v) for v in row[against].replace("+", "").split(" to "))
            verdict = "better than cbam" if high < 0 else ("worse than cbam" if low > 0 else "not told apart from cbam")
            text += f" (paired difference {row[against]} points: {verdict})"
        parts.append(text)
    return f"{column}, {table[0]['seeds']} seeds: " + "; ".join(parts) + "."


def kaggle_protocols(table: pd.DataFrame, folder) -> str:
    """`table`: `sigkit.protocols.side_by_side` (paper first); what each leak is worth, from the
    recorded runs in `folder`, and how far the paper's EER is from the honest rows."""
    from sigkit.protocols import what_the_gap_is_made_of

    text = " ".join(what_the_gap_is_made_of(folder))
    longer = table[table.index.str.contains("trained .* epochs", regex=True)]
    if len(longer):
        eer, paper = float(longer["eer"].iloc[0]), float(table["eer"].iloc[0])
        where = "below" if eer < paper else "above"
        text += (
            f" Trained longer under the published protocol ({longer.index[0].split('trained ')[1].split(' (')[0]}), "
            f"a CPU-sized tower reaches {eer:.1f} % EER, {where} the paper's {paper:.1f} %: every test pair was a "
            "training pair."
        )
    honest = table[table.index.str.contains("honest|this run")]
    if len(honest):
        paper = float(table["eer"].iloc[0])
        parts = ", ".join(f"{float(v):.1f} %" for v in honest["eer"])
        text += f" The paper's EER is {paper:.1f} %; under a writer-disjoint protocol the EER is {parts}."
    return text


def _single():
    from sigkit.scoring import Protocol

    return Protocol()


def _headline_rows(evaluation, k: int) -> list:
    """The protocols the ROC and DET figures draw (`sigkit.evaluation.evaluation_figures`)."""
    table = evaluation.table
    part = table[(table["method"] != "wd") & table["k"].isin([1, k])]
    return [row for _, row in part.iterrows()]
