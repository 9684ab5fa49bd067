"""A synthetic offline-signature data set in the CEDAR layout, so the kit runs with no download.

    generate(out_dir, n_writers=30, n_genuine=24, n_forged=24, seed=0) writes

        out_dir/full_org/original_<w>_<n>.png    genuine signatures of writer w, n = 1..n_genuine
        out_dir/full_forg/forgeries_<w>_<n>.png  skilled forgeries of writer w, n = 1..n_forged
        out_dir/README.md                        how the set was made (seed, counts, version)
        out_dir/sigkit-synth.json                the parameters, so a re-run can skip the work

Also usable as ``python -m sigkit.synth OUT_DIR [--writers 30 --genuine 24 --forged 24 --seed 0]``.

The model, and why it is this one
---------------------------------
*Pen movement: the sigma-lognormal model.* Plamondon's kinematic theory describes a rapid
handwriting movement as a sum of overlapping strokes, each the response of a neuromuscular
system to one command: the speed of stroke i is a lognormal impulse
``D_i * LN(t; t0_i, mu_i, sigma_i)`` and its direction turns by ``dtheta_i`` in step with
the distance covered, ``phi_i(t) = theta_i + dtheta_i * F_i(t)`` (F_i the lognormal CDF).
It is the standard generative model for synthetic signatures (Ferrer, Diaz, Carmona-Duarte,
Plamondon et al., "A behavioral handwriting model for static and dynamic signature
synthesis", IEEE TPAMI 2017; Galbally et al. 2012 use it for dynamic signatures) because
its few parameters have a motor meaning: the *action plan* is a chain of virtual target
points, and the *execution* (timing overlap, sigma, mu) decides how smoothly the pen cuts
the corners between them. Because the direction changes linearly in F, each stroke's
displacement has a closed form, ``D e^{i theta} (e^{i dtheta F} - 1) / (i dtheta)``, so the
trajectory is evaluated exactly, without integrating, and every stroke ends on its target.

*A writer* is an action plan built like cursive script (Hollerbach's view of handwriting as
coupled up/down oscillation with a horizontal drift): an optional capital initial, one or
two words of 3-8 "letters", each letter an up-stroke to the x-height, an ascender or a
descender and a down-stroke back to the baseline, with the writer's own letter width,
ascender/descender heights, loop tendency (the turn of up-strokes: positive gives e/l
loops, negative gives arcades), slant, baseline drift, pen-lifts between components, i-dots
and sometimes an underline or a flourish swinging back under the name. Timing (mu, sigma,
overlap) is also the writer's: a fluent writer overlaps strokes a lot and rounds corners.

*Genuine samples* re-execute the same plan with the variability a person has: small target
and turn perturbations, timing jitter, an affine jitter (rotation, scale, shear), whatever
pen is at hand (width varies from sample to sample), ink jitter, and now and then a
forgotten i-dot (so that a missing dot is not by itself a forgery tell).

*Skilled forgeries* come from 3 forgers per writer (forgery n by forger (n-1) mod 3). Each
forger studied the prototype and carries persistent errors (component sizes and positions,
overall aspect, the loops' turns, slant, per-target misplacements), and executes like
someone copying rather than writing: slower and segmented (less stroke overlap, so sharper
corners, and some strokes drawn in two pieces), a tremor (a low-amplitude, spatially
high-frequency wobble across the path), an even and slightly heavier pressure with blunt
stroke ends instead of the genuine tapered flicks, and now and then a missing (dot,
underline, last letter) or extra (stray dot) small element. These are the differences
forensic examiners list for simulated signatures. The error sizes (`writers._FORGER_ERROR`)
were set against `writers._VAR`, the writer's own variability, with a naive measure
(tests/test_synth.py: Otsu, crop to the ink, 64x128, blur, Euclidean): on the default set
(seed 0, 30 writers x (24 + 24)) the skilled-forgery EER is ~0.29 and the random-forgery
EER ~0.10, so skilled forgeries are clearly harder than other writers' signatures and neither
is trivial (the real CEDAR gives 0.44 and 0.29 with the same measure; the synthetic set is
easier).

*Rendering*: the path is drawn at twice the size with a pen width that follows pressure
(thinner where the genuine pen is fast, tapered at the ends), box-downsampled for
anti-aliasing, blurred like a scanner, and laid on paper with a tone, shading and noise.

*File forms*: each file's canvas width, margins, extra room, paper tone, shading, noise,
blur, ink colour and file mode (8-bit L, RGB, palette P, opaque RGBA, and RGBA on a
transparent background with the ink in the alpha channel) are drawn from one law that never
sees the class; the canvas height follows the *writer's prototype* (not the sample), so the
forgeries of a writer get the very canvas law of its genuine samples. A logistic regression
on background-only cues (background mean/std, mode, width, height) scores AUC ~0.51 for
genuine vs forged (on the real CEDAR: 1.0). A loader must handle all the forms (composite
alpha over white before going to grey).

Speed: ~13 ms an image (numpy + Pillow drawing, PNG at compress level 1); the default
30 x (24 + 24) takes ~19 s in one process and ~11 s in two on a 2-core machine. generate()
forks 2 workers only where that is safe (no other threads, no TensorFlow loaded yet).

Determinism: every writer, forger and image draws from its own ``numpy`` stream keyed by
``(seed, role, writer, index)``, so the same seed gives byte-identical PNGs (no timestamps
are written) and a smaller set is a subset of a larger one with the same seed.

The package, upstream to downstream (imports go one way): `trajectory` (sigma-lognormal
strokes, the writer's action plan) feeds `writers` (genuine re-executions, forgers and their
copies) and `render` (strokes to pixels, paper, scan noise, file forms); `samples` draws all
images of one writer from keyed random streams (`render_writer`); `files` writes the set to
disk (`generate`, the manifest, the README, worker processes).
"""

from sigkit.synth.files import GENERATOR_VERSION, MANIFEST, generate, is_complete

# private names that tests/test_synth.py reads (it patches the steps in `samples`, where
# render_writer looks them up)
from sigkit.synth.render import FILE_MODES, _scan_params, _to_file  # noqa: F401
from sigkit.synth.samples import _SCAN, _rng, render_writer  # noqa: F401
from sigkit.synth.trajectory import (
    Component,
    Plan,
    _writer_plan,  # noqa: F401
)
from sigkit.synth.writers import (
    N_FORGERS,
    _genuine,  # noqa: F401
)

__all__ = [
    "Component",
    "FILE_MODES",
    "GENERATOR_VERSION",
    "MANIFEST",
    "N_FORGERS",
    "Plan",
    "generate",
    "is_complete",
    "render_writer",
]
