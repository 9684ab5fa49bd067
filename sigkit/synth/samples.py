"""The images of one writer, each drawn from its own random stream.

Every writer, forger and image draws from a ``numpy`` stream keyed by
``(seed, role, writer, index)`` (`_rng`), so a sample does not depend on how many others are
made or in which process: the same seed gives the same images, and a smaller set is a subset
of a larger one. `render_writer` looks up the writer and forger steps (`_writer_plan`,
`_genuine`, `_forger`, `_forgery`) in this module's namespace, which is where a test patches
them.
"""

from __future__ import annotations

import numpy as np

from sigkit.synth.render import _affine, _extent, _render, _scan_params, _strokes
from sigkit.synth.trajectory import _writer_plan
from sigkit.synth.writers import _FLUENT, N_FORGERS, _forger, _forgery, _genuine

# stream tags for the random generators; changing one changes the data set (bump
# GENERATOR_VERSION in sigkit.synth.files)
_WRITER, _GENUINE, _FORGER, _FORGERY, _SCAN = 1, 2, 3, 4, 5


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *key]))


def render_writer(seed: int, writer: int, n_genuine: int, n_forged: int):
    """All images of one writer: (genuine list, forgery list) of PIL images."""
    plan = _writer_plan(_rng(seed, _WRITER, writer))
    ref_ext = _extent(_strokes(plan, _FLUENT, None, np.eye(2)))[1] + plan.pen * 1.3
    genuine = []
    for n in range(1, n_genuine + 1):
        rng = _rng(seed, _GENUINE, writer, n)
        p, ex = _genuine(plan, rng)
        strokes = _strokes(p, ex, rng, _affine(rng, 0.035, 0.04, 0.04))
        scan = _scan_params(_rng(seed, _SCAN, 0, writer, n))
        genuine.append(_render(strokes, p, scan, rng, ref_ext))
    forgers = [_forger(plan, _rng(seed, _FORGER, writer, f)) for f in range(N_FORGERS)]
    forged = []
    for n in range(1, n_forged + 1):
        rng = _rng(seed, _FORGERY, writer, n)
        fplan, fexec = forgers[(n - 1) % N_FORGERS]
        p, ex = _forgery(fplan, fexec, rng)
        strokes = _strokes(p, ex, rng, _affine(rng, 0.04, 0.05, 0.05))
        scan = _scan_params(_rng(seed, _SCAN, 1, writer, n))
        forged.append(_render(strokes, p, scan, rng, ref_ext))
    return genuine, forged
