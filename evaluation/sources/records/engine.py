"""Where the record-level SQL runs: DuckDB (embedded, the default) or Apache Spark (national extracts).

Both engines run the *same* SQL text from ``data_dictionary/record_measures/``, written in DuckDB's
dialect; the Spark engine transpiles it with SQLGlot, so no rule is written twice. Only what differs
between engines lives here: how a table file becomes a relation, how an intermediate result is kept, and
how a small result comes back to Python. Rows of the extract never come into Python: only the aggregated
measures and the row accounting do.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import pandas as pd

from evaluation.sources.common import SourceError

#: Engine names accepted by :func:`make_engine` (and ``EVALUATION_RECORDS_ENGINE``).
ENGINES = ("duckdb", "spark")
SOURCE_DIALECT = "duckdb"
#: DuckDB's smallest default memory limit (``EVALUATION_DUCKDB_MEMORY`` overrides the default). Beyond the limit
#: intermediate tables spill to disk. 512MB keeps the whole process (Python, pandas and DuckDB) near 0.7 GB on a
#: 10-million-referral extract of 1 GB (benchmarks/records.py); a fixed 1GB gave 1.15 GB, more than the extract.
DUCKDB_MEMORY_MB = 512
DUCKDB_MEMORY = f"{DUCKDB_MEMORY_MB}MB"
#: The default limit grows with the extract: this share of its size on disk, when that is more than 512MB. The
#: hash tables of the checks grow with the number of distinct referrals, and at 50 million referrals (5 GB of
#: CSV) 512MB ran out of memory in the referral check; a quarter of the extract still keeps the process well
#: under the extract's size.
DUCKDB_MEMORY_SHARE = 0.25
_MB = 2**20


def default_duckdb_memory(extract_bytes: int = 0) -> str:
    """The memory limit DuckDB gets unless ``EVALUATION_DUCKDB_MEMORY`` is set: 512MB, or a quarter of the
    extract's size when that is more (see :data:`DUCKDB_MEMORY_SHARE`)."""
    chosen = os.environ.get("EVALUATION_DUCKDB_MEMORY", "").strip()
    if chosen:
        return chosen
    scaled = int(extract_bytes * DUCKDB_MEMORY_SHARE) // _MB
    return f"{scaled}MB" if scaled > DUCKDB_MEMORY_MB else DUCKDB_MEMORY


class Engine(Protocol):
    """What the record reader needs from an SQL engine."""

    name: str

    def register_file(self, name: str, path: Path, fmt: str) -> None:
        """Make a table file (CSV with a header, every cell as text; or Parquet) the relation ``name``."""

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Make a small Python table (code lists, facts) the relation ``name``."""

    def materialize(self, name: str, sql: str) -> None:
        """Compute ``sql`` once and keep it as the relation ``name`` (spilling to disk where it must)."""

    def view(self, name: str, sql: str) -> None:
        """Define ``name`` as ``sql`` without computing it."""

    def fetch(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and bring its (small, aggregated) result into Python."""

    def close(self) -> None:
        """Release the engine's resources."""


@lru_cache(maxsize=256)
def to_spark(sql: str) -> str:
    """The DuckDB-dialect ``sql`` in Spark SQL (SQLGlot)."""
    import sqlglot

    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write="spark")[0]


