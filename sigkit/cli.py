"""The `sigkit` command: small verbs over the library, each a thin wrapper.

    sigkit synth OUT [--writers N] [--genuine G] [--forged F] [--seed S]   write the synthetic set
    sigkit info PATH [--strict]                                            load a data set, summarise it
    sigkit reports [--profile P] [--data PATH[,PATH...]] [--run NAME] [--params F] [--only 01 02] [--reuse]
    sigkit verify [--model M.keras] --reference R1 [R2 ...] --questioned Q1 [Q2 ...] [--threshold T]
                  [--method distance|wd|wd-aligned|fusion] [--background FOLDER] [--calibrate FOLDER]
                  [--explain OUT.png]
                                                                    no --model: the shipped tower
    sigkit verify [--model M.keras] --claims CLAIMS.csv [--method ...]   many claims, one CSV line of verdict each
    sigkit evaluate --model M.keras --data PATH [--writers 46-55 | B-*] [--val-writers 36-45] [--split 0.3] [--out DIR]

Exit status 0 on success (`verify`: every questioned signature genuine), 1 when `verify` finds a forgery, 2 on bad input
(with a message naming the file and what to do).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _synth(args) -> int:
    from sigkit import synth

    out = synth.generate(
        args.out,
        n_writers=args.writers,
        n_genuine=args.genuine,
        n_forged=args.forged,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"synthetic signatures written to {out}")
    return 0


def _info(args) -> int:
    from sigkit.datasets import load_dataset, summarize

    manifest = load_dataset(args.path, strict=args.strict)
    table = summarize(manifest)
    print(
        f"{args.path}: layout {manifest['source'].iloc[0]}, {manifest['writer'].nunique()} writers, "
        f"{int(manifest['genuine'].sum())} genuine, {int((~manifest['genuine']).sum())} forged images"
    )
    print(table.to_string())
    skipped = manifest.attrs.get("skipped", [])
    if skipped:
        print(f"\n{len(skipped)} skipped:")
        for item in skipped:
            print(f"  {item['path']}: {item['reason']}")
    return 0


def _verify(args) -> int:
    from sigkit.verify import explanation_path, read_claims, verify_all, verify_claims

    if args.claims:
        if args.reference or args.questioned or args.explain:
            raise ValueError(
                "--claims names the references and questioned files itself: give no --reference, "
                "--questioned or --explain with it"
            )
        verdicts = verify_claims(
            args.model,
            read_claims(args.claims),
            threshold=args.threshold,
            method=args.method,
            background=args.background,
            calibration=args.calibrate,
        )
        print(CLAIM_COLUMNS)
        for verdict in verdicts:
            print(claim_line(verdict))
        return 0 if all(verdict.genuine for verdict in verdicts) else 1
    if not args.reference or not args.questioned:
        raise ValueError("give --reference and --questioned files, or a --claims CSV")
    verdicts = verify_all(
        args.model,
        args.reference,
        args.questioned,
        threshold=args.threshold,
        explain=args.explain,
        method=args.method,
        background=args.background,
        calibration=args.calibrate,
    )
    for verdict in verdicts:
        print(verdict.text() if len(verdicts) == 1 else f"{verdict.questioned}: {verdict.text()}")
        if args.explain:
            where = args.explain if len(verdicts) == 1 else explanation_path(args.explain, Path(verdict.questioned))
            print(f"where they differ: {where}")
    return 0 if all(verdict.genuine for verdict in verdicts) else 1


CLAIM_COLUMNS = "writer,questioned,method,references,score,threshold,verdict,val_far,val_frr,warnings"


def claim_line(verdict) -> str:
    """One verdict of `verify --claims` as a CSV line (`CLAIM_COLUMNS`)."""
    import csv
    import io

    point = verdict.point
    rates = [f"{point.far:.4f}", f"{point.frr:.4f}"] if point is not None else ["", ""]
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(
        [
            verdict.writer,
            verdict.questioned,
            verdict.method,
            len(verdict.distances),
            f"{verdict.distance:.6f}",
            f"{verdict.threshold:.6f}",
            "genuine" if verdict.genuine else "forged",
            *rates,
            "; ".join(verdict.warnings),
        ]
    )
    return line.getvalue()


def _evaluate(args) -> int:
    import pandas as pd

    from sigkit.evaluation import evaluate_model, parse_writers

    evaluation, path = evaluate_model(
        args.model,
        args.data,
        parse_writers(args.writers),
        parse_writers(args.val_writers),
        out_dir=args.out,
        k=args.k,
        n_boot=args.bootstrap,
        split=args.split,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(evaluation.percent().to_string())
    print(f"metrics and figures written to {path.parent}")
    return 0


def _add_verify_verb(verbs) -> None:
    """The `verify` verb: questioned signatures against a writer's references."""
    ver = verbs.add_parser("verify", help="genuine or forged? a questioned signature against references")
    ver.add_argument(
        "--model",
        default=None,
        help="a sigkit .keras model (model.json beside it holds the threshold); default: the shipped tower",
    )
    ver.add_argument(
        "--method",
        default="distance",
        choices=("distance", "wd", "wd-aligned", "fusion"),
        help="mean distance to the references, or a writer-dependent classifier (sigkit.wd), "
        "wd-aligned: in register under small turns and shifts; fusion: the three combined by the "
        "weights the model card stores",
    )
    ver.add_argument("--reference", nargs="+", help="genuine signatures of the claimed writer")
    ver.add_argument(
        "--claims",
        default=None,
        metavar="CLAIMS.csv",
        help="many claims at once: columns writer,references,questioned (references: files separated by ';', "
        "or a folder); prints one CSV line per questioned signature",
    )
    ver.add_argument(
        "--questioned",
        nargs="+",
        help="the signature(s) to verify; several are scored with one load of the model and one of each reference",
    )
    ver.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="decision threshold (default: the model card's for the method and the number of references)",
    )
    ver.add_argument(
        "--background",
        default=None,
        metavar="FOLDER",
        help="wd methods: genuine signatures of other writers of your own population, added to the model's "
        "background (embedded once, cached in ~/.cache/sigkit)",
    )
    ver.add_argument(
        "--calibrate",
        default=None,
        metavar="FOLDER",
        help="choose the thresholds per method and number of references on the writers of FOLDER (your own "
        "population, with skilled forgeries) instead of the model card's (computed once, cached in ~/.cache/sigkit)",
    )
    ver.add_argument(
        "--explain",
        default=None,
        metavar="OUT.png",
        help="also draw where the questioned signature and each reference differ (several: OUT-<name>.png each)",
    )
    ver.set_defaults(run=_verify)


