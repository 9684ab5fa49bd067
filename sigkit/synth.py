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
forensic examiners list for simulated signatures. The error sizes (`_FORGER_ERROR`) were set
against `_VAR`, the writer's own variability, with a naive measure (tests/test_synth.py:
Otsu, crop to the ink, 64x128, blur, Euclidean): on the default set (seed 0, 30 writers x
(24 + 24)) the skilled-forgery EER is ~0.29 and the random-forgery EER ~0.10, so skilled
forgeries are clearly harder than other writers' signatures and neither is trivial (the
real CEDAR gives 0.44 and 0.29 with the same measure; the synthetic set is easier).

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
``(seed, writer, role, index)``, so the same seed gives byte-identical PNGs (no timestamps
are written) and a smaller set is a subset of a larger one with the same seed.
"""

from __future__ import annotations

import sys
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter
from scipy.special import erf

GENERATOR_VERSION = "1"
MANIFEST = "sigkit-synth.json"
N_FORGERS = 3

# stream tags for the random generators; changing one changes the data set (bump the version)
_WRITER, _GENUINE, _FORGER, _FORGERY, _SCAN = 1, 2, 3, 4, 5

# file modes, one distribution for both classes
FILE_MODES = ("L", "RGB", "P", "RGBA", "RGBA-alpha")
_MODE_P = (0.40, 0.15, 0.15, 0.15, 0.15)


# --------------------------------------------------------------------------------------------
# sigma-lognormal kinematics


@dataclass
class Component:
    """One pen-down movement: a start point, targets and per-stroke kinematic parameters."""

    start: complex
    targets: np.ndarray  # complex (n,)
    dtheta: np.ndarray  # (n,) turn of each stroke, radians
    mu: np.ndarray  # (n,) log time scale
    sigma: np.ndarray  # (n,) log response time
    gap: np.ndarray  # (n,) t0 spacing to the next stroke, as a fraction of exp(mu)
    role: str = "word"

    def copy(self) -> "Component":
        return Component(self.start, self.targets.copy(), self.dtheta.copy(), self.mu.copy(),
                         self.sigma.copy(), self.gap.copy(), self.role)


@dataclass
class Plan:
    components: list[Component]
    slant: float  # shear x += slant * y
    pen: float  # pen width in x-heights
    ink: float  # ink strength 0..1 (1 = darkest)
    extra: dict = field(default_factory=dict)


def _trajectory(c: Component, samples_per_stroke: int = 36):
    """Exact sigma-lognormal path of one component: points (complex) and speed."""
    n = len(c.targets)
    prev = np.concatenate([[c.start], c.targets[:-1]])
    chord = c.targets - prev
    # keep |dtheta| away from 0 (division) and 2*pi (the chord vanishes for a full circle)
    dth = np.clip(c.dtheta, -4.4, 4.4)
    dth = np.where(np.abs(dth) < 1e-4, 1e-4, dth)
    half = dth / 2
    D = np.abs(chord) * half / np.sin(half)
    theta = np.angle(chord) - half
    t0 = np.concatenate([[0.0], np.cumsum(c.gap[:-1] * np.exp(c.mu[:-1]))])
    t_end = float(np.max(t0 + np.exp(c.mu + 3.0 * c.sigma)))
    t = np.linspace(0.0, t_end, samples_per_stroke * n + 2)
    dt = t[None, :] - t0[:, None]
    on = dt > 0
    sdt = np.where(on, dt, 1.0)
    z = (np.log(sdt) - c.mu[:, None]) * (1.0 / (c.sigma[:, None] * math.sqrt(2.0)))
    F = np.where(on, 0.5 * (1.0 + erf(z)), 0.0)
    lam = np.where(on, np.exp(-z * z) / (sdt * c.sigma[:, None] * math.sqrt(2 * math.pi)), 0.0)
    rot = (D * np.exp(1j * theta))[:, None]
    turn = np.exp(1j * dth[:, None] * F)
    pos = c.start + np.sum(rot * (turn - 1) / (1j * dth[:, None]), axis=0)
    vel = np.sum(lam * rot * turn, axis=0)
    return pos, np.abs(vel)


# --------------------------------------------------------------------------------------------
# the writer's action plan


def _timing(rng, n, style):
    mu = style["mu"] + rng.normal(0, 0.08, n)
    sigma = style["sigma"] * np.exp(rng.normal(0, 0.1, n))
    gap = style["gap"] * np.exp(rng.normal(0, 0.1, n))
    return mu, sigma, gap


def _component(rng, start, pts, dth, style, role):
    pts = np.asarray(pts, dtype=complex)
    mu, sigma, gap = _timing(rng, len(pts), style)
    # longer strokes take a little longer (duration grows sub-linearly with amplitude)
    prev = np.concatenate([[start], pts[:-1]])
    mu = mu + 0.3 * np.log(np.maximum(np.abs(pts - prev), 0.05))
    return Component(complex(start), pts, np.asarray(dth, float), mu, sigma, gap, role)


def _word(rng, st, x0, first_tall=False):
    """Cursive run: letters are up/down oscillations between baseline and a writer's heights."""
    n_letters = int(rng.integers(st["letters"][0], st["letters"][1] + 1))
    pts, dth, dots = [], [], []
    x = x0
    start = complex(x0 - 0.25 * st["w"], rng.uniform(-0.3, 0.4))
    for k in range(n_letters):
        w = st["w"] * math.exp(rng.normal(0, 0.15))
        kind = "cap" if (k == 0 and first_tall) else rng.choice(
            ["x", "asc", "desc", "hump", "round"], p=st["kinds"])
        up = st["loop"] + rng.normal(0, 0.35)
        down = st["down"] + rng.normal(0, 0.25)
        if kind == "cap":
            h = st["cap"]
            pts += [complex(x + 0.3 * w, h), complex(x + 0.15 * w, 0.0),
                    complex(x + 0.8 * w, 0.8), complex(x + 1.1 * w, 0.0)]
            dth += [rng.normal(0.4, 0.6), rng.normal(0, 0.3), rng.normal(-1.2, 0.5), down]
            x += 1.2 * w
        elif kind == "x":
            pts += [complex(x + 0.5 * w, 1.0 + rng.normal(0, 0.08)), complex(x + w, 0.0)]
            dth += [up, down]
            if rng.random() < st["p_dot"]:
                dots.append(complex(x + 0.5 * w + 0.6 * st["slant"], 1.7 + rng.normal(0, 0.1)))
            x += w
        elif kind == "asc":
            pts += [complex(x + 0.55 * w, st["asc"] * math.exp(rng.normal(0, 0.08))),
                    complex(x + 0.45 * w, 0.0)]
            dth += [abs(up) + 1.0, rng.normal(0, 0.2)]
            x += 0.75 * w
        elif kind == "desc":
            pts += [complex(x + 0.5 * w, 1.0), complex(x + 0.4 * w, -st["desc"]),
                    complex(x + w, 0.3)]
            dth += [up, rng.normal(0, 0.2), -(abs(up) + 1.2)]
            x += w
        elif kind == "hump":
            pts += [complex(x + 0.25 * w, 1.0), complex(x + 0.35 * w, 0.0),
                    complex(x + 0.75 * w, 1.0), complex(x + 0.9 * w, 0.0)]
            dth += [-1.0 + 0.3 * up, rng.normal(0, 0.2), -1.3 + 0.3 * up, down]
            x += w
        else:  # round: a/o, a counter-clockwise oval closed by a down-stroke
            pts += [complex(x + 0.7 * w, 1.0), complex(x + 0.2 * w, 0.2),
                    complex(x + 0.75 * w, 0.9), complex(x + w, 0.0)]
            dth += [1.0 + 0.3 * up, 1.8, 0.8, down]
            x += w
    # a writer's size drift along the word (commonly diminishing), about the baseline
    pts = np.asarray(pts, complex)
    k = 1.0 - st["diminish"] * np.clip((pts.real - x0) / max(x - x0, 1e-6), 0, 1)
    pts = pts.real + 1j * pts.imag * k
    kd = 1.0 - st["diminish"] * np.clip((np.real(dots) - x0) / max(x - x0, 1e-6), 0, 1)
    dots = list(np.real(dots) + 1j * np.imag(dots) * kd)
    return start, list(pts), dth, dots, x


