"""The `sigkit` command: small verbs over the library, each a thin wrapper.

    sigkit synth OUT [--writers N] [--genuine G] [--forged F] [--seed S]   write the synthetic set
    sigkit info PATH [--strict]                                            load a data set, summarise it
    sigkit reports [--profile P] [--data PATH] [--run NAME] [--params F]   run the notebooks (papermill)

Exit status 0 on success, 2 on bad input (with a message naming the file and what to do).
"""

from __future__ import annotations

import argparse
import logging
import sys


def _synth(args) -> int:
    from sigkit import synth

    out = synth.generate(args.out, n_writers=args.writers, n_genuine=args.genuine, n_forged=args.forged, seed=args.seed, overwrite=args.overwrite)
    print(f"synthetic signatures written to {out}")
    return 0


def _info(args) -> int:
    from sigkit.datasets import load_dataset, summarize

    manifest = load_dataset(args.path, strict=args.strict)
    table = summarize(manifest)
    print(f"{args.path}: layout {manifest['source'].iloc[0]}, {manifest['writer'].nunique()} writers, "
          f"{int(manifest['genuine'].sum())} genuine, {int((~manifest['genuine']).sum())} forged images")
    print(table.to_string())
    skipped = manifest.attrs.get("skipped", [])
    if skipped:
        print(f"\n{len(skipped)} skipped:")
        for item in skipped:
            print(f"  {item['path']}: {item['reason']}")
    return 0


def _reports(args) -> int:
    from sigkit import reports

    argv = ["--profile", args.profile] + (["--data", args.data] if args.data else [])
    argv += (["--run", args.run] if args.run else []) + (["--params", args.params] if args.params else [])
    return reports.main(argv)


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
    info.add_argument("--strict", action="store_true", help="fail on bad files (listing them all) instead of skipping them")
    info.set_defaults(run=_info)

    rep = verbs.add_parser("reports", help="run the numbered notebooks into reports/<run>/")
    rep.add_argument("--profile", default="default")
    rep.add_argument("--data", default=None)
    rep.add_argument("--run", default=None)
    rep.add_argument("--params", default=None)
    rep.set_defaults(run=_reports)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"sigkit {args.verb}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
