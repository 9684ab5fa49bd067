"""Pen movement: sigma-lognormal strokes and the writer's cursive action plan.

A `Component` is one pen-down movement, a chain of target points each reached by one
lognormal stroke; `_trajectory` evaluates its path in closed form (see the package docstring
for the model) and `_arc_point` gives a point part of the way along one stroke's arc.
`_writer_plan` draws a writer: their letter shapes, heights, loops, slant, timing and layout
(initials, words, i-dots, underline, flourish), as a `Plan` that genuine samples re-execute and
forgers imitate (`sigkit.synth.writers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

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
        return Component(
            self.start,
            self.targets.copy(),
            self.dtheta.copy(),
            self.mu.copy(),
            self.sigma.copy(),
            self.gap.copy(),
            self.role,
        )


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


def _arc_point(a: complex, b: complex, dtheta: float, f: float) -> complex:
    """Point at fraction f of the distance along the arc from a to b that turns by dtheta."""
    d = dtheta if abs(dtheta) > 1e-4 else 1e-4
    D = abs(b - a) * (d / 2) / math.sin(d / 2)
    th = np.angle(b - a) - d / 2
    return complex(a + D * np.exp(1j * th) * (np.exp(1j * d * f) - 1) / (1j * d))


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
        kind = "cap" if (k == 0 and first_tall) else rng.choice(["x", "asc", "desc", "hump", "round"], p=st["kinds"])
        up = st["loop"] + rng.normal(0, 0.35)
        down = st["down"] + rng.normal(0, 0.25)
        if kind == "cap":
            h = st["cap"]
            pts += [
                complex(x + 0.3 * w, h),
                complex(x + 0.15 * w, 0.0),
                complex(x + 0.8 * w, 0.8),
                complex(x + 1.1 * w, 0.0),
            ]
            dth += [rng.normal(0.4, 0.6), rng.normal(0, 0.3), rng.normal(-1.2, 0.5), down]
            x += 1.2 * w
        elif kind == "x":
            pts += [complex(x + 0.5 * w, 1.0 + rng.normal(0, 0.08)), complex(x + w, 0.0)]
            dth += [up, down]
            if rng.random() < st["p_dot"]:
                dots.append(complex(x + 0.5 * w + 0.6 * st["slant"], 1.7 + rng.normal(0, 0.1)))
            x += w
        elif kind == "asc":
            pts += [complex(x + 0.55 * w, st["asc"] * math.exp(rng.normal(0, 0.08))), complex(x + 0.45 * w, 0.0)]
            dth += [abs(up) + 1.0, rng.normal(0, 0.2)]
            x += 0.75 * w
        elif kind == "desc":
            pts += [complex(x + 0.5 * w, 1.0), complex(x + 0.4 * w, -st["desc"]), complex(x + w, 0.3)]
            dth += [up, rng.normal(0, 0.2), -(abs(up) + 1.2)]
            x += w
        elif kind == "hump":
            pts += [
                complex(x + 0.25 * w, 1.0),
                complex(x + 0.35 * w, 0.0),
                complex(x + 0.75 * w, 1.0),
                complex(x + 0.9 * w, 0.0),
            ]
            dth += [-1.0 + 0.3 * up, rng.normal(0, 0.2), -1.3 + 0.3 * up, down]
            x += w
        else:  # round: a/o, a counter-clockwise oval closed by a down-stroke
            pts += [
                complex(x + 0.7 * w, 1.0),
                complex(x + 0.2 * w, 0.2),
                complex(x + 0.75 * w, 0.9),
                complex(x + w, 0.0),
            ]
            dth += [1.0 + 0.3 * up, 1.8, 0.8, down]
            x += w
    # a writer's size drift along the word (commonly diminishing), about the baseline
    pts = np.asarray(pts, complex)
    k = 1.0 - st["diminish"] * np.clip((pts.real - x0) / max(x - x0, 1e-6), 0, 1)
    pts = pts.real + 1j * pts.imag * k
    kd = 1.0 - st["diminish"] * np.clip((np.real(dots) - x0) / max(x - x0, 1e-6), 0, 1)
    dots = list(np.real(dots) + 1j * np.imag(dots) * kd)
    return start, list(pts), dth, dots, x


def _writer_style(rng) -> dict:
    """Draw a writer's letter shapes, heights, slant and timing (the constants of their hand)."""
    return {
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


def _initials(rng, st, layout) -> tuple[list[Component], float]:
    """The layout's capital initials, each maybe with a full stop, and the x where the name goes on."""
    comps: list[Component] = []
    x = 0.0
    for _ in range(2 if layout == "initials+surname" else 1 if layout == "initial+surname" else 0):
        h = st["cap"] * math.exp(rng.normal(0, 0.1))
        pts = [complex(rng.uniform(0.2, 0.8), h), complex(rng.uniform(-0.2, 0.4), rng.uniform(-0.3, 0.2))]
        dth = [rng.normal(0.3, 0.8), rng.normal(0, 0.4)]
        if rng.random() < 0.7:
            pts.append(complex(rng.uniform(0.9, 1.6), rng.uniform(0.5, 0.85) * h))
            dth.append(rng.normal(-1.5, 0.8))
            pts.append(complex(rng.uniform(1.1, 1.9), rng.uniform(-0.2, 0.5)))
            dth.append(rng.normal(0, 0.6))
        pts = [p + x for p in pts]
        comps.append(
            _component(rng, complex(x + rng.uniform(-0.4, 0.2), rng.uniform(0.0, 0.9)), pts, dth, st, "initial")
        )
        x = max(p.real for p in pts) + rng.uniform(0.3, 0.8)
        if rng.random() < 0.4:  # a full stop after the initial
            comps.append(_dot(rng, complex(x - 0.1, rng.uniform(-0.05, 0.15)), st))
            x += 0.3
    return comps, x


def _underline(rng, st, x_end: float) -> Component:
    """A separate underline stroke below the name, ending near its right edge."""
    y = -rng.uniform(0.7, 1.3)
    return _component(
        rng,
        complex(rng.uniform(-0.3, 0.8), y),
        [complex(x_end + rng.uniform(-0.3, 0.5), y + rng.normal(0, 0.25))],
        [rng.normal(0, 0.3)],
        st,
        "underline",
    )


def _writer_plan(rng) -> Plan:
    st = _writer_style(rng)
    layout = rng.choice(["initial+surname", "initials+surname", "name", "first+surname"], p=[0.35, 0.15, 0.25, 0.25])
    comps, x = _initials(rng, st, layout)
    if layout == "first+surname":
        s, pts, dth, dots, x = _word(rng, {**st, "letters": (2, 4)}, x, first_tall=True)
        comps.append(_component(rng, s, pts, dth, st, "word"))
        comps += [_dot(rng, d, st) for d in dots]
        x += rng.uniform(0.6, 1.2)
    s, pts, dth, dots, x_end = _word(rng, st, x, first_tall=rng.random() < 0.7)
    if rng.random() < 0.35:  # flourish: the last stroke swings back under the name
        back = rng.uniform(0.2, 0.9) * (x_end - x) + x
        pts += [complex(x_end + rng.uniform(0.2, 0.6), rng.uniform(0.3, 1.2)), complex(back, -rng.uniform(0.5, 1.2))]
        dth += [rng.uniform(1.5, 3.0), rng.normal(0, 0.4)]
    comps.append(_component(rng, s, pts, dth, st, "word"))
    comps += [_dot(rng, d, st) for d in dots]
    if rng.random() < 0.2:  # separate underline
        comps.append(_underline(rng, st, x_end))
    # baseline drift: a tilt and a bow along the writing direction
    tilt, bow = rng.normal(0, 0.07), rng.normal(0, 0.012)
    span = max(x_end, 1.0)
    for c in comps:
        c.start = _drift(c.start, tilt, bow, span)
        c.targets = _drift(c.targets, tilt, bow, span)
    return Plan(
        comps, slant=float(st["slant"]), pen=rng.uniform(0.07, 0.13), ink=rng.uniform(0.7, 0.95), extra={"style": st}
    )


def _dot(rng, p, st):
    return _component(rng, p, [p + 0.06 * np.exp(1j * rng.uniform(0, 6.3))], [0.0], st, "dot")


def _drift(z, tilt, bow, span):
    x = np.real(z)
    return z + 1j * (tilt * x + bow * (x - span / 2) ** 2)
