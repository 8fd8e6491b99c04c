"""The DuckDB engine's memory: a default sized to the extract, and a clear message when a limit is too small."""

from __future__ import annotations

import pytest

from evaluation.sources.common import SourceError
from evaluation.sources.records.engine import DUCKDB_MEMORY, DuckDBEngine, default_duckdb_memory


def test_the_default_limit_is_512mb_until_a_quarter_of_the_extract_is_more(monkeypatch):
    monkeypatch.delenv("EVALUATION_DUCKDB_MEMORY", raising=False)
    assert default_duckdb_memory() == DUCKDB_MEMORY == "512MB"
    assert default_duckdb_memory(1_001 * 2**20) == "512MB"  # 10 million referrals, about 1 GB of CSV
    assert default_duckdb_memory(5_154 * 2**20) == "1288MB"  # 50 million referrals, about 5 GB
    monkeypatch.setenv("EVALUATION_DUCKDB_MEMORY", "3GB")
    assert default_duckdb_memory(5_154 * 2**20) == "3GB"  # the analyst's setting wins


def test_running_out_of_memory_names_the_step_and_the_setting_to_raise():
    eng = DuckDBEngine(memory_limit="16MB", threads=1)
    try:
        with pytest.raises(SourceError) as err:
            # A list aggregate cannot spill to disk: 20 million integers need more than 16MB.
            eng.materialize("referrals_checked", "SELECT list(i) AS l FROM range(20000000) t(i)")
    finally:
        eng.close()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("referrals_checked: ran out of memory")
    assert "EVALUATION_DUCKDB_MEMORY" in message and "16MB" in message