def _writer_plan(rng) -> Plan:
    st = {
        "w": rng.uniform(0.45, 1.3),
        "asc": rng.uniform(1.9, 2.9),
        "desc": rng.uniform(1.0, 1.9),
        "cap": rng.uniform(2.0, 4.0),
        "loop": rng.uniform(-0.8, 1.8),
        "down": rng.uniform(-0.6, 0.6),
        "kinds": rng.dirichlet([3.0, 1.2, 0.8, 1.2, 1.0]),
        "letters": (2, int(rng.integers(4, 10))),
        "diminish": rng.uniform(-0.15, 0.45),  # letters shrink (or grow) along a word
        "p_dot": rng.uniform(0.0, 0.5),
        "slant": float(np.clip(rng.normal(0.25, 0.25), -0.3, 0.9)),
        # execution: fluent writers overlap strokes (gap < 1) and so round the corners
        "mu": rng.uniform(-1.9, -1.4),
        "sigma": rng.uniform(0.18, 0.32),
        "gap": rng.uniform(0.35, 0.7),
    }
    comps: list[Component] = []
    x = 0.0
    layout = rng.choice(["initial+surname", "initials+surname", "name", "first+surname"],
                        p=[0.35, 0.15, 0.25, 0.25])
    for _ in range(2 if layout == "initials+surname" else 1 if layout == "initial+surname" else 0):
        h = st["cap"] * math.exp(rng.normal(0, 0.1))
        pts = [complex(rng.uniform(0.2, 0.8), h),
               complex(rng.uniform(-0.2, 0.4), rng.uniform(-0.3, 0.2))]
        dth = [rng.normal(0.3, 0.8), rng.normal(0, 0.4)]
        if rng.random() < 0.7:
            pts.append(complex(rng.uniform(0.9, 1.6), rng.uniform(0.5, 0.85) * h))
            dth.append(rng.normal(-1.5, 0.8))
            pts.append(complex(rng.uniform(1.1, 1.9), rng.uniform(-0.2, 0.5)))
            dth.append(rng.normal(0, 0.6))
        pts = [p + x for p in pts]
        comps.append(_component(rng, complex(x + rng.uniform(-0.4, 0.2), rng.uniform(0.0, 0.9)),
                                pts, dth, st, "initial"))
        x = max(p.real for p in pts) + rng.uniform(0.3, 0.8)
        if rng.random() < 0.4:  # a full stop after the initial
            comps.append(_dot(rng, complex(x - 0.1, rng.uniform(-0.05, 0.15)), st))
            x += 0.3
    if layout == "first+surname":
        s, pts, dth, dots, x = _word(rng, {**st, "letters": (2, 4)}, x, first_tall=True)
        comps.append(_component(rng, s, pts, dth, st, "word"))
        comps += [_dot(rng, d, st) for d in dots]
        x += rng.uniform(0.6, 1.2)
    s, pts, dth, dots, x_end = _word(rng, st, x, first_tall=rng.random() < 0.7)
    if rng.random() < 0.35:  # flourish: the last stroke swings back under the name
        back = rng.uniform(0.2, 0.9) * (x_end - x) + x
        pts += [complex(x_end + rng.uniform(0.2, 0.6), rng.uniform(0.3, 1.2)),
                complex(back, -rng.uniform(0.5, 1.2))]
        dth += [rng.uniform(1.5, 3.0), rng.normal(0, 0.4)]
    comps.append(_component(rng, s, pts, dth, st, "word"))
    comps += [_dot(rng, d, st) for d in dots]
    if rng.random() < 0.2:  # separate underline
        y = -rng.uniform(0.7, 1.3)
        comps.append(_component(rng, complex(rng.uniform(-0.3, 0.8), y),
                                [complex(x_end + rng.uniform(-0.3, 0.5), y + rng.normal(0, 0.25))],
                                [rng.normal(0, 0.3)], st, "underline"))
    # baseline drift: a tilt and a bow along the writing direction
    tilt, bow = rng.normal(0, 0.07), rng.normal(0, 0.012)
    span = max(x_end, 1.0)
    for c in comps:
        c.start = _drift(c.start, tilt, bow, span)
        c.targets = _drift(c.targets, tilt, bow, span)
    return Plan(comps, slant=float(st["slant"]), pen=rng.uniform(0.07, 0.13),
                ink=rng.uniform(0.7, 0.95), extra={"style": st})


