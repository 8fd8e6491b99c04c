"""The content-addressed cache, sharding and national site lists (#8).

Unit tests only: the runs that execute notebooks (a second run executes nothing, changing one site's rows
re-executes only that site's notebooks, a deleted output is rebuilt, shards gathered equal one run) are in
tests/e2e/test_cache_runs.py, on the session build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry, organisation_code, organisation_site, organisation_site_id
from evaluation.pipeline import cache
from evaluation.pipeline.runner import Job, merge_shards, parse_shard, plan, shard_jobs


def _panel(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["org_code", "period", "measure_id", "period_type", "value", "source_file"])


# --- unit tests -----------------------------------------------------------------------------------------


def test_shards_partition_the_jobs_deterministically():
    jobs = plan(default_registry(), None, None)
    for n in (1, 2, 3, 4, 5, 13):
        slices = [shard_jobs(jobs, (k, n)) for k in range(1, n + 1)]
        flat = [j for s in slices for j in s]
        assert sorted(flat, key=lambda j: (j.site, j.domain)) == sorted(jobs, key=lambda j: (j.site, j.domain))
        assert len(set(flat)) == len(flat)  # no notebook in two shards
        assert max(map(len, slices)) - min(map(len, slices)) <= 1  # balanced
        assert slices == [shard_jobs(list(reversed(jobs)), (k, n)) for k in range(1, n + 1)]  # order-free


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/b", "3", "1/0", "2/-1"])
def test_bad_shard_text_is_refused(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard("") is None


def test_frame_digest_ignores_row_order_and_folder_but_not_values():
    a = _panel([("RDY", "2020-01-01", "CCR70", "month", 10.0, "/x/a.csv"),
                ("RDY", "2020-02-01", "CCR70", "month", 12.0, "/x/a.csv")])
    b = a.iloc[::-1].copy()
    b["source_file"] = "/elsewhere/a.csv"
    assert cache.frame_digest(a) == cache.frame_digest(b)
    c = a.copy()
    c.loc[0, "value"] = 11.0
    assert cache.frame_digest(a) != cache.frame_digest(c)


def test_data_digest_moves_with_own_and_comparator_rows_only():
    base = _panel([("RDY", "2020-01-01", "CCR70", "month", 10.0, "a.csv"),
                   ("RW5", "2020-01-01", "CCR70", "month", 20.0, "a.csv"),
                   ("RXT", "2020-01-01", "CCR70", "month", 30.0, "a.csv"),
                   ("RXT", "2020-01-01", "LEAVER_RATE", "month", 1.0, "a.csv")])
    sites = {"RDY", "RW5"}

    def digest(p: pd.DataFrame) -> str:
        return cache.data_digest(p, [], "RDY", ["CCR70"], sites)

    d0 = digest(base)
    other_site = base.copy()
    other_site.loc[1, "value"] = 21.0  # another programme site's row: never a comparator
    assert digest(other_site) == d0
    other_domain = base.copy()
    other_domain.loc[3, "value"] = 2.0  # a measure of another domain
    assert digest(other_domain) == d0
    own = base.copy()
    own.loc[0, "value"] = 11.0
    assert digest(own) != d0
    comparator = base.copy()
    comparator.loc[2, "value"] = 31.0
    assert digest(comparator) != d0
    assert cache.data_digest(base, [{"rows_read": 1}], "RDY", ["CCR70"], sites) != d0  # file accounting


def test_lookup_needs_the_same_key_and_unchanged_outputs(tmp_path: Path):
    out = tmp_path / "results" / "s" / "d.json"
    out.parent.mkdir(parents=True)
    out.write_text("{}")
    entry = cache.CacheEntry("k1", 1.5, cache.outputs_of(tmp_path, [out]))
    cache.store(tmp_path, "s", "d", entry)
    assert cache.lookup(tmp_path, "s", "d", "k1") == entry
    assert cache.lookup(tmp_path, "s", "d", "k2") is None
    out.write_text('{"edited": true}')
    assert cache.lookup(tmp_path, "s", "d", "k1") is None
    out.unlink()
    assert cache.lookup(tmp_path, "s", "d", "k1") is None
    cache.forget(tmp_path, "s", "d")
    assert not cache.entry_path(tmp_path, "s", "d").exists()


def test_any_organisation_can_be_a_site():
    reg = default_registry()
    assert organisation_code(organisation_site_id("RXT")) == "RXT"
    assert organisation_code("dorset") is None
    site = reg.site("org_zc07")
    assert site == organisation_site("ZC07") and site.ods_code == "ZC07"
    with pytest.raises(KeyError, match="valid sites"):
        reg.site("atlantis")


def test_an_organisation_site_needs_a_go_live():
    from evaluation.evaluate.domain import parse_intervention

    site = organisation_site("ZC07")
    with pytest.raises(ValueError, match="--intervention-date"):
        parse_intervention("", site)
    assert str(parse_intervention("2022-04", site)) == "2022-04-01"


def test_shards_that_read_different_data_are_refused(tmp_path: Path):
    for k, fingerprint in ((1, "aaa"), (2, "bbb")):
        d = tmp_path / f"s{k}"
        d.mkdir()
        (d / "run_status.json").write_text(json.dumps({"data_fingerprint": fingerprint, "data_source": "synthetic",
                                                       "parameters": {}, "outcomes": []}))
    with pytest.raises(ValueError, match="same data"):
        merge_shards([tmp_path / "s1", tmp_path / "s2"], tmp_path / "merged")


def test_jobs_are_hashable_for_keys():
    assert len({Job("a", "b"), Job("a", "b")}) == 1
