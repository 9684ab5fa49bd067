"""Run the numbered notebooks headlessly with papermill into `reports/<run>/`.

    python -m sigkit.reports [--profile NAME] [--data PATH] [--run NAME] [--params FILE.yaml]

This is what `make reports` calls. Each notebook gets only the parameters its `parameters` cell
declares (data, run_dir, seed, profile, ... and any YAML extras it knows). The run is written to a
staging folder first and swapped in only when every notebook succeeded, so a failed notebook stops
the run with papermill's error and leaves the previous `reports/<run>/` untouched (the failed
attempt stays in `reports/.<run>.failed/` for inspection).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import yaml

from sigkit.paths import project_root
from sigkit.quiet import import_tensorflow_quietly, stderr_to

log = logging.getLogger(__name__)

KERNEL = "sigkit"
EXECUTION_TIMEOUT_S = 1800  # per cell


def notebooks(folder: Path | None = None) -> list[Path]:
    folder = folder or project_root() / "notebooks"
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    return found


def kernel_name(preferred: str = KERNEL) -> str:
    """The registered 'sigkit' kernel (the Makefile installs it), else the default python3."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if preferred in specs:
        return preferred
    log.warning("Jupyter kernel %r is not registered (run `make venv`); using python3", preferred)
    return "python3"


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged `parameters`."""
    import ast

    import nbformat

    names = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def load_params(path: str | Path | None) -> dict:
    if not path:
        return {}
    params = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: the parameters file must hold a mapping of name: value")
    return params


def run_reports(
    profile: str = "default",
    data: str | None = None,
    run: str | None = None,
    params: dict | None = None,
    only: list[str] | None = None,
    reports_dir: Path | None = None,
    notebook_dir: Path | None = None,
    timeout: int = EXECUTION_TIMEOUT_S,
    reuse: bool = False,
) -> Path:
    """Execute the notebooks in order; return the run folder.

    With `reuse`, the run starts from a copy of its previous folder, so trainings that finished
    there (the model, each variant) are read back instead of trained again: a change to the
    evaluation re-runs in minutes. The config must be the same (training refuses another one).
    """
    import papermill

    from sigkit.config import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    root = project_root()
    run = run or profile
    reports_dir = Path(reports_dir or root / "reports")
    final = reports_dir / run
    staging = reports_dir / f".{run}.partial"
    failed = reports_dir / f".{run}.failed"
    _fresh_staging(staging, final, reuse)

    values = {"profile": profile, "data": data, "run_dir": str(staging), **(params or {})}
    chosen = _chosen_notebooks(notebook_dir or root / "notebooks", only)
    kernel = kernel_name()
    declared_anywhere, seconds = set(), {}
    for notebook in chosen:
        declared = declared_parameters(notebook)
        declared_anywhere |= declared
        given = {k: v for k, v in values.items() if k in declared}
        log.info("running %s with %s", notebook.name, given)
        start = time.perf_counter()
        try:
            _execute(papermill, notebook, staging, given, kernel, timeout, root)
            seconds[notebook.stem] = round(time.perf_counter() - start, 1)
        except Exception:
            shutil.rmtree(failed, ignore_errors=True)
            staging.rename(failed)
            log.error("%s failed; %s is untouched; the failed run is in %s", notebook.name, final, failed)
            raise
    unknown = set(params or {}) - declared_anywhere
    if unknown:
        log.warning("parameters no notebook declares (ignored): %s", sorted(unknown))

    timings = staging / "timings.json"
    earlier = json.loads(timings.read_text())["notebook_seconds"] if reuse and timings.is_file() else {}
    # a run of only some notebooks keeps the others' recorded times
    seconds = {name: seconds.get(name, earlier.get(name)) for name in sorted({*earlier, *seconds})}
    timings.write_text(json.dumps({"machine": machine(), "notebook_seconds": seconds}, indent=2))
    write_summary(staging, run=run, profile=profile, data=data)
    _swap_in(staging, final, reports_dir / f".{run}.old")
    shutil.rmtree(failed, ignore_errors=True)
    log.info("reports written to %s", final)
    return final


def _chosen_notebooks(folder: Path, only: list[str] | None) -> list[Path]:
    """The numbered notebooks of folder, or those whose names start with one of `only`."""
    return [nb for nb in notebooks(folder) if not only or any(nb.name.startswith(o) for o in only)]


def _fresh_staging(staging: Path, final: Path, reuse: bool) -> None:
    """An empty staging folder, or with `reuse` a copy of the previous run without its notebooks."""
    shutil.rmtree(staging, ignore_errors=True)
    if reuse and final.exists():
        log.info("starting from a copy of %s (finished trainings are reused)", final)
        shutil.copytree(final, staging, ignore=shutil.ignore_patterns("*.ipynb"))
    (staging / "figures").mkdir(parents=True, exist_ok=True)


def _execute(papermill, notebook: Path, staging: Path, given: dict, kernel: str, timeout: int, root: Path) -> None:
    """Run one notebook into the staging folder with papermill, its cells' output streamed live."""
    with stderr_to(staging / "kernels.log"):  # TensorFlow's C++ start-up lines; kept with the run
        papermill.execute_notebook(
            str(notebook),
            str(staging / notebook.name),
            parameters=given,
            kernel_name=kernel,
            execution_timeout=timeout,
            cwd=str(root),
            progress_bar=False,
            stdout_file=sys.stdout,  # what the cells print, e.g. one line per training epoch, as it happens
        )