def _dot(rng, p, st):
    return _component(rng, p, [p + 0.06 * np.exp(1j * rng.uniform(0, 6.3))], [0.0], st, "dot")


def _drift(z, tilt, bow, span):
    x = np.real(z)
    return z + 1j * (tilt * x + bow * (x - span / 2) ** 2)


# --------------------------------------------------------------------------------------------
# variation: genuine re-executions and forgers


def _perturb(plan: Plan, rng, target, turn, timing, offset) -> Plan:
    comps = []
    for c in plan.components:
        c = c.copy()
        n = len(c.targets)
        off = complex(*rng.normal(0, offset, 2))
        # neighbouring targets move together (a letter drifts as a whole), plus each its own bit
        smooth = np.cumsum(rng.normal(0, target * 0.5, (n, 2)), axis=0) * 0.5
        jit = rng.normal(0, target, (n, 2)) + smooth
        scale = 0.04 if c.role == "dot" else 1.0  # a dot moves, it does not change shape
        c.start = c.start + off + scale * complex(*rng.normal(0, target, 2))
        c.targets = c.targets + off + scale * (jit[:, 0] + 1j * jit[:, 1])
        c.dtheta = c.dtheta + rng.normal(0, turn, n)
        c.mu = c.mu + rng.normal(0, timing, n)
        c.sigma = c.sigma * np.exp(rng.normal(0, timing, n))
        c.gap = c.gap * np.exp(rng.normal(0, timing, n))
        comps.append(c)
    return Plan(comps, plan.slant, plan.pen, plan.ink, dict(plan.extra))


