"""Rendering: from a plan and its execution to an image file in one of the scanned forms.

`_strokes` turns the pen paths into drawable polylines with a width that follows pressure
(and, for a forger, tremor); `_render` draws them at 2x, downsamples and blurs them like a
scanner on a canvas whose size follows the writer's prototype; `_to_file` lays the ink on
paper (tone, shading, noise) in one of `FILE_MODES`. Everything about the file comes from
`_scan_params`, one law that never sees the class, so the file form does not tell a forgery.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from sigkit.synth.trajectory import Plan, _trajectory

# file modes, one distribution for both classes
FILE_MODES = ("L", "RGB", "P", "RGBA", "RGBA-alpha")
_MODE_P = (0.40, 0.15, 0.15, 0.15, 0.15)


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
            seg = px[a : min(b + 1, len(px))]
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
        g = (
            g / (g.std() + 1e-6)
            + (gx * np.arange(W, dtype=np.float32) / W)[None, :]
            + (gy * np.arange(H, dtype=np.float32) / H)[:, None]
        )
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