class DuckDBEngine:
    """DuckDB in this process, with a database file in a temporary folder so that intermediate tables
    larger than ``memory_limit`` spill to disk instead of growing the process.

    A file, not an in-memory database: in memory was 20-28% faster but held more (benchmarks/records.py on
    2 December 2026: 599 MB against 425 MB at 1 million referrals, 736 against 686 at 10 million), and the
    extract must fit the laptop's memory before it must be fast (docs/record_level.md).
    """

    name = "duckdb"

    def __init__(self, memory_limit: str = DUCKDB_MEMORY, threads: int | None = None) -> None:
        import duckdb

        self._duckdb = duckdb
        self.memory_limit = memory_limit
        self._tmp = tempfile.TemporaryDirectory(prefix="evaluation-records-")
        self.con = duckdb.connect(str(Path(self._tmp.name) / "records.duckdb"))
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = '{Path(self._tmp.name) / 'spill'}'")
        self.con.execute("SET preserve_insertion_order = false")  # lets large sorts and copies stream
        # In a Jupyter kernel without ipywidgets DuckDB refuses to touch the setting at all; the bar then stays
        # off (it needs those widgets to draw), which is what is wanted.
        with contextlib.suppress(duckdb.Error):
            self.con.execute("SET enable_progress_bar = false")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def _run(self, sql: str, label: str) -> None:
        try:
            self.con.execute(sql)
        except self._duckdb.Error as exc:
            raise self._error(label, exc) from None

    def _error(self, label: str, exc: Exception) -> SourceError:
        first = str(exc).splitlines()[0]
        if isinstance(exc, self._duckdb.OutOfMemoryException):
            return SourceError(label, f"ran out of memory: {first}",
                               expected=f"a larger EVALUATION_DUCKDB_MEMORY than {self.memory_limit} (e.g. 2GB)")
        return SourceError(label, f"cannot be read: {first}")

    def register_file(self, name: str, path: Path, fmt: str) -> None:
        where = str(path / "*.parquet") if path.is_dir() else str(path)
        where = where.replace("'", "''")
        if fmt == "parquet":
            source = f"read_parquet('{where}')"
        else:
            # Every cell as text: the checks decide what a bad date or code is, and count it.
            source = f"read_csv('{where}', header = true, all_varchar = true, delim = ',', quote = '\"')"
        # Relation names come from the data dictionary and the path is quoted: no outside text is run as SQL.
        self._run(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}", str(path))  # noqa: S608

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        self.con.register(f"{name}_frame", frame)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_frame")  # noqa: S608
        self.con.unregister(f"{name}_frame")

    def materialize(self, name: str, sql: str) -> None:
        self._run(f"CREATE OR REPLACE TABLE {name} AS {sql}", name)

    def view(self, name: str, sql: str) -> None:
        self._run(f"CREATE OR REPLACE VIEW {name} AS {sql}", name)

    def fetch(self, sql: str) -> pd.DataFrame:
        try:
            return self.con.execute(sql).fetchdf()
        except self._duckdb.Error as exc:
            raise self._error("record-level extract", exc) from None

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()


class SparkEngine:
    """Apache Spark through pyspark: local mode by default, or the cluster at ``master``
    (``EVALUATION_SPARK_MASTER``, e.g. ``spark://host:7077`` or ``yarn``)."""

    name = "spark"

    def __init__(self, master: str | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise SourceError("engine spark", "pyspark is not installed",
                              expected="pip install 'evaluation[spark]' and a Java runtime (17 or later)") from None
        master = master or os.environ.get("EVALUATION_SPARK_MASTER") or "local[2]"
        self.spark = (
            SparkSession.builder.master(master)
            .appName("evaluation-records")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", os.environ.get("EVALUATION_SPARK_PARTITIONS", "8"))
            .getOrCreate()
        )
        self._cached: list = []

    def register_file(self, name: str, path: Path, fmt: str) -> None:
        reader = self.spark.read
        if fmt == "parquet":
            frame = reader.parquet(str(path))
        else:
            frame = reader.option("header", True).option("inferSchema", False).csv(str(path))
        frame.createOrReplaceTempView(name)

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)

    def materialize(self, name: str, sql: str) -> None:
        frame = self.spark.sql(to_spark(sql)).persist()
        self._cached.append(frame)
        frame.createOrReplaceTempView(name)

    def view(self, name: str, sql: str) -> None:
        self.spark.sql(to_spark(sql)).createOrReplaceTempView(name)

    def fetch(self, sql: str) -> pd.DataFrame:
        rows = self.spark.sql(to_spark(sql)).collect()
        return pd.DataFrame([r.asDict() for r in rows])

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        for name in [t.name for t in self.spark.catalog.listTables() if t.isTemporary]:
            self.spark.catalog.dropTempView(name)


def make_engine(name: str | None = None, extract_bytes: int = 0) -> Engine:
    """The engine called ``name`` (default: ``EVALUATION_RECORDS_ENGINE``, else DuckDB), sized for an extract of
    ``extract_bytes`` on disk (DuckDB's memory limit, :func:`default_duckdb_memory`)."""
    name = (name or os.environ.get("EVALUATION_RECORDS_ENGINE") or "duckdb").lower()
    if name == "duckdb":
        return DuckDBEngine(memory_limit=default_duckdb_memory(extract_bytes))
    if name == "spark":
        return SparkEngine()
    raise SourceError("EVALUATION_RECORDS_ENGINE", f"unknown engine {name!r}", expected=" or ".join(ENGINES))