# The execution of someone writing their own name: no tremor, thinner where fast, tapered.
_FLUENT = {"tremor": 0.0, "taper": True, "speed_width": 0.45, "blob": 1.0}

# Sample-to-sample variability of one person re-writing a plan (x-heights, radians, log).
_VAR = {"target": 0.04, "turn": 0.1, "timing": 0.05, "offset": 0.05}


def _genuine(plan: Plan, rng) -> tuple[Plan, dict]:
    p = _perturb(plan, rng, **_VAR)
    if rng.random() < 0.1:  # people forget i-dots too, so a missing dot is not a forgery tell
        dots = [i for i, c in enumerate(p.components) if c.role == "dot"]
        if dots:
            del p.components[int(rng.choice(dots))]
    # people sign with whatever pen is at hand: the width varies a lot between samples
    p.pen *= math.exp(rng.normal(0, 0.18))
    p.ink = float(np.clip(p.ink + rng.normal(0, 0.06), 0.5, 1.0))
    return p, _FLUENT


# How far a skilled forger's copy strays from the prototype (standard deviations, in
# x-heights, log-scale or radians). Set so that, with the naive pixel measure of the tests,
# skilled forgeries are clearly harder than random ones but far from indistinguishable.
_FORGER_ERROR = {"aspect": 0.06, "size": 0.07, "shift": 0.12, "target": 0.06, "turn": 0.18,
                 "slant": 0.07}


def _forger(plan: Plan, rng) -> tuple[Plan, dict]:
    """A forger's persistent idea of the signature and the way they execute it."""
    e = _FORGER_ERROR
    comps = []
    sx, sy = math.exp(rng.normal(0, e["aspect"])), math.exp(rng.normal(0, e["aspect"]))
    for c in plan.components:
        c = c.copy()
        # proportion errors: each component rescaled about its own start and shifted
        k = math.exp(rng.normal(0, e["size"]))
        shift = complex(rng.normal(0, e["shift"]), rng.normal(0, e["shift"] / 2))
        rel = c.targets - c.start
        rel = k * (sx * rel.real + 1j * sy * rel.imag)
        c.start = complex(c.start.real * sx, c.start.imag) + shift
        n = len(rel)
        err = 0.0 if c.role == "dot" else rng.normal(0, e["target"], (n, 2)) @ np.array([1, 1j])
        c.targets = c.start + rel + err
        c.dtheta = c.dtheta + rng.normal(0, e["turn"], n)
        comps.append(c)
    p = Plan(comps, plan.slant + rng.normal(0, e["slant"]), plan.pen, plan.ink, dict(plan.extra))
    # the forger's own pen (same population as the writers'), pressed a little harder
    p.pen = rng.uniform(0.07, 0.13) * rng.uniform(1.0, 1.15)
    p.ink = rng.uniform(0.75, 1.0)
    execution = {
        "tremor": rng.uniform(0.012, 0.03),  # in x-heights
        "tremor_scale": rng.uniform(0.06, 0.14),  # wobble correlation length, x-heights
        "slow": rng.uniform(1.2, 1.7),  # stroke spacing factor: slower, less overlap
        "split": rng.uniform(0.1, 0.35),  # share of strokes drawn in two pieces
        "taper": False,
        "speed_width": rng.uniform(0.0, 0.15),
        "blob": rng.uniform(1.1, 1.35),
        "p_missing": rng.uniform(0.05, 0.25),
        "p_extra": rng.uniform(0.0, 0.15),
    }
    return p, execution


