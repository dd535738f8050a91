"""Results of a run: one frozen, versioned object, its exports, and comparison with a baseline."""

from pspread.results.export import (
    ResultsWriter,
    read_results,
    results_filename,
    to_csv,
    to_markdown,
    write_json_atomic,
)
from pspread.results.records import jsonable
from pspread.results.run import SCHEMA_VERSION, PhaseResult, Results, ResultsError, RunSummary, utc_now

__all__ = [
    "SCHEMA_VERSION", "PhaseResult", "Results", "ResultsError", "ResultsWriter", "RunSummary", "jsonable",
    "read_results", "results_filename", "to_csv", "to_markdown", "utc_now", "write_json_atomic",
]