def _swap_in(staging: Path, final: Path, old: Path) -> None:
    """Replace the previous run folder with the finished staging one, the old one moved aside first."""
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def machine() -> str:
    """The processor the run's times were taken on, e.g. "2-core x86_64 CPU (AMD EPYC 9B14)"."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {platform.machine()} CPU" + (f" ({model})" if model else "")


def write_summary(run_dir: Path, *, run: str, profile: str, data: str | None) -> Path:
    """`summary.md`: what the run used, its results table, its numbers, its figures."""
    lines = [f"# sigkit run `{run}`", "", f"- profile: `{profile}`", f"- data: `{data or 'embedded synthetic set'}`"]
    read = {
        name: json.loads((run_dir / name).read_text())
        for name in ("data.json", "training.json", "metrics.json", "experiments.json", "timings.json")
        if (run_dir / name).exists()
    }
    if "metrics.json" in read:
        lines += ["", "## Results (test writers; thresholds from the validation writers)", ""]
        lines += results_table(read["metrics.json"].get("protocols", []))
    if "experiments.json" in read:
        lines += ["", "## Ablation and limited data (test EER, skilled forgeries)", ""] + experiments_table(
            read["experiments.json"]
        )
    for name in ("training.json", "data.json"):
        if name in read:
            lines += ["", f"## {name}", "", "| key | value |", "| --- | --- |"]
            for key, value in flatten({k: v for k, v in read[name].items() if k != "config"}).items():
                lines.append(f"| {key} | {value} |")
    if "timings.json" in read:
        timings = read["timings.json"]
        times = timings.get("notebook_seconds", {})
        lines += ["", f"## Time (on a {timings.get('machine', 'CPU')})", "", "| notebook | seconds |", "| --- | --- |"]
        lines += [f"| {name} | {value:.0f} |" for name, value in times.items()]
        lines.append(f"| all | {sum(times.values()):.0f} |")
    figures = sorted((run_dir / "figures").glob("*.png"))
    if figures:
        lines += ["", "## Figures", ""] + [f"![{f.stem}](figures/{f.name})" for f in figures]
    summary = run_dir / "summary.md"
    summary.write_text("\n".join(lines) + "\n")
    return summary


def results_table(protocols: list[dict]) -> list[str]:
    """Markdown rows of `metrics.json`'s protocols: the paper's metrics in percent at the validation
    threshold, and the EER (mean over draws of the references, its spread, its interval)."""
    lines = [
        "| protocol | accuracy | precision | recall | F1 | EER | EER std over draws | EER 95 % CI | AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in protocols:
        ci = f"{100 * m['eer_ci'][0]:.1f}-{100 * m['eer_ci'][1]:.1f}" if m.get("eer_ci") else ""
        spread = f"{100 * m['eer_std']:.2f} ({m['draws']})" if m.get("draws", 1) > 1 else ""
        lines.append(
            f"| {m['label']} | {100 * m['accuracy']:.2f} | {100 * m['precision']:.2f} | {100 * m['recall']:.2f} | "
            f"{100 * m['f1']:.2f} | {100 * m['eer']:.2f} | {spread} | {ci} | {m['auc']:.3f} |"
        )
    return lines


def experiments_table(results: dict) -> list[str]:
    from sigkit.config import Config

    keys = sorted(
        {
            key
            for r in results.values()
            for key, value in r.items()
            if key.startswith("eer_") and isinstance(value, (int, float))
        }
    )
    lines = [
        "| variant | head | attention | references per writer | epochs | val EER | "
        + " | ".join(keys)
        + " | single skilled EER 95 % CI |",
        "| --- " * (6 + len(keys)) + "| --- |",
    ]
    for name, r in results.items():
        ci = r.get("eer_single_skilled_ci")
        config = Config.from_dict(r["config"])
        lines.append(
            f"| {name} | {config.model.head} | {config.model.attention} | "
            f"{r.get('references_used', config.split.references_per_writer)} | {r['epochs_run']} | "
            f"{r['val_eer']:.2f} | "
            + " | ".join(f"{r[key]:.2f}" for key in keys)
            + (f" | {ci[0]:.1f}-{ci[1]:.1f} |" if ci else " | |")
        )
    limited = [name for name in results if name.startswith("references_")]
    most = max(limited, key=lambda name: int(name.split("_")[1]), default=None)
    baseline = "main" if "main" in results else most  # the run's own model, when the notebook reused it
    arms = [name for name in ("no_attention", "comparison") if name in results]
    if baseline and arms:
        from sigkit.experiment import ablation_verdicts

        lines += [""] + [f"- {sentence}" for sentence in ablation_verdicts(results, baseline, arms)]
    return lines


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = round(value, 4) if isinstance(value, float) else value
    return out


def main(argv: list[str] | None = None) -> int:
    import_tensorflow_quietly()  # before sigkit.config brings TensorFlow in; kernels inherit the log level
    from sigkit.config import PROFILES

    parser = argparse.ArgumentParser(prog="sigkit reports", description="Run the numbered notebooks with papermill.")
    parser.add_argument("--profile", default="default", help=f"one of {sorted(PROFILES)}")
    parser.add_argument("--data", default=None, help="data set folder (default: the embedded synthetic set)")
    parser.add_argument("--run", default=None, help="run name: reports/<run>/ (default: the profile name)")
    parser.add_argument("--params", default=None, help="YAML file of notebook parameters")
    parser.add_argument("--only", nargs="*", default=None, help="notebook prefixes to run, e.g. 01 02")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="start from the run's previous folder: finished trainings are read back, not redone",
    )
    args = parser.parse_args(argv)
    # stdout: stderr goes to the run's kernels.log while the notebooks run (sigkit.quiet)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    try:
        folder = run_reports(args.profile, args.data, args.run, load_params(args.params), args.only, reuse=args.reuse)
    except Exception as error:  # papermill's error has already been printed with the cell that failed
        print(f"sigkit reports: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"reports written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
