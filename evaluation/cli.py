"""Command line: ``evaluation synth | run | assemble | validate | simulate | check-disclosure``.

Errors are one line on stderr (file, row, column and what was expected where they apply) with exit
status 2; a failed notebook gives exit status 1 after the other notebooks have run. Set
``EVALUATION_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    from evaluation.demo.generator import generate

    truth = generate(args.out, seed=args.seed, organisations=args.organisations)
    n = len(truth.get("organisations", []))
    print(f"wrote synthetic data for {n} organisations (seed {args.seed}) to {Path(args.out)}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from evaluation.pipeline.runner import parse_shard, run

    sites = args.site
    if args.sites:
        sites = [*(sites or []), *(s.strip() for s in args.sites.split(",") if s.strip())]
    summary = run(
        sites=sites,
        domains=args.domain,
        data_dir=args.data_dir,
        intervention_date=args.intervention_date or "",
        build_dir=args.build_dir,
        jobs=args.jobs,
        progress=not args.quiet,
        keep_outliers=args.keep_outliers,
        comparator_min_coverage=args.comparator_min_coverage,
        force=args.force,
        shard=parse_shard(args.shard),
    )
    ok = len(summary.outcomes) - len(summary.failed)
    hits = len(summary.outcomes) - len(summary.executed)
    shard = f", shard {summary.shard}" if summary.shard else ""
    print(f"{ok} of {len(summary.outcomes)} notebooks succeeded, {hits} from the cache "
          f"({summary.data_source} data: {summary.data_dir}{shard})")
    for o in summary.failed:
        print(f"FAILED {o.site} / {o.domain}: {o.error} (executed copy: {o.notebook})", file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_assemble(args: argparse.Namespace) -> int:
    from evaluation.publish.pages import assemble

    if args.shard_dir:
        from evaluation.pipeline.runner import merge_shards

        merged = merge_shards(args.shard_dir, args.build_dir, progress=not args.quiet)
        print(f"gathered {len(merged.outcomes)} notebooks from {len(args.shard_dir)} shards into {args.build_dir}")
        for o in merged.failed:
            print(f"FAILED {o.site} / {o.domain}: {o.error}", file=sys.stderr)
    info = assemble(build_dir=args.build_dir, docs_dir=args.docs_dir)
    print(f"assembled site sources for {info['n_notebooks']} notebooks in {info['generated']}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from evaluation.sources.folder_check import validate

    return validate(args.data_dir)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from evaluation.demo.simulation_study import simulate_its, simulation_table_markdown, write_simulation

    df = simulate_its(replicates=args.replicates, seed=args.seed, n_jobs=args.jobs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_simulation(df, out / "simulation.json")
    table = simulation_table_markdown(df)
    (out / "simulation.md").write_text(table + "\n", encoding="utf-8")
    if args.docs_fragment:
        header = (f"<!-- written by `evaluation simulate --replicates {args.replicates} --seed {args.seed}` "
                  "(nox -s validate); do not edit by hand -->\n\n")
        Path(args.docs_fragment).write_text(header + table + "\n", encoding="utf-8")
    print(table)
    return 0


def _cmd_check_disclosure(args: argparse.Namespace) -> int:
    from evaluation.publish.disclosure import scan_tree

    report = scan_tree(args.paths)
    for v in report.violations:
        print(v)
    print(report.summary())
    return 1 if report.violations else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="evaluation", description="Community mental health evaluation workbook")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the synthetic demonstration data (published layouts + truth.json)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--seed", type=int, default=20240401)
    s.add_argument("--organisations", type=int, default=24, help="organisations in all, the four sites included")
    s.set_defaults(func=_cmd_synth)

    r = sub.add_parser("run", help="execute the domain notebooks per site with papermill")
    r.add_argument("--site", action="append",
                   help="site id (repeatable; default: the four registry sites; 'all': every provider in the data)")
    r.add_argument("--sites", default=None,
                   help="comma-separated site ids, or 'all' for every mental health provider in the data")
    r.add_argument("--domain", action="append", help="domain id (repeatable; default: all)")
    r.add_argument("--data-dir", default=None, help="folder of input files (default: synthetic demonstration data)")
    r.add_argument("--intervention-date", default=None, help="override every site's go-live (YYYY-MM)")
    r.add_argument("--build-dir", default="build")
    r.add_argument("--jobs", type=int, default=None, help="parallel notebooks (default: one per core)")
    r.add_argument("--quiet", action="store_true", help="no progress display")
    r.add_argument("--keep-outliers", action="store_true",
                   help="fit models with months flagged as data-quality outliers (default: leave them out)")
    r.add_argument("--comparator-min-coverage", type=float, default=0.8,
                   help="comparators need values in this share of the site's months (default 0.8)")
    r.add_argument("--force", action="store_true", help="re-execute every notebook, ignoring the cache")
    r.add_argument("--shard", default=None, metavar="K/N",
                   help="run only the K-th of N deterministic slices of the notebooks (gather with assemble)")
    r.set_defaults(func=_cmd_run)

    a = sub.add_parser("assemble", help="write the Sphinx sources for the executed notebooks and results")
    a.add_argument("--build-dir", default="build")
    a.add_argument("--docs-dir", default="docs")
    a.add_argument("--shard-dir", action="append", default=None,
                   help="build folder of one shard (repeatable): gather them into --build-dir first")
    a.add_argument("--quiet", action="store_true", help="no progress display")
    a.set_defaults(func=_cmd_assemble)

    m = sub.add_parser("simulate", help="validate the ITS method by simulation (bias, RMSE, coverage, power)")
    m.add_argument("--replicates", type=int, default=500)
    m.add_argument("--seed", type=int, default=20261201, help="report seed (the tuning seed is 20240401)")
    m.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    m.add_argument("--out", default="build/validation")
    m.add_argument("--docs-fragment", default=None, help="also write the table here for the site")
    m.set_defaults(func=_cmd_simulate)

    v = sub.add_parser("validate", help="check a data folder: layouts, periods, coverage, data quality")
    v.add_argument("--data-dir", required=True)
    v.set_defaults(func=_cmd_validate)

    c = sub.add_parser("check-disclosure",
                       help="fail if a built page (HTML) or download (CSV) publishes a count that breaks the "
                            "disclosure rule (data_dictionary/disclosure.yaml)")
    c.add_argument("paths", nargs="+", metavar="PATH", help="built site folder(s) or single files to check")
    c.set_defaults(func=_cmd_check_disclosure)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("EVALUATION_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError):
            message = str(exc.args[0]) if exc.args else message
        print(f"evaluation {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
