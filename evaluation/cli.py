"""Command line: ``evaluation synth | run | assemble | sites | validate | simulate | check-disclosure``.

Errors are one line on stderr (file, row, column and what was expected where they apply) with exit
status 2; a failed notebook gives exit status 1 after the other notebooks have run. Set
``EVALUATION_DEBUG=1`` to see a traceback instead. Every line printed goes through
:func:`evaluation.text.inert_terminal`: nothing from the data can move the cursor or recolour the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evaluation.paths import BUILD_DIR
from evaluation.text import inert_terminal


def say(text: object = "", file=None) -> None:
    """Print to the terminal (standard output unless ``file``): every line made inert first, so no escape
    sequence or control character from a file, organisation or error message reaches the terminal."""
    lines = str(text).split("\n")
    print("\n".join(inert_terminal(line) for line in lines), file=file if file is not None else sys.stdout)


def _cmd_synth(args: argparse.Namespace) -> int:
    if args.records:
        from evaluation.demo.records import generate_records

        truth = generate_records(args.out, seed=args.seed, organisations=args.organisations, fmt=args.records)
        n = sum(truth["records"]["referrals"].values())
        print(f"wrote record-level MHSDS tables ({args.records}, {n:,} referrals, seed {args.seed}) "
              f"to {Path(args.out)}")
        return 0
    from evaluation.demo.generator import generate

    truth = generate(args.out, seed=args.seed, organisations=args.organisations)
    n = len(truth.get("organisations", []))
    say(f"wrote synthetic data for {n} organisations (seed {args.seed}) to {Path(args.out)}")
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
        baseline_after_shift=args.baseline_after_shift,
        comparator_min_coverage=args.comparator_min_coverage,
        force=args.force,
        shard=parse_shard(args.shard),
    )
    ok = len(summary.outcomes) - len(summary.failed)
    hits = len(summary.outcomes) - len(summary.executed)
    shard = f", shard {summary.shard}" if summary.shard else ""
    build = Path(summary.parameters.get("build_dir", "build"))
    say(f"{ok} of {len(summary.outcomes)} notebooks succeeded, {hits} from the cache "
          f"({summary.data_source} data: {summary.data_dir}{shard})")
    say(f"results: {build / 'results'}  notebooks: {build / 'notebooks'}  manifest: {build / 'run_manifest.json'}")
    say(f"next: evaluation assemble --build-dir {build} && sphinx-build -W -b html docs docs/_build/html "
          "(or nox -s site -- <the same options>)")
    data = "".join(f" --data-dir {d}" for d in args.data_dir or [])
    for o in summary.failed:
        again = ("evaluation run" + data if o.site == "all"
                 else f"evaluation run --site {o.site} --domain {o.domain}{data}")
        say(f"FAILED {o.site} / {o.domain}: {o.error} (executed copy: {o.notebook}; re-run just this: {again})",
              file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_assemble(args: argparse.Namespace) -> int:
    from evaluation.pipeline.lifetime import BuildLock
    from evaluation.pipeline.manifest import published_run
    from evaluation.pipeline.parameters import check_build_dir
    from evaluation.publish.pages import assemble

    build = check_build_dir(args.build_dir, BUILD_DIR)
    if args.shard_dir:
        from evaluation.pipeline.runner import merge_shards

        merged = merge_shards(args.shard_dir, build, progress=not args.quiet)
        say(f"gathered {len(merged.outcomes)} notebooks from {len(args.shard_dir)} shards into {build}")
        for o in merged.failed:
            say(f"FAILED {o.site} / {o.domain}: {o.error}", file=sys.stderr)
    with BuildLock(build):  # no run may rewrite results while they are being read
        run = published_run(build)
        info = assemble(build_dir=build, docs_dir=args.docs_dir, run=run)
    say(f"assembled site sources for {info['n_notebooks']} notebooks in {info['generated']} "
          f"({info['data_source']} data, from {build / 'run_manifest.json'})")
    for o in run["outcomes"]:
        if not o["ok"]:
            say(f"shown as failed: {o['site']} / {o['domain']}: {o['error']}", file=sys.stderr)
    return 0


def _cmd_sites(args: argparse.Namespace) -> int:
    from evaluation.dictionary.registry import ORG_SITE_PREFIX, default_registry

    registry = default_registry()
    say("sites (--site):")
    for site in registry.sites:
        say(f"  {site.id:<18} {site.name} ({site.ods_code}), go-live {site.intervention_date:%Y-%m}")
    say(f"  {'all':<18} every mental health provider in the data")
    say(f"  {ORG_SITE_PREFIX + '<ODS code>':<18} any organisation in the data, e.g. {ORG_SITE_PREFIX}RX4 "
          "(any case; needs --intervention-date)")
    say("domains (--domain) and their measures:")
    for domain in registry.domains:
        say(f"  {domain.id:<18} {domain.name}")
        for m in registry.measures_for(domain.id):
            head = " (headline)" if m.headline else ""
            say(f"    {m.id:<16} {m.name}{head}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import tempfile

    from evaluation.sources.folder_check import validate
    from evaluation.sources.folders import one_folder

    with tempfile.TemporaryDirectory(prefix="evaluation-validate-") as tmp:
        return validate(one_folder(args.data_dir, Path(tmp) / "data"))


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
    say(table)
    return 0


def _cmd_check_disclosure(args: argparse.Namespace) -> int:
    from evaluation.publish.disclosure import scan_tree

    report = scan_tree(args.paths)
    for v in report.violations:
        say(v)
    say(report.summary())
    return 1 if report.violations else 0


class _Help(argparse.RawDescriptionHelpFormatter):
    """Help that keeps the examples' line breaks and shows each option's default (options whose help says
    what their default means, and switches, say it in words)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _sub(sub, name: str, help_text: str, description: str, *examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description, epilog=_examples(*examples),
                          formatter_class=_Help)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(
        prog="evaluation", formatter_class=_Help,
        description="Community mental health transformation evaluation workbook: run the analyses per site, "
                    "build the site, check data folders and disclosure.",
        epilog=_examples("evaluation sites", "evaluation run --site dorset --domain crisis_demand",
                         "evaluation validate --data-dir my_extracts"))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    default_build = str(BUILD_DIR)

    s = _sub(sub, "synth", "write the synthetic demonstration data",
             "Write the synthetic demonstration data in the published layouts, with truth.json (the effects put "
             "in).", "evaluation synth --out build/data/synthetic", "evaluation synth --out /tmp/demo --seed 7")
    s.add_argument("--out", required=True, help="output folder (created if missing)")
    s.add_argument("--seed", type=int, default=20240401, help="random seed (same seed, same files)")
    s.add_argument("--organisations", type=int, default=24, help="organisations in all, the four sites included")
    s.add_argument("--records", nargs="?", const="parquet", choices=["parquet", "csv"], default=None,
                   help="write record-level MHSDS tables (Parquet, or csv) that aggregate to the demonstration data")
    s.set_defaults(func=_cmd_synth)

    r = _sub(sub, "run", "execute the domain notebooks per site (papermill)",
             "Execute the domain notebooks for each site, in parallel, into the build folder; unchanged notebooks "
             "come from the cache. Parameters and the data folder are checked before anything starts. The run "
             "ends by writing run_manifest.json: the site is built from that run only.",
             "evaluation run --site dorset --domain crisis_demand",
             "evaluation run --site org_RX4 --data-dir my_extracts --intervention-date 2022-04",
             "evaluation run --data-dir ../shared/data/real --jobs 2")
    r.add_argument("--site", action="append", metavar="SITE",
                   help="site id, repeatable: a registry site (see `evaluation sites`), 'all' for every provider "
                        "in the data, or org_<ODS code> in any case (default: the four registry sites)")
    r.add_argument("--sites", default=None, help="comma-separated site ids, added to --site (default: none)")
    r.add_argument("--domain", action="append", metavar="DOMAIN",
                   help="domain id, repeatable (default: every domain; see `evaluation sites`)")
    r.add_argument("--data-dir", default=None, action="append",
                   help="folder of input files: published NHS files and/or the local templates; give it more "
                        "than once to read several folders together (default: the synthetic demonstration data, "
                        "generated into the build folder)")
    r.add_argument("--intervention-date", default=None, metavar="YYYY-MM",
                   help="go-live set by the analyst for every site (default: each site's date in the registry)")
    r.add_argument("--build-dir", default=default_build,
                   help="where results, executed notebooks, figures and the cache go")
    r.add_argument("--jobs", type=int, default=None, help="notebooks run side by side (default: one per core)")
    r.add_argument("--quiet", action="store_true",
                   help="no progress lines (default: a line when each notebook starts and ends)")
    r.add_argument("--keep-outliers", action="store_true",
                   help="fit models with months flagged as data-quality outliers (default: leave them out)")
    r.add_argument("--baseline-after-shift", action="store_true",
                   help="start each series' baseline after its latest level shift before go-live (default: "
                        "the whole baseline, the shift reported as a data-quality finding)")
    r.add_argument("--comparator-min-coverage", type=float, default=0.8,
                   help="comparators need values in this share of the site's months")
    r.add_argument("--force", action="store_true",
                   help="re-execute every notebook, ignoring the cache (default: only what changed)")
    r.add_argument("--shard", default=None, metavar="K/N",
                   help="run only the K-th of N deterministic slices of the notebooks, gathered with assemble "
                        "(default: all of them)")
    r.set_defaults(func=_cmd_run)

    a = _sub(sub, "assemble", "write the site's sources from the last finished run",
             "Write docs/_generated from the build folder's run manifest: exactly the analyses of the last "
             "finished run; one that failed, or whose files changed since, is shown as failed with its reason.",
             "evaluation assemble", "evaluation assemble --build-dir /tmp/b && sphinx-build -W -b html docs out",
             "evaluation assemble --build-dir merged --shard-dir b1 --shard-dir b2")
    a.add_argument("--build-dir", default=default_build, help="the build folder a run wrote")
    a.add_argument("--docs-dir", default="docs", help="the Sphinx source folder (its _generated/ is rewritten)")
    a.add_argument("--shard-dir", action="append", default=None,
                   help="build folder of one shard (repeatable): gather them into --build-dir first "
                        "(default: none)")
    a.add_argument("--quiet", action="store_true", help="no progress lines (default: progress shown)")
    a.set_defaults(func=_cmd_assemble)

    t = _sub(sub, "sites", "list site ids, domains and measures",
             "List the ids that --site and --domain accept, and each domain's measures (headline first).",
             "evaluation sites", "evaluation sites | grep crisis")
    t.set_defaults(func=_cmd_sites)

    m = _sub(sub, "simulate", "validate the ITS method by simulation",
             "Bias, RMSE, coverage and power of the interrupted time series on simulated series.",
             "evaluation simulate --replicates 50", "evaluation simulate --replicates 500 --jobs 2")
    m.add_argument("--replicates", type=int, default=500, help="simulated series per scenario")
    m.add_argument("--seed", type=int, default=20261201, help="report seed (the tuning seed is 20240401)")
    m.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    m.add_argument("--out", default="build/validation", help="folder for simulation.json and simulation.md")
    m.add_argument("--docs-fragment", default=None, help="also write the table here for the site (default: not)")
    m.set_defaults(func=_cmd_simulate)

    v = _sub(sub, "validate", "check a data folder",
             "Check a data folder before a run: every file's layout, periods, coverage and data quality.",
             "evaluation validate --data-dir my_extracts", "evaluation validate --data-dir ../shared/data/real")
    v.add_argument("--data-dir", required=True, action="append",
                   help="the folder of input files to check; give it more than once to check several together")
    v.set_defaults(func=_cmd_validate)

    c = _sub(sub, "check-disclosure", "check built pages and downloads against the disclosure rule",
             "Fail if a built page or download publishes a count that breaks the disclosure rule "
             "(data_dictionary/disclosure.yaml).",
             "evaluation check-disclosure docs/_build/html", "evaluation check-disclosure results.csv")
    c.add_argument("paths", nargs="+", metavar="PATH", help="built site folder(s) or single files to check")
    c.set_defaults(func=_cmd_check_disclosure)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        say("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("EVALUATION_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError):
            message = str(exc.args[0]) if exc.args else message
        say(f"evaluation {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
