"""The data dictionary loads, validates, and rejects bad entries with a message naming the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evaluation.dictionary.registry import DICTIONARY_DIR, RegistryError, load_registry


@pytest.fixture
def dictionary_copy(tmp_path: Path) -> Path:
    for name in ("sites.yaml", "measures.yaml", "layouts.yaml", "analysis.yaml", "demonstration.yaml"):
        shutil.copyfile(DICTIONARY_DIR / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, fn) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def test_registry_has_four_sites_with_their_ods_codes():
    reg = load_registry()
    assert {s.id: s.ods_code for s in reg.sites} == {
        "dorset": "RDY", "bradford": "TAD", "lancashire": "RW5", "cheshire_wirral": "RXA"}
    for s in reg.sites:
        assert s.milestones, s.id
        assert all(m.source for m in s.milestones)
        if s.intervention_is_assumption:
            assert len(s.intervention_reasoning) > 40


def test_measures_cover_three_domains_with_one_headline_each():
    reg = load_registry()
    assert len(reg.measures) >= 8
    assert reg.domain_ids == ["crisis_demand", "referral_acceptance", "staff_retention"]
    for d in reg.domain_ids:
        heads = [m for m in reg.measures if m.domain == d and m.headline]
        assert len(heads) == 1
        assert reg.headline(d) is heads[0]
    ids = {m.id for m in reg.measures}
    assert {"CCR70", "CCR71", "MHS32", "MHS108", "REF_ACCEPT", "LEAVER_RATE", "STABILITY_12M",
            "SICKNESS_RATE"} <= ids


def test_unknown_site_lists_valid_ones():
    reg = load_registry()
    with pytest.raises(KeyError, match="valid sites: dorset, bradford"):
        reg.site("york")


def test_bad_ods_code_names_file_entry_and_field(dictionary_copy: Path):
    _edit(dictionary_copy / "sites.yaml", lambda d: d["sites"][1].update(ods_code="bad code"))
    with pytest.raises(RegistryError, match=r"sites\.yaml: sites\.\[bradford\]\.ods_code"):
        load_registry(dictionary_copy)


def test_intervention_date_must_be_month_start(dictionary_copy: Path):
    _edit(dictionary_copy / "sites.yaml", lambda d: d["sites"][0].update(intervention_date="2021-08-15"))
    with pytest.raises(RegistryError, match=r"\[dorset\]\.intervention_date: .*first day of a month"):
        load_registry(dictionary_copy)


def test_unknown_value_type_is_rejected(dictionary_copy: Path):
    _edit(dictionary_copy / "measures.yaml", lambda d: d["measures"][0].update(value_type="ratio"))
    with pytest.raises(RegistryError, match=r"measures\.yaml: measures\.\[CCR70\]\.value_type"):
        load_registry(dictionary_copy)


def test_two_headlines_in_a_domain_is_rejected(dictionary_copy: Path):
    _edit(dictionary_copy / "measures.yaml", lambda d: d["measures"][1].update(headline=True))
    with pytest.raises(RegistryError, match="crisis_demand: needs exactly one headline"):
        load_registry(dictionary_copy)


def test_measure_with_unknown_layout_is_rejected(dictionary_copy: Path):
    _edit(dictionary_copy / "measures.yaml", lambda d: d["measures"][0].update(layout="fax"))
    with pytest.raises(RegistryError, match="layout 'fax'"):
        load_registry(dictionary_copy)


def test_missing_file_is_named(tmp_path: Path):
    with pytest.raises(RegistryError, match="sites.yaml: file not found"):
        load_registry(tmp_path)


def test_analysis_facts_load_and_a_bad_fact_names_file_and_field(dictionary_copy: Path):
    facts = load_registry(dictionary_copy).analysis
    assert facts.covid.months == ("2020-03-01", "2021-03-01")
    assert facts.its.min_pre_months >= 3 and facts.comparators.scale_measure == "MHS32"
    _edit(dictionary_copy / "analysis.yaml", lambda d: d["its"].update(min_pre_months=1))
    with pytest.raises(RegistryError, match=r"analysis\.yaml: its\.min_pre_months"):
        load_registry(dictionary_copy)


def test_analysis_facts_for_the_primary_estimand_and_sensitivity():
    its = load_registry(DICTIONARY_DIR).analysis.its
    assert its.primary_horizon_months == 12 and its.golive_shift_months == (-6, -3, 3, 6)
    assert (its.phase_in_months, its.mde_power, its.mde_alpha) == (3, 0.8, 0.05)
    assert load_registry(DICTIONARY_DIR).analysis.comparators.placebo_rmspe_cutoff == 5.0


def test_a_zero_go_live_shift_is_rejected(dictionary_copy: Path):
    _edit(dictionary_copy / "analysis.yaml", lambda d: d["its"].update(golive_shift_months=[-3, 0, 3]))
    with pytest.raises(RegistryError, match=r"analysis\.yaml: its\.golive_shift_months"):
        load_registry(dictionary_copy)


def test_demonstration_effects_are_validated(dictionary_copy: Path):
    assert load_registry(dictionary_copy).demonstration.effects["dorset"]["CCR70"].step == 0.85
    _edit(dictionary_copy / "demonstration.yaml", lambda d: d["effects"]["dorset"]["CCR70"].update(step="big"))
    with pytest.raises(RegistryError, match=r"demonstration\.yaml: effects\.dorset\.CCR70\.step"):
        load_registry(dictionary_copy)

