"""Shift-tolerant pair distances (sigkit.align) and the aligned evaluation protocols."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from drawing import scribble

from sigkit import synth
from sigkit.align import ALIGNMENTS, aligned_distances, embed_aligned, embed_variants, realign
from sigkit.model import build_tower, embed
from sigkit.scoring import Features, Protocol, evaluate, standard_protocols


def stroke_image(height=50, width=100, left=30, top=15):
    """One uint8 image with an L-shaped stroke well away from the border."""
    image = np.zeros((height, width, 1), np.uint8)
    image[top : top + 20, left : left + 3] = 255
    image[top + 17 : top + 20, left : left + 30] = 255
    return image


def ink_centre(image):
    rows, cols = np.nonzero(image[..., 0] > 127)
    return rows.mean(), cols.mean()


def test_realign_moves_by_whole_pixels_with_background_coming_in():
    image = stroke_image()
    assert np.array_equal(realign(image[None], 0.0, 0.0)[0], image)
    moved = realign(image[None], 0.04, -0.04)[0]  # 4 px right, 2 px up on 100 x 50
    assert np.array_equal(moved, np.roll(np.roll(image, 4, axis=1), -2, axis=0))
    assert moved.dtype == np.uint8
    edge = np.full((1, 4, 10, 1), 7, np.uint8)
    left = realign(edge, -0.2, 0.0)[0, ..., 0]  # 2 px left: the last two columns are background
    assert (left[:, :8] == 7).all() and (left[:, 8:] == 0).all()
    assert np.array_equal(realign(edge, 0.0, 0.26)[0, :1, :, 0], np.zeros((1, 10)))  # round(1.04) = 1 px down
    assert not realign(edge, 1.5, 0.0).any()  # moved out of the frame


def test_aligned_distance_is_the_smallest_over_alignments_either_way_round():
    aligned = np.array(
        [
            [[0.0, 0.0], [3.0, 0.0], [0.0, 5.0]],  # as they are
            [[1.0, 0.0], [0.0, 0.0], [0.0, 4.0]],  # alignment 1
            [[0.0, 2.0], [3.0, 1.0], [9.0, 9.0]],  # alignment 2
        ]
    )
    a, b = np.array([0, 0, 2]), np.array([1, 2, 1])
    got = aligned_distances(aligned, a, b)
    # pair (0, 1): |as-is 0 - alignment-1 of 1| = 0
    # pair (0, 2): min(|0 - 5e2|, |0 - 4e2|, |0 - (9,9)|, |(1,0) - 5e2|, |(0,2) - 5e2|) = 3 (the last)
    # pair (2, 1): min over |(0,5) - {(3,0),(0,0),(3,1)}| and |{(0,5),(0,4),(9,9)} - (3,0)| = 5
    np.testing.assert_allclose(got, [0.0, 3.0, 5.0])
    np.testing.assert_allclose(aligned_distances(aligned, b, a), got)  # symmetric
    plain = np.linalg.norm(aligned[0][a] - aligned[0][b], axis=1)
    assert np.all(got <= plain)
    with pytest.raises(ValueError, match="alignments, images, dim"):
        aligned_distances(aligned[0], a, b)


def test_a_shifted_copy_is_at_distance_zero_once_aligned():
    tower = build_tower(
        "cbam",
        input_shape=(50, 100, 1),
        widths=(8, 16),
        convs_per_block=1,
        embedding_dim=8,
        norm="none",
        pooling="grid",
        dropout=0.0,
    )
    image = stroke_image()
    images = np.stack([image, np.roll(image, 4, axis=1)])  # the same signature 4 px to the right
    aligned = embed_aligned(tower, images)
    assert aligned.shape == (len(ALIGNMENTS), 2, 8)
    np.testing.assert_allclose(aligned[0], embed(tower, images), atol=1e-6)
    plain = np.linalg.norm(aligned[0][0] - aligned[0][1])
    shift_tolerant = aligned_distances(aligned, [0], [1])[0]
    assert plain > 1e-3 and shift_tolerant < 1e-5


def toy_writers():
    rng = np.random.default_rng(0)
    manifest = pd.DataFrame({"writer": np.repeat(["a", "b", "c"], 8), "genuine": np.tile([True] * 6 + [False] * 2, 3)})
    manifest["path"] = [f"{i}.png" for i in range(len(manifest))]
    centres = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}
    emb = np.array([centres[w] for w in manifest["writer"]], float) + rng.normal(0, 0.3, (len(manifest), 3))
    return manifest, emb, np.stack([emb, emb + rng.normal(0, 0.1, emb.shape)])


def test_evaluation_scores_every_protocol_again_with_aligned_distances():
    manifest, emb, aligned = toy_writers()
    both = Features(manifest, emb, aligned)
    protocols = standard_protocols(3, aligned=True, forgeries=("skilled",))
    ev = evaluate(both, both, protocols, n_boot=0, draws=3)
    plain = [Protocol("single"), Protocol("mean", 3), Protocol("spread", 3)]
    assert ev.protocols() == plain + [dataclasses.replace(p, aligned=True) for p in plain]
    pairs = ev.scores[Protocol()]
    np.testing.assert_allclose(
        ev.scores[Protocol(aligned=True)]["distance"], aligned_distances(aligned, pairs["a"], pairs["b"])
    )
    # K references: each questioned signature's mean aligned distance to the same references
    refs = ev.scores[Protocol("mean", 3)]
    row = refs.iloc[0]
    first = refs[refs["draw"] == 0]
    references = [
        i
        for i in manifest.index[manifest["writer"] == row["writer"]]
        if i not in set(first[first["writer"] == row["writer"]]["row"])
    ]
    expected = aligned_distances(aligned, [row["row"]] * 3, references).mean()
    assert ev.scores[Protocol("mean", 3, aligned=True)]["distance"].iloc[0] == pytest.approx(expected, rel=1e-6)
    assert set(ev.table[ev.table["method"] != "single"]["draws"]) == {3}  # every K-reference row over the draws
    # one alignment is the plain distance
    one = Features(manifest, emb, aligned[:1])
    same = evaluate(one, one, protocols, n_boot=0, draws=3)
    for protocol in plain:
        assert same.row(**{**protocol.to_dict(), "aligned": True})["eer"] == pytest.approx(
            same.row(**protocol.to_dict())["eer"]
        )


def test_aligned_protocols_need_aligned_features_and_matching_shapes():
    manifest, emb, aligned = toy_writers()
    test = Features(manifest, emb, aligned)
    without_val = evaluate(test, None, standard_protocols(3, aligned=True), threshold=0.5, n_boot=0)
    assert not without_val.table["aligned"].any()  # no stored threshold of their scale
    assert set(without_val.table["method"]) == {"single", "mean"}
    with pytest.raises(ValueError, match="needs aligned features"):
        evaluate(test, Features(manifest, emb), standard_protocols(3, aligned=True), n_boot=0)
    with pytest.raises(ValueError, match="24 images"):
        Features(manifest, emb, aligned[:, :5])


@pytest.mark.slow
def test_embed_aligned_of_real_preprocessed_images_keeps_them_in_order(tmp_path):
    from sigkit.datasets import load_dataset
    from sigkit.preprocess import load_images

    folder = synth.generate(tmp_path / "synth", n_writers=2, n_genuine=3, n_forged=1, seed=1)
    images = load_images(load_dataset(folder)["decode_path"], size=(32, 64))
    tower = build_tower("cbam", input_shape=(32, 64, 1), widths=(8,), convs_per_block=1, embedding_dim=4, dropout=0.0)
    aligned = embed_aligned(tower, images, chunk=3)  # chunks smaller than the set
    np.testing.assert_allclose(aligned[0], embed(tower, images), atol=1e-6)
    np.testing.assert_allclose(aligned[-1], embed(tower, realign(images, *ALIGNMENTS[-1])), atol=1e-6)
    assert embed_aligned(tower, images, ALIGNMENTS[:1]).shape == (1, len(images), 4)


@pytest.mark.slow
def test_embed_variants_turns_each_file_at_full_resolution_then_shifts_it(tmp_path):
    from PIL import Image

    from sigkit.preprocess import load_images

    # a level signature, and the same signature written 8 degrees steeper (turned on the scan)
    scan = Image.fromarray(scribble(4, size=(400, 200)))
    paths = [tmp_path / "level.png", tmp_path / "sloped.png"]
    scan.save(paths[0])
    scan.rotate(8, resample=Image.BICUBIC, expand=True, fillcolor=225).save(paths[1])
    options = dict(size=(48, 96), sigma=1.0, margin=2)
    images = load_images(paths, **options)
    tower = build_tower(
        "cbam",
        input_shape=(48, 96, 1),
        widths=(8, 16),
        convs_per_block=1,
        embedding_dim=8,
        norm="none",
        pooling="grid",
        dropout=0.0,
    )
    variants = embed_variants(tower, paths, options, images=images, turns=(0.0, -8.0, 8.0))
    assert variants.shape == (3 * len(ALIGNMENTS), 2, 8)
    np.testing.assert_allclose(variants[0], embed(tower, images), atol=1e-6)  # [0]: as they are
    # the turns come from the files, not from the given images: without them, the same numbers
    np.testing.assert_allclose(embed_variants(tower, paths, options, turns=(0.0, -8.0, 8.0)), variants, atol=1e-5)
    # turning the sloped scan back by 8 degrees brings it closer to the level one than any shift does
    shifted_only = aligned_distances(variants[: len(ALIGNMENTS)], [0], [1])[0]
    assert aligned_distances(variants, [0], [1])[0] < 0.7 * shifted_only
    with pytest.raises(ValueError, match="first turn must be 0"):
        embed_variants(tower, paths, options, turns=(4.0, 0.0))
    # a few files' turns through one traced pipeline give the images one turn at a time gives
    from sigkit.preprocess import load_turned_images

    turned = load_turned_images(paths, (-8.0, 4.0), **options)
    for position, angle in enumerate((-8.0, 4.0)):
        np.testing.assert_array_equal(turned[position], load_images(paths, turn_deg=angle, **options))


def test_aligned_curves_share_their_protocol_colour_dashed():
    from sigkit.plots.evaluation import line_styles

    single, refs = Protocol(), Protocol("mean", 5)
    single_aligned, refs_aligned = Protocol(aligned=True), Protocol("mean", 5, aligned=True)
    styles = line_styles([single, refs, single_aligned, refs_aligned])
    assert styles[single_aligned] == {"color": styles[single]["color"], "ls": "--"}
    assert styles[refs]["color"] != styles[single]["color"] and styles[refs]["ls"] == "-"
