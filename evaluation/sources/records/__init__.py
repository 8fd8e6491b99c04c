"""Record-level MHSDS tables (a trust's own submission, or a national extract) to monthly measures.

* :mod:`~evaluation.sources.records.tables` -- finding the tables in a folder and checking their columns;
* :mod:`~evaluation.sources.records.definitions` -- the SQL definitions in ``data_dictionary/record_measures/``;
* :mod:`~evaluation.sources.records.engine` -- DuckDB (default) or Spark, running the same SQL;
* :mod:`~evaluation.sources.records.reader` -- :func:`read_records`, with row accounting per table.
"""

from evaluation.sources.records.definitions import RecordDefinitions, default_definitions, load_definitions
from evaluation.sources.records.engine import ENGINES, DuckDBEngine, SparkEngine, make_engine
from evaluation.sources.records.reader import month_id, read_records
from evaluation.sources.records.tables import RECORDS_LAYOUT, is_records_folder, open_tables, table_paths

__all__ = [
    "ENGINES",
    "RECORDS_LAYOUT",
    "DuckDBEngine",
    "RecordDefinitions",
    "SparkEngine",
    "default_definitions",
    "is_records_folder",
    "load_definitions",
    "make_engine",
    "month_id",
    "open_tables",
    "read_records",
    "table_paths",
]