def _forgery(fplan: Plan, fexec: dict, rng) -> tuple[Plan, dict]:
    # the forger is as variable from copy to copy as the writer is from signature to signature
    p = _perturb(fplan, rng, **_VAR)
    for i, c in enumerate(p.components):
        p.components[i] = _slow_down(c, fexec, rng)
    if rng.random() < fexec["p_missing"]:
        small = [i for i, c in enumerate(p.components) if c.role in ("dot", "underline")]
        if small:
            del p.components[int(rng.choice(small))]
        else:  # drop the last two strokes of the longest component (a letter or a flourish)
            j = int(np.argmax([len(c.targets) for c in p.components]))
            c = p.components[j]
            if len(c.targets) > 4:
                for name in ("targets", "dtheta", "mu", "sigma", "gap"):
                    setattr(c, name, getattr(c, name)[:-2])
    if rng.random() < fexec["p_extra"]:  # a stray dot or tick near the name
        ref = p.components[int(rng.integers(len(p.components)))]
        q = ref.targets[int(rng.integers(len(ref.targets)))] + complex(*rng.normal(0, 0.5, 2))
        p.components.append(_dot(rng, q, p.extra["style"]))
    p.pen *= math.exp(rng.normal(0, 0.1))
    p.ink = float(np.clip(p.ink + rng.normal(0, 0.06), 0.5, 1.0))
    p.slant += rng.normal(0, 0.03)
    return p, fexec


def _arc_point(a: complex, b: complex, dtheta: float, f: float) -> complex:
    """Point at fraction f of the distance along the arc from a to b that turns by dtheta."""
    d = dtheta if abs(dtheta) > 1e-4 else 1e-4
    D = abs(b - a) * (d / 2) / math.sin(d / 2)
    th = np.angle(b - a) - d / 2
    return complex(a + D * np.exp(1j * th) * (np.exp(1j * d * f) - 1) / (1j * d))


def _slow_down(c: Component, fexec, rng) -> Component:
    """Copying is slow: strokes overlap less, and some are drawn in two pieces."""
    pts, dth, mu, sig, gap = [], [], [], [], []
    prev = c.start
    for i in range(len(c.targets)):
        tgt, d = c.targets[i], c.dtheta[i]
        if c.role != "dot" and rng.random() < fexec["split"]:
            # the point half way along the planned arc: the shape is kept, only segmented
            mid = _arc_point(prev, tgt, d, 0.5)
            pts += [mid, tgt]
            dth += [d / 2, d / 2]
            mu += [c.mu[i] - 0.3, c.mu[i] - 0.3]
            sig += [c.sigma[i], c.sigma[i]]
            gap += [c.gap[i] * fexec["slow"]] * 2
        else:
            pts.append(tgt)
            dth.append(d)
            mu.append(c.mu[i])
            sig.append(c.sigma[i])
            gap.append(c.gap[i] * fexec["slow"])
        prev = tgt
    return Component(c.start, np.array(pts, complex), np.array(dth), np.array(mu), np.array(sig),
                     np.array(gap), c.role)


# --------------------------------------------------------------------------------------------
# rendering