def _add_evaluate_verb(verbs) -> None:
    """The `evaluate` verb: a model's metrics and figures on a data set's test writers."""
    ev = verbs.add_parser("evaluate", help="metrics JSON and figures of a model on a data set's writers")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", required=True)
    ev.add_argument(
        "--writers", nargs="+", default=None, help="test writers, e.g. 46-55 (default: all but --val-writers)"
    )
    ev.add_argument(
        "--val-writers",
        nargs="+",
        default=None,
        help="writers to choose the threshold on (default: the threshold stored with the model)",
    )
    ev.add_argument(
        "--split",
        type=float,
        default=None,
        metavar="VAL_SHARE",
        help="a writer-disjoint split instead: this share of the writers chooses thresholds, the rest is tested",
    )
    ev.add_argument("--out", default=None, help="output folder (default: <model folder>/evaluation)")
    ev.add_argument("--k", type=int, default=5, help="references per questioned signature (default 5)")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals (0: none)")
    ev.set_defaults(run=_evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sigkit", description="Offline signature verification kit.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    synth = verbs.add_parser("synth", help="write the synthetic signature set (CEDAR layout)")
    synth.add_argument("out")
    synth.add_argument("--writers", type=int, default=30)
    synth.add_argument("--genuine", type=int, default=24)
    synth.add_argument("--forged", type=int, default=24)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--overwrite", action="store_true")
    synth.set_defaults(run=_synth)

    info = verbs.add_parser("info", help="load a data set folder and summarise it")
    info.add_argument("path")
    info.add_argument(
        "--strict", action="store_true", help="fail on bad files (listing them all) instead of skipping them"
    )
    info.set_defaults(run=_info)

    # its options are sigkit.reports' own parser (`sigkit reports --help`); main() hands them over
    verbs.add_parser("reports", help="run the numbered notebooks into reports/<run>/", add_help=False)

    _add_verify_verb(verbs)
    _add_evaluate_verb(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reports"]:  # one parser for the report runner: python -m sigkit.reports takes the same
        from sigkit import reports

        return reports.main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.verb in ("verify", "evaluate"):
        from sigkit.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"sigkit {args.verb}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
