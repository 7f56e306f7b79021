"""The classification in polars, and a Parquet file's classification run by DuckDB.

:func:`polars_result` turns the core's classification
(:func:`funnelkit.core.classify.classify_frame`, times in epoch µs, no stage
text) into what :func:`funnelkit.stages.classify` returns, on every engine.

:func:`classify_parquet` is the ``("classify", "polars")`` accelerator
(:mod:`funnelkit.core.accelerators`): when the events are one Parquet file read
whole (``pl.scan_parquet(path)``, or a log ``read_events`` holds on disk), the
same core plan runs on DuckDB over that file, under a memory limit
(:data:`MEMORY_LIMIT`, spilling to a temporary folder of its own), and its rows
come back into polars in batches of :data:`BATCH_ROWS`.  At 50 million events
that costs 1.1x the CPU time of DuckDB's hand-written query and peaks at 1.3 GB,
where polars' own aggregation, split into seven groups of contacts to stay under
1.5 GB, costs 1.5x (ADR 8, ``docs/adr/0008-classify-at-scale.md``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import narwhals as nw
import polars as pl

from funnelkit.core import classify as core
from funnelkit.definitions import Funnel, number_columns
from funnelkit.engine_frames import (
    EngineFrame,
    definition_events,
    max_ts,
    rows_known_without_reading,
    to_us,
)
from funnelkit.errors import DataError
from funnelkit.events import CONTACT_ID as CID
from funnelkit.events import EVENT, EventLog, as_lazy
from funnelkit.events import OCCURRED_AT as T

__all__ = [
    "BATCH_ROWS",
    "MEMORY_LIMIT",
    "MIN_ROWS",
    "classify_parquet",
    "parquet_file",
    "polars_result",
]

#: DuckDB's memory limit (bytes) for a Parquet file's classification.  The result
#: itself (0.75 GB for 12.8 million contacts with every ``<stage>_at`` column) is
#: held by polars on top.  At 50 million events: 512 MB peaked at 1.31 GB for 19.4
#: CPU seconds, 640 MB at 1.34 GB for 17.8, 1 GB at 1.41-1.46 GB for 19.6-22.4 (the
#: same batch of ``benchmarks/bench_classify.py``; ADR 8).
MEMORY_LIMIT = 640 * 2**20
#: Rows per batch brought from DuckDB into polars.
BATCH_ROWS = 1_000_000
#: A file of more events than this goes to DuckDB.  With every ``<stage>_at`` column
#: both cost the same at 16 million events (6.7 CPU seconds); at 10 million polars
#: costs 0.9x the DuckDB route, at 25 million 1.08x, at 50 million 1.39x (ADR 8).
MIN_ROWS = 16_000_000

# Column types DuckDB reads from Parquet as polars does, for the columns a rule reads.
_PLAIN = (pl.String, pl.Boolean)


def polars_result(lf: pl.LazyFrame, funnel: Funnel, *, entry_times: bool) -> pl.LazyFrame:
    """Return the core's classification as :func:`funnelkit.stages.classify` gives it.

    ``lf``: the core's result in polars (times in epoch µs, no stage text).
    ``stage`` becomes the funnel's Enum, taken from ``stage_rank`` (a gather
    of the stage ids by rank, so no engine builds or sends a text per
    contact); the times become UTC date-times.
    """
    times = [f"{s}_at" for s in funnel.stage_ids] if entry_times else []
    times.append("last_activity_at")
    ids = pl.Series(funnel.stage_ids, dtype=funnel.stage_dtype)
    stage = pl.lit(ids).gather(pl.col("stage_rank").cast(pl.Int64) - 1)
    utc = (pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") for c in times)
    lf = lf.with_columns(stage.alias("stage"), *utc)
    return lf.select(CID, "stage", pl.exclude(CID, "stage"))


def parquet_file(lf: pl.LazyFrame) -> str | None:
    """Return the path of the one local Parquet file ``lf`` reads whole, else ``None``.

    ``lf`` qualifies when its plan is a Parquet scan of that file, at most
    projected to some of its columns: no filter, slice, row index or other
    step, and the same plan as ``pl.scan_parquet(path).select(columns)``.
    A folder, a pattern, several files or a remote source do not.
    """
    plan = lf.explain()
    lines = plan.splitlines()
    head = "Parquet SCAN ["
    if not lines or not lines[0].startswith(head) or not lines[0].endswith("]"):
        return None
    if any(not line.startswith(("PROJECT ", "ESTIMATED ROWS")) for line in lines[1:]):
        return None
    path = lines[0][len(head) : -1]
    if any(c in path for c in "*?[{") or not os.path.isfile(path):
        return None
    schema = lf.collect_schema()
    again = pl.scan_parquet(path, glob=False).select(schema.names())
    if again.explain() != plan or again.collect_schema() != schema:
        return None
    return path


def _plain_types(schema: pl.Schema, funnel: Funnel) -> bool:
    """Whether DuckDB reads the columns ``funnel`` needs as polars does, unconverted."""
    filters = [f for stage in funnel.stages for cond in stage.conditions for f in cond.where]
    if number_columns(schema, filters):  # text read as numbers: the polars path reads them
        return False
    if schema.get(CID) != pl.String or schema.get(EVENT) != pl.String:
        return False
    when = schema.get(T)
    if not isinstance(when, pl.Datetime) or when.time_unit != "us":
        return False
    kinds = [schema.get(f.column) for f in filters]
    return all(k is not None and (k in _PLAIN or k.is_integer() or k.is_float()) for k in kinds)


def classify_parquet(
    events: EventLog | pl.DataFrame | pl.LazyFrame,
    funnel: Funnel,
    *,
    cut: datetime | None,
    contacts: EngineFrame | None,
    entry_times: bool,
) -> pl.LazyFrame | None:
    """Return :func:`funnelkit.stages.classify` of a Parquet file, run by DuckDB; else ``None``.

    Takes ``events`` that read one Parquet file whole (:func:`parquet_file`)
    of more than :data:`MIN_ROWS` events, with ``contact_id`` and ``event``
    as text, ``occurred_at`` in µs (UTC) and the columns the filters read as
    text, booleans or numbers, under a definition of "any of these events"
    rules (no ``min_count``, no points), when DuckDB is installed; declines
    (``None``) anything else.  ``contacts``: the contacts as the core reads
    them on polars, or ``None``.

    The result is a lazy polars frame: DuckDB runs when it is collected, with
    the core's plan (:func:`funnelkit.core.classify.classify_frame`), and its
    rows come back in batches of :data:`BATCH_ROWS`.
    """
    if isinstance(events, pl.DataFrame) or importlib.util.find_spec("duckdb") is None:
        return None
    lf = as_lazy(events)
    if core.Plan.of(funnel).complex_ or not _plain_types(lf.collect_schema(), funnel):
        return None
    path = parquet_file(lf)
    rows = None if path is None else rows_known_without_reading(nw.from_native(lf))
    if path is None or rows is None or rows <= MIN_ROWS:
        return None
    columns = lf.collect_schema().names()
    # The schema of the result: the same core plan on polars, not run.
    polars_plan = core.classify_frame(
        definition_events(lf, funnel).lf,
        funnel,
        cut=to_us(cut),
        contacts=None if contacts is None else contacts.lf,
        entry_times=entry_times,
        stage_text=False,
    )
    schema = polars_result(nw.to_native(polars_plan), funnel, entry_times=entry_times)
    schema_out = schema.collect_schema()
    people = None if contacts is None else nw.to_native(contacts.lf)

    def batches() -> Iterator[pl.DataFrame]:
        import duckdb

        try:
            for batch in _run(path, columns, funnel, cut, people, entry_times=entry_times):
                got = pl.from_arrow(batch)
                assert isinstance(got, pl.DataFrame)
                done = polars_result(got.lazy(), funnel, entry_times=entry_times).collect()
                yield done.cast(schema_out)
        except duckdb.Error as exc:
            msg = (
                f"{path}: DuckDB could not classify the events ({exc}). Pass a number of "
                "partitions (e.g. partitions=8) to classify them with polars instead."
            )
            raise DataError(msg) from exc

    return _lazy(batches, schema_out, path)


def _run(
    path: str,
    columns: list[str],
    funnel: Funnel,
    cut: datetime | None,
    people: pl.LazyFrame | None,
    *,
    entry_times: bool,
) -> Iterator[Any]:
    """Yield the Arrow record batches of the core's classification of ``path`` on DuckDB."""
    with _duckdb() as con:
        relation = con.read_parquet(path).select(*(_quoted(c) for c in columns))
        ev = definition_events(relation, funnel)
        listed = None
        if people is not None:
            table = people.collect().to_arrow(compat_level=pl.CompatLevel.oldest())
            listed = nw.from_native(con.from_arrow(table))
        clock = None
        if cut is None and core.Plan.of(funnel).lapses:
            # The latest event, asked first: the plan then holds no window over the contacts.
            clock = max_ts(ev.lf)
        out = core.classify_frame(
            ev.lf,
            funnel,
            cut=to_us(cut),
            contacts=listed,
            entry_times=entry_times,
            clock=clock,
            stage_text=False,
        )
        native = nw.to_native(out)
        reader = getattr(native, "to_arrow_reader", None) or native.fetch_arrow_reader
        yield from reader(BATCH_ROWS)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def _duckdb() -> Iterator[Any]:
    """Open a DuckDB connection under :data:`MEMORY_LIMIT`, spilling into a folder of its own."""
    import duckdb

    folder = tempfile.mkdtemp(prefix="funnelkit-duckdb-")
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": f"{MEMORY_LIMIT // 2**20}MB",
        "preserve_insertion_order": False,  # the rows come in no particular order
        "temp_directory": folder,
    }
    con = duckdb.connect(config=config)
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)


def _lazy(make: Any, schema: pl.Schema, path: str) -> pl.LazyFrame:
    """Return a lazy frame whose rows are the batches ``make()`` yields when collected."""
    from polars.io.plugins import register_io_source

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        for frame in make():
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            yield frame
            if left is not None and left <= 0:
                return

    return register_io_source(
        source,
        schema=schema,
        explain_name="classify on DuckDB",
        explain_detail=path,
    )
