"""Variation: how a writer re-executes their own plan, and how skilled forgers imitate it.

`_genuine` perturbs the writer's `Plan` by the writer's own variability (`_VAR`) and executes
it fluently (`_FLUENT`: no tremor, thinner where fast, tapered ends). Each writer has
`N_FORGERS` forgers: `_forger` draws one forger's persistent errors (`_FORGER_ERROR`) and
execution (tremor, slowness, split strokes, even pressure, blunt ends, missing or extra small
elements), and `_forgery` makes one copy from it. The execution dicts are read by
`sigkit.synth.render._strokes`.
"""

from __future__ import annotations

import math

import numpy as np

from sigkit.synth.trajectory import Component, Plan, _arc_point, _dot

N_FORGERS = 3


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
_FORGER_ERROR = {"aspect": 0.06, "size": 0.07, "shift": 0.12, "target": 0.06, "turn": 0.18, "slant": 0.07}


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
    return Component(c.start, np.array(pts, complex), np.array(dth), np.array(mu), np.array(sig), np.array(gap), c.role)