def _strokes(plan: Plan, execution: dict, rng, affine: np.ndarray):
    """Pen paths in signature units after the affine: list of (xy (N,2), width factor (N,))."""
    paths = [_trajectory(c) for c in plan.components]
    vmax = np.percentile(np.concatenate([v for _, v in paths]), 90) + 1e-9
    out = []
    for pos, v in paths:
        xy = np.stack([pos.real, pos.imag], 1)
        seg = np.hypot(*np.diff(xy, axis=0).T)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        if s[-1] < 1e-6:
            s = np.linspace(0, 0.05, len(s))
        # resample by arc length: uniform spacing for drawing and for the tremor
        step = 0.02
        m = max(int(s[-1] / step) + 2, 4)
        su = np.linspace(0, s[-1], m)
        xy = np.stack([np.interp(su, s, xy[:, 0]), np.interp(su, s, xy[:, 1])], 1)
        v = np.interp(su, s, v) / vmax
        if execution["tremor"] > 0 and m > 8:
            # tremor: band-limited noise across the path (a few wobbles per x-height)
            k = execution["tremor_scale"] / step
            wob = gaussian_filter(rng.normal(0, 1, m), k, mode="nearest")
            wob *= execution["tremor"] / (wob.std() + 1e-9)
            d = np.gradient(xy, axis=0)
            nrm = np.stack([-d[:, 1], d[:, 0]], 1) / (np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-12)
            xy = xy + wob[:, None] * nrm
        # pressure: a fluent pen thins out when fast, a forger presses evenly; the mean is
        # kept at 1 so that the forger's extra pressure is only what p.pen says
        w = 1.0 - execution["speed_width"] * np.clip(v, 0, 1.5)
        w /= w.mean()
        if execution["taper"]:
            # the genuine pen lands and lifts in flight: tapered ends
            L = max(su[-1], 1e-6)
            ramp = np.clip(np.minimum(su, L - su) / 0.25, 0, 1)
            w = w * (0.35 + 0.65 * ramp)
        else:
            w = w.copy()
            nb = max(1, min(3, m // 4))
            w[:nb] *= execution["blob"]
            w[-nb:] *= execution["blob"]
        shear = np.array([[1.0, plan.slant], [0.0, 1.0]])
        xy = xy @ (affine @ shear).T
        out.append((xy, w))
    return out


def _affine(rng, rot_sd, scale_sd, shear_sd):
    a = rng.normal(0, rot_sd)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    s = np.diag(np.exp(rng.normal(0, scale_sd, 2)))
    sh = np.array([[1.0, rng.normal(0, shear_sd)], [0.0, 1.0]])
    return r @ s @ sh


def _scan_params(rng) -> dict:
    """Everything about the file that is not the signature; the same law for both classes."""
    mode = FILE_MODES[int(rng.choice(len(FILE_MODES), p=_MODE_P))]
    # like the CEDAR scans: mostly 400 wide; the height follows the signature (cut by hand
    # around it, with a random amount of extra room), between a strip and a square
    width = 400 if rng.random() < 0.6 else int(rng.integers(265, 401))
    clean = rng.random() < 0.25
    blue = rng.random() < 0.35
    return {
        "mode": mode,
        "width": width,
        "room": rng.uniform(1.0, 1.8),
        "margin": rng.uniform(0.03, 0.15, 2),
        "place": rng.uniform(0, 1, 2),
        "paper": 255.0 if clean else rng.uniform(212, 250),
        "tint": rng.normal(0, 3, 3) * (not clean),
        "shade": 0.0 if clean else rng.uniform(0, 4),
        "noise": 0.0 if clean else rng.uniform(0.5, 6),
        "blur": rng.uniform(0.3, 0.8),
        "ink_rgb": np.array([35, 45, 120] if blue else [25, 25, 30]) + rng.normal(0, 8, 3),
        "colors": int(rng.choice([16, 32, 64, 256])),
    }


def _extent(strokes) -> tuple[np.ndarray, np.ndarray]:
    allxy = np.concatenate([xy for xy, _ in strokes])
    lo, hi = allxy.min(0), allxy.max(0)
    return lo, np.maximum(hi - lo, 1e-3)


def _render(strokes, plan: Plan, scan: dict, rng, ref_ext: np.ndarray) -> Image.Image:
    lo, ext = _extent(strokes)
    ext = ext + plan.pen * 1.3  # room for the ink outside the path
    W = scan["width"]
    fx, fy = 1 - 2 * scan["margin"]
    # the canvas height follows the writer's prototype, not this sample: a forgery gets the
    # same canvas law as the genuine samples of the writer it imitates
    H = int(np.clip(round(ref_ext[1] * (W * fx / ref_ext[0]) / fy * scan["room"]), 100, 400))
    scale = min(W * fx / ext[0], H * fy / ext[1])
    # the pen is a physical width, but scans are resized: keep it within seen pixel widths
    pen_px = float(np.clip(plan.pen * scale, 1.5, 4.5))
    free = np.array([W, H]) - scale * ext
    off = free * (0.25 + 0.5 * scan["place"])  # random placement inside the margins
    S = 2  # draw at 2x, downsample = anti-aliasing
    cov = Image.new("L", (W * S, H * S), 0)
    draw = ImageDraw.Draw(cov)
    for xy, w in strokes:
        px = (xy - lo) * scale + off
        px[:, 1] = H - px[:, 1]  # y up -> image rows down
        px *= S
        wq = np.maximum(np.round(w * pen_px * S), 1).astype(int)
        fill = int(round(255 * plan.ink))
        # one polyline call per run of equal width keeps the drawing in C
        cuts = np.flatnonzero(np.diff(wq)) + 1
        bounds = np.concatenate([[0], cuts, [len(wq)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            seg = px[a:min(b + 1, len(px))]
            ww = int(wq[a])
            pts = [tuple(p) for p in seg.tolist()]
            if len(pts) >= 2:
                # points are ~1 px apart, so plain joints leave no visible notches
                draw.line(pts, fill=fill, width=ww)
            r = ww / 2
            x0, y0 = pts[0]
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=fill)
        x0, y0 = px[-1]
        r = wq[-1] / 2
        draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=fill)
    cov = np.asarray(cov.reduce(S), dtype=np.float32) / 255.0
    cov = gaussian_filter(cov, scan["blur"])
    return _to_file(cov, scan, rng)


def _to_file(cov: np.ndarray, scan: dict, rng) -> Image.Image:
    H, W = cov.shape
    mode = scan["mode"]
    ink = np.clip(scan["ink_rgb"], 0, 255).astype(np.float32)
    if mode == "RGBA-alpha":
        # transparent sheet: the ink is only in the alpha channel
        a = np.clip(cov * 255 + rng.normal(0, 1.0, cov.shape) * (cov > 0.02), 0, 255)
        rgba = np.empty((H, W, 4), np.uint8)
        rgba[..., :3] = np.round(ink).astype(np.uint8)
        rgba[..., 3] = np.round(a).astype(np.uint8)
        return Image.fromarray(rgba, "RGBA")
    paper = np.full((H, W), scan["paper"], np.float32)
    if scan["shade"] > 0:
        # uneven lighting of the scanner lid: a gentle gradient plus a very broad blotch
        gx, gy = rng.normal(0, 1, 2)
        g = gaussian_filter(rng.normal(0, 1, (5, 5)), 1.0)
        g = np.asarray(Image.fromarray(g.astype(np.float32), "F").resize((W, H), Image.BICUBIC))
        g = g / (g.std() + 1e-6) + (gx * np.arange(W, dtype=np.float32) / W)[None, :] \
            + (gy * np.arange(H, dtype=np.float32) / H)[:, None]
        paper += scan["shade"] * (g - g.mean()) / (g.std() + 1e-6)
    noise = 0.0
    if scan["noise"] > 0:
        noise = scan["noise"] * rng.standard_normal((H, W), dtype=np.float32)
    if mode == "L":
        ink_l = float(ink @ np.array([0.299, 0.587, 0.114]))
        gray = paper + float(scan["tint"].mean()) + (ink_l - paper) * cov + noise
        return Image.fromarray(np.clip(gray + 0.5, 0, 255).astype(np.uint8), "L")
    paper = paper + noise
    rgb = np.empty((H, W, 3), np.uint8)
    for k in range(3):
        ch = paper + float(scan["tint"][k])
        rgb[..., k] = np.clip(ch + (float(ink[k]) - ch) * cov + 0.5, 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    if mode == "RGB":
        return im
    if mode == "P":
        # octree keeps the rare dark ink colours that median cut merges into the paper
        return im.quantize(colors=scan["colors"], method=Image.Quantize.FASTOCTREE)
    return im.convert("RGBA")  # opaque alpha


# --------------------------------------------------------------------------------------------
# the data set


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


def _write_writer(args):
    out, seed, w, n_genuine, n_forged = args
    genuine, forged = render_writer(seed, w, n_genuine, n_forged)
    for n, im in enumerate(genuine, 1):
        im.save(Path(out) / "full_org" / f"original_{w}_{n}.png", compress_level=1)
    for n, im in enumerate(forged, 1):
        im.save(Path(out) / "full_forg" / f"forgeries_{w}_{n}.png", compress_level=1)
    return w


def _expected(out: Path, params: dict) -> list[Path]:
    files = [out / "full_org" / f"original_{w}_{n}.png"
             for w in range(1, params["n_writers"] + 1) for n in range(1, params["n_genuine"] + 1)]
    files += [out / "full_forg" / f"forgeries_{w}_{n}.png"
              for w in range(1, params["n_writers"] + 1) for n in range(1, params["n_forged"] + 1)]
    return files


def is_complete(out_dir, **params) -> bool:
    """True when out_dir holds a finished set made by this generator version with params."""
    out = Path(out_dir)
    try:
        meta = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    want = {"generator_version": GENERATOR_VERSION, **params}
    if not meta.get("complete") or any(meta.get(k) != v for k, v in want.items()):
        return False
    return all(p.is_file() for p in _expected(out, params))


def generate(out_dir, *, n_writers: int = 30, n_genuine: int = 24, n_forged: int = 24,
             seed: int = 0, overwrite: bool = False, processes: int | None = None) -> Path:
    """Write the synthetic set to out_dir (CEDAR layout) and return out_dir as a Path.

    A complete set with the same parameters is reused as is unless overwrite=True.
    A folder with CEDAR-like images but no manifest of ours (say, the real CEDAR) is never
    touched without overwrite=True. processes: worker processes; None = 2 where forking is
    safe (POSIX, 2+ cores, no other thread and no TensorFlow in this process), else 1. The
    files are the same whatever the number of processes.
    """
    for name, v in (("n_writers", n_writers), ("n_genuine", n_genuine), ("n_forged", n_forged)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    params = {"n_writers": int(n_writers), "n_genuine": int(n_genuine), "n_forged": int(n_forged),
              "seed": int(seed)}
    out = Path(out_dir)
    if not overwrite and is_complete(out, **params):
        return out
    org, forg = out / "full_org", out / "full_forg"
    ours = (out / MANIFEST).is_file()
    foreign = any(d.is_dir() and any(d.glob("*.png")) for d in (org, forg))
    if foreign and not ours and not overwrite:
        raise FileExistsError(f"{out} holds images that sigkit.synth did not write; "
                              "pass overwrite=True to replace them")
    for d in (org, forg):
        if d.is_dir():  # stale files from a larger earlier set must not survive
            for pat in ("original_*.png", "forgeries_*.png"):
                for f in d.glob(pat):
                    f.unlink()
        d.mkdir(parents=True, exist_ok=True)
    meta = {"generator": "sigkit.synth", "generator_version": GENERATOR_VERSION, **params,
            "n_forgers_per_writer": N_FORGERS, "complete": False}
    _write_json(out / MANIFEST, meta)
    jobs = [(str(out), params["seed"], w, params["n_genuine"], params["n_forged"])
            for w in range(1, params["n_writers"] + 1)]
    if processes is None:
        processes = 2 if _fork_is_safe() and len(jobs) > 2 else 1
    if processes > 1:
        import multiprocessing as mp

        # fork, not spawn: spawn re-runs an unguarded calling script in every worker
        with mp.get_context("fork").Pool(min(processes, len(jobs))) as pool:
            list(pool.imap_unordered(_write_writer, jobs))
    else:
        for j in jobs:
            _write_writer(j)
    (out / "README.md").write_text(_readme(params))
    _write_json(out / MANIFEST, {**meta, "complete": True})
    return out


def _fork_is_safe() -> bool:
    import sys
    import threading

    # forking a process that runs threads (TensorFlow's pools, say) can deadlock the child
    return (os.name == "posix" and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1
            and "tensorflow" not in sys.modules)


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _readme(p: dict) -> str:
    total = p["n_writers"] * (p["n_genuine"] + p["n_forged"])
    return f"""# Synthetic offline signatures (sigkit.synth)

Generated by `sigkit.synth.generate` (generator version {GENERATOR_VERSION}) with
seed={p['seed']}, n_writers={p['n_writers']}, n_genuine={p['n_genuine']}, n_forged={p['n_forged']}
({total} images). Regenerate with

    python -m sigkit.synth OUT_DIR --writers {p['n_writers']} --genuine {p['n_genuine']} \\
        --forged {p['n_forged']} --seed {p['seed']}

Layout (CEDAR): `full_org/original_<w>_<n>.png` are genuine signatures of writer w,
`full_forg/forgeries_<w>_<n>.png` skilled forgeries of writer w ({N_FORGERS} forgers per writer,
forgery n by forger (n-1) mod {N_FORGERS}).

Signatures are sigma-lognormal pen trajectories (Plamondon's kinematic theory) of a
writer-specific cursive action plan; forgeries imitate the plan with a forger's proportion
and slant errors, slow segmented strokes, tremor and even pressure. Files come as L, RGB, P,
opaque RGBA and transparent RGBA (ink in alpha) with one distribution for both classes.
Everything is synthetic: no real signature was used. See the docstring of `sigkit/synth.py`.
"""


if __name__ == "__main__":  # `python -m sigkit.synth OUT ...` is `sigkit synth OUT ...`
    from sigkit.cli import main

    raise SystemExit(main(["synth", *sys.argv[1:]]))
