"""The data set on disk: generate() writes the CEDAR folders, the manifest and a README.

The manifest (`MANIFEST`, written atomically, marked complete last) records the parameters and
`GENERATOR_VERSION`, so a re-run with the same parameters reuses a finished set (`is_complete`)
instead of drawing it again, and a folder of images that has no manifest of ours (the real
CEDAR, say) is never overwritten by accident. Writers are independent, so generate() can hand
them to forked worker processes without changing a byte of the output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sigkit.synth.samples import render_writer
from sigkit.synth.writers import N_FORGERS

GENERATOR_VERSION = "1"
MANIFEST = "sigkit-synth.json"


def _write_writer(args):
    out, seed, w, n_genuine, n_forged = args
    genuine, forged = render_writer(seed, w, n_genuine, n_forged)
    for n, im in enumerate(genuine, 1):
        im.save(Path(out) / "full_org" / f"original_{w}_{n}.png", compress_level=1)
    for n, im in enumerate(forged, 1):
        im.save(Path(out) / "full_forg" / f"forgeries_{w}_{n}.png", compress_level=1)
    return w


def _expected(out: Path, params: dict) -> list[Path]:
    files = [
        out / "full_org" / f"original_{w}_{n}.png"
        for w in range(1, params["n_writers"] + 1)
        for n in range(1, params["n_genuine"] + 1)
    ]
    files += [
        out / "full_forg" / f"forgeries_{w}_{n}.png"
        for w in range(1, params["n_writers"] + 1)
        for n in range(1, params["n_forged"] + 1)
    ]
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


def generate(
    out_dir,
    *,
    n_writers: int = 30,
    n_genuine: int = 24,
    n_forged: int = 24,
    seed: int = 0,
    overwrite: bool = False,
    processes: int | None = None,
) -> Path:
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
    params = {"n_writers": int(n_writers), "n_genuine": int(n_genuine), "n_forged": int(n_forged), "seed": int(seed)}
    out = Path(out_dir)
    if not overwrite and is_complete(out, **params):
        return out
    _prepare_folders(out, overwrite)
    meta = {
        "generator": "sigkit.synth",
        "generator_version": GENERATOR_VERSION,
        **params,
        "n_forgers_per_writer": N_FORGERS,
        "complete": False,
    }
    _write_json(out / MANIFEST, meta)
    jobs = [
        (str(out), params["seed"], w, params["n_genuine"], params["n_forged"])
        for w in range(1, params["n_writers"] + 1)
    ]
    _run_writer_jobs(jobs, processes)
    (out / "README.md").write_text(_readme(params))
    _write_json(out / MANIFEST, {**meta, "complete": True})
    return out


def _prepare_folders(out: Path, overwrite: bool) -> None:
    """Create empty CEDAR image folders in out, refusing to clobber a set that is not ours."""
    org, forg = out / "full_org", out / "full_forg"
    ours = (out / MANIFEST).is_file()
    foreign = any(d.is_dir() and any(d.glob("*.png")) for d in (org, forg))
    if foreign and not ours and not overwrite:
        raise FileExistsError(
            f"{out} holds images that sigkit.synth did not write; pass overwrite=True to replace them"
        )
    for d in (org, forg):
        if d.is_dir():  # stale files from a larger earlier set must not survive
            for pat in ("original_*.png", "forgeries_*.png"):
                for f in d.glob(pat):
                    f.unlink()
        d.mkdir(parents=True, exist_ok=True)


def _run_writer_jobs(jobs: list, processes: int | None) -> None:
    """Render every writer's job, in forked workers where that is safe and worth it."""
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


def _fork_is_safe() -> bool:
    import sys
    import threading

    # forking a process that runs threads (TensorFlow's pools, say) can deadlock the child
    return (
        os.name == "posix"
        and (os.cpu_count() or 1) >= 2
        and threading.active_count() == 1
        and "tensorflow" not in sys.modules
    )


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _readme(p: dict) -> str:
    total = p["n_writers"] * (p["n_genuine"] + p["n_forged"])
    return f"""# Synthetic offline signatures (sigkit.synth)

Generated by `sigkit.synth.generate` (generator version {GENERATOR_VERSION}) with
seed={p["seed"]}, n_writers={p["n_writers"]}, n_genuine={p["n_genuine"]}, n_forged={p["n_forged"]}
({total} images). Regenerate with

    python -m sigkit.synth OUT_DIR --writers {p["n_writers"]} --genuine {p["n_genuine"]} \\
        --forged {p["n_forged"]} --seed {p["seed"]}

Layout (CEDAR): `full_org/original_<w>_<n>.png` are genuine signatures of writer w,
`full_forg/forgeries_<w>_<n>.png` skilled forgeries of writer w ({N_FORGERS} forgers per writer,
forgery n by forger (n-1) mod {N_FORGERS}).

Signatures are sigma-lognormal pen trajectories (Plamondon's kinematic theory) of a
writer-specific cursive action plan; forgeries imitate the plan with a forger's proportion
and slant errors, slow segmented strokes, tremor and even pressure. Files come as L, RGB, P,
opaque RGBA and transparent RGBA (ink in alpha) with one distribution for both classes.
Everything is synthetic: no real signature was used. See the docstring of `sigkit/synth.py`.
"""
