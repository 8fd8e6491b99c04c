"""Help that teaches (#18 item 6): every subcommand has a description, its options help text, and examples."""

from __future__ import annotations

import pytest

from evaluation.cli import build_parser, main

SUBCOMMANDS = ["synth", "run", "assemble", "sites", "simulate", "validate", "check-disclosure"]


def test_top_level_help_lists_every_subcommand_with_examples():
    text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in text
    assert "examples:" in text


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_a_description_option_help_and_examples(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and text.count("evaluation " + name) >= 2, text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]  # noqa: SLF001 - argparse API
    assert sub.description
    for action in sub._actions:  # noqa: SLF001
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_run_help_states_defaults():
    raw = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # noqa: SLF001
    text = " ".join(raw.split())
    assert "(default: 0.8)" in text and "(default: the four registry sites)" in text
    assert "org_<ODS code> in any case" in text


def test_sites_lists_site_ids_domains_and_measures(capsys):
    assert main(["sites"]) == 0
    out = capsys.readouterr().out
    for text in ("dorset", "bradford", "lancashire", "cheshire_wirral", "crisis_demand", "referral_acceptance",
                 "staff_retention", "CCR70", "REF_ACCEPT", "LEAVER_RATE", "org_<ODS code>"):
        assert text in out
