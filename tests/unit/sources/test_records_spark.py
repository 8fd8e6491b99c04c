"""DuckDB and Spark give identical measures from the same extract (the same SQL, transpiled for Spark).

Runs only in the ``spark`` nox session (which installs pyspark and a Java runtime and sets
``EVALUATION_SPARK_TESTS=1``); elsewhere it is skipped with that reason.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from evaluation.sources.records import read_records

from .test_records import EXPECTED, measures, write_extract

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("EVALUATION_SPARK_TESTS") != "1",
                       reason="Spark tests run in the spark nox session (nox -s spark)"),
]


@pytest.fixture(scope="module")
def spark_engine():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("no Java runtime: the spark nox session installs Debian's openjdk-17-jre-headless")
    from evaluation.sources.records import SparkEngine

    engine = SparkEngine(master="local[2]")
    yield engine
    engine.spark.stop()


def _panel(results) -> pd.DataFrame:
    panel = pd.concat([r.panel for r in results], ignore_index=True)
    return panel.drop(columns="source_file").sort_values(["org_code", "period", "measure_id"]).reset_index(drop=True)


def test_hand_made_extract_identical_on_both_engines(tmp_path, spark_engine):
    folder = write_extract(tmp_path / "x")
    duck = read_records(folder, engine="duckdb")
    spark = read_records(folder, engine=spark_engine)
    pd.testing.assert_frame_equal(_panel(duck), _panel(spark))
    assert measures(spark) == {k: (float(n), None if d is None else float(d)) for k, (n, d) in EXPECTED.items()}
    for d, s in zip(duck, spark, strict=True):
        assert d.report.to_dict() == s.report.to_dict()


def test_demonstration_records_identical_on_both_engines(tmp_path, spark_engine):
    from evaluation.demo.records import generate_records

    generate_records(tmp_path / "demo", organisations=5, start="2021-01-01", end="2022-12-01")
    duck = read_records(tmp_path / "demo", engine="duckdb")
    spark = read_records(tmp_path / "demo", engine=spark_engine)
    pd.testing.assert_frame_equal(_panel(duck), _panel(spark))
