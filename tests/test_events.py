"""Reading, typing and validating events and contacts."""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from funnelkit import duplicates, events
from funnelkit.duplicates import duplicate_rows
from funnelkit.errors import (
    DataError,
    EmptyInputError,
    FunnelkitError,
    MissingColumnError,
    ParameterError,
    RowError,
    TimestampError,
)
from funnelkit.events import (
    TIMESTAMP,
    as_lazy,
    as_lazy_contacts,
    read_contacts,
    read_events,
)

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


MESSY_CSV = """user_id,ts,event,channel
c1,2026-11-02T09:00:00+01:00,page_view,social
c1,2026-11-02T10:30:00Z,like,social
c2,2026-11-02 11:00:00,form_fill,trade_show
,2026-11-02T12:00:00Z,like,social
c3,not a date,like,social
c2,2026-11-02 11:00:00,form_fill,trade_show
c4,,purchase,referral
c4,1762070400,purchase,referral
"""


# ------------------------------------------------------------------ the "done when" case
def test_renamed_columns_mixed_offsets_and_broken_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", MESSY_CSV)
    log = read_events(path, columns={"user_id": "contact_id", "ts": "occurred_at"})
    df = log.collect()
    assert df.columns == ["contact_id", "occurred_at", "event", "channel"]
    assert df.schema["occurred_at"] == TIMESTAMP
    assert df["occurred_at"].to_list() == [
        utc(2026, 11, 2, 8, 0),  # +01:00 converted to UTC
        utc(2026, 11, 2, 10, 30),
        utc(2026, 11, 2, 11, 0),  # no offset: read as UTC
        utc(2025, 11, 2, 8, 0),  # epoch seconds
    ]
    summary = log.summary()
    assert summary.rows_read == 8
    assert summary.rows_kept == 4
    assert summary.rows_set_aside == 4
    assert summary.by_reason == {
        "null_contact_id": (1, (4,)),
        "null_timestamp": (1, (7,)),
        "bad_timestamp": (1, (5,)),
        "duplicate": (1, (6,)),
    }
    aside = log.set_aside.collect().sort("row")
    assert aside["row"].to_list() == [4, 5, 6, 7]
    assert aside.filter(pl.col("row") == 5)["occurred_at"].item() == "not a date"
    text = str(summary)
    assert "export.csv" in text and "bad_timestamp" in text and "row 5" in text


def test_nothing_is_lost_kept_plus_set_aside_is_rows_read(tmp_path: Path) -> None:
    log = read_events(
        write(tmp_path / "e.csv", MESSY_CSV), columns={"user_id": "contact_id", "ts": "occurred_at"}
    )
    kept = log.frame.select(pl.len()).collect().item()
    aside = log.set_aside.select(pl.len()).collect().item()
    assert kept + aside == 8


# ------------------------------------------------------------------ timestamps
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-02T09:00:00Z", utc(2026, 11, 2, 9)),
        ("2026-11-02T09:00:00z", utc(2026, 11, 2, 9)),
        ("2026-11-02T09:00:00+02:00", utc(2026, 11, 2, 7)),
        ("2026-11-02T09:00:00-0500", utc(2026, 11, 2, 14)),
        ("2026-11-02T09:00:00.250+00:00", utc(2026, 11, 2, 9, 0, 0, 250000)),
        ("2026-11-02 09:00:00", utc(2026, 11, 2, 9)),
        ("2026-11-02T09:00", utc(2026, 11, 2, 9)),
        ("2026-11-02", utc(2026, 11, 2)),
        ("1762074000", utc(2025, 11, 2, 9)),
        ("1762074000000", utc(2025, 11, 2, 9)),
        ("  2026-11-02T09:00:00Z ", utc(2026, 11, 2, 9)),
    ],
)
def test_timestamp_forms_understood(raw: str, expected: dt.datetime) -> None:
    df = pl.DataFrame({"contact_id": ["a"], "occurred_at": [raw], "event": ["like"]})
    assert read_events(df).collect()["occurred_at"].item() == expected


@pytest.mark.parametrize("raw", ["2026-13-02", "02/11/2026", "tomorrow", "2026-11-02T25:00:00"])
def test_unparseable_timestamps_set_aside(raw: str) -> None:
    df = pl.DataFrame({"contact_id": ["a", "b"], "occurred_at": [raw, "2026-11-02"], "event": "x"})
    log = read_events(df)
    assert log.summary().by_reason == {"bad_timestamp": (1, (1,))}


def test_epoch_integer_column_seconds_and_milliseconds() -> None:
    df = pl.DataFrame(
        {"contact_id": ["a", "b"], "occurred_at": [1762074000, 1762074000000], "event": "x"}
    )
    assert read_events(df).collect()["occurred_at"].to_list() == [utc(2025, 11, 2, 9)] * 2


def test_naive_times_read_in_given_timezone() -> None:
    df = pl.DataFrame(
        {"contact_id": ["a", "b"], "occurred_at": ["2026-07-01 12:00", "2026-07-01T12:00:00+00:00"]}
    ).with_columns(event=pl.lit("x"))
    got = read_events(df, timezone="Europe/Paris").collect()["occurred_at"].to_list()
    assert got == [utc(2026, 7, 1, 10), utc(2026, 7, 1, 12)]  # offsets win over timezone


def test_custom_timestamp_format_for_day_first_dates() -> None:
    df = pl.DataFrame({"contact_id": ["a"], "occurred_at": ["02/11/2026 09:30"], "event": ["x"]})
    got = read_events(df, timestamp_format="%d/%m/%Y %H:%M").collect()["occurred_at"].item()
    assert got == utc(2026, 11, 2, 9, 30)


def test_datetime_columns_keep_their_instant() -> None:
    paris = pl.Series([dt.datetime(2026, 7, 1, 12)]).dt.replace_time_zone("Europe/Paris")
    naive = pl.Series([dt.datetime(2026, 7, 1, 12)])
    for col, expected in ((paris, utc(2026, 7, 1, 10)), (naive, utc(2026, 7, 1, 12))):
        df = pl.DataFrame({"contact_id": ["a"], "occurred_at": col, "event": ["x"]})
        assert read_events(df).collect()["occurred_at"].item() == expected


# ------------------------------------------------------------------ messy CSV exports
def test_french_spreadsheet_semicolons_decimal_comma_latin1_bom(tmp_path: Path) -> None:
    text = (
        "contact_id;occurred_at;event;amount;campagne\n"
        "c1;2026-11-02T09:00:00Z;purchase;1234,50;Été\n"
        "c2;2026-11-03T09:00:00Z;purchase;12,5;Noël\n"
    )
    for encoding, prefix in (("latin-1", b""), ("cp1252", b""), ("utf-8", b"\xef\xbb\xbf")):
        path = tmp_path / f"fr-{encoding}.csv"
        path.write_bytes(prefix + text.encode(encoding))
        df = read_events(path).collect()
        assert df.columns == ["contact_id", "occurred_at", "event", "amount", "campagne"]
        assert df["amount"].dtype == pl.Float64
        assert df["amount"].to_list() == [1234.5, 12.5]
        assert df["campagne"].to_list() == ["Été", "Noël"]


def test_tab_separated_and_integer_properties(tmp_path: Path) -> None:
    path = write(tmp_path / "e.tsv", "contact_id\toccurred_at\tevent\tqty\nc1\t2026-11-02\tx\t3\n")
    df = read_events(path).collect()
    assert df["qty"].dtype == pl.Int64


def test_forced_encoding_that_does_not_fit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("contact_id,occurred_at,event\nc1,2026-11-02,é\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"e\.csv.*'utf-8'"):
        read_events(path, encoding="utf-8")


# ------------------------------------------------------------------ other sources
@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "contact_id": ["a", "a", "b"],
            "occurred_at": [utc(2026, 11, 2), utc(2026, 11, 3), utc(2026, 11, 2)],
            "event": ["page_view", "like", "purchase"],
            "amount": [None, None, 10.0],
        }
    )


def test_parquet_file_folder_and_glob(tmp_path: Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "one.parquet")
    folder = tmp_path / "parts"
    (folder / "week=1").mkdir(parents=True)
    (folder / "week=2").mkdir(parents=True)
    frame.head(2).write_parquet(folder / "week=1" / "part.parquet")
    frame.tail(1).write_parquet(folder / "week=2" / "part.parquet")
    (folder / "_SUCCESS").write_text("")  # engines leave markers beside their files
    assert read_events(tmp_path / "one.parquet").collect().height == 3
    from_folder = read_events(folder).collect()
    assert from_folder.height == 3 and "week" in from_folder.columns
    assert read_events(str(folder / "*" / "*.parquet")).collect().height == 3


def test_parquet_files_of_different_schemas_are_refused_naming_one(
    tmp_path: Path, frame: pl.DataFrame
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.head(2).write_parquet(folder / "1.parquet")
    frame.tail(1).drop("amount").write_parquet(folder / "2.parquet")  # a column added later
    with pytest.raises(DataError, match=r"2\.parquet lacks 'amount', unlike .*1\.parquet"):
        read_events(folder)
    frame.tail(1).with_columns(pl.col("amount").cast(pl.Int64)).write_parquet(folder / "2.parquet")
    with pytest.raises(DataError, match=r"2\.parquet has 'amount' as Int64, not Float64"):
        read_events(str(folder / "*.parquet"))
    # a column all null in one file (type Null) is read as the others' type
    frame.tail(1).with_columns(amount=None).write_parquet(folder / "2.parquet")
    assert pl.read_parquet_schema(folder / "2.parquet")["amount"] == pl.Null
    assert read_events(folder).collect().height == 3


def test_folder_reading_stays_lazy(tmp_path: Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "one.parquet")
    log = read_events(tmp_path / "one.parquet")
    assert isinstance(log.frame, pl.LazyFrame)
    assert isinstance(log.set_aside, pl.LazyFrame)


def test_ndjson_pandas_and_lazy(tmp_path: Path, frame: pl.DataFrame) -> None:
    frame.with_columns(pl.col("occurred_at").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).write_ndjson(
        tmp_path / "e.ndjson"
    )
    assert read_events(tmp_path / "e.ndjson").collect().equals(frame)
    assert read_events(frame.to_pandas()).collect().equals(frame)
    assert read_events(frame.lazy()).collect().equals(frame)


# ------------------------------------------------------------------ bad input: errors
def test_missing_column_names_file_column_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "contactid,occurred_at,event\nc1,2026-11-02,x\n")
    with pytest.raises(MissingColumnError, match=r"e\.csv.*'contact_id'.*Did you mean 'contactid'"):
        read_events(path)


def test_missing_column_without_lookalike_suggests_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "who,occurred_at,event\nc1,2026-11-02,x\n")
    with pytest.raises(MissingColumnError, match=r"columns=\{'your_name': 'contact_id'\}"):
        read_events(path)


def test_mapping_names_a_column_that_is_not_there(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "user,occurred_at,event\nc1,2026-11-02,x\n")
    with pytest.raises(MissingColumnError, match=r"e\.csv.*'usr'.*Did you mean 'user'"):
        read_events(path, columns={"usr": "contact_id"})


@pytest.mark.parametrize(
    ("content", "match"), [("", "empty"), ("contact_id,occurred_at,event\n", "no rows")]
)
def test_empty_files(tmp_path: Path, content: str, match: str) -> None:
    path = write(tmp_path / "e.csv", content)
    with pytest.raises(EmptyInputError, match=rf"e\.csv.*{match}"):
        read_events(path)


@pytest.mark.parametrize("hold", ["auto", "memory", "disk", "lazy"])
def test_parquet_events_without_rows_are_refused_as_a_csv_header_is(
    tmp_path: Path, hold: str
) -> None:
    schema = {"contact_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"), "event": pl.String}
    pl.DataFrame(schema=schema).write_parquet(tmp_path / "e.parquet")
    with pytest.raises(EmptyInputError, match=r"e\.parquet: the events have column names but no"):
        read_events(tmp_path / "e.parquet", hold=hold, cache_dir=tmp_path / "cache")
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in ("a", "b"):  # every file of the folder empty
        pl.DataFrame(schema=schema).write_parquet(folder / f"{part}.parquet")
    with pytest.raises(EmptyInputError, match="parts: the events have column names but no rows"):
        read_events(folder, hold=hold, cache_dir=tmp_path / "cache")
    one = {"contact_id": ["c1"], "occurred_at": [utc(2026, 11, 2)], "event": ["x"]}
    pl.DataFrame(one).write_parquet(folder / "c.parquet")
    assert read_events(folder, hold=hold, cache_dir=tmp_path / "cache").summary().rows_kept == 1
    # a lazy plan is not run to tell: it gives an empty log
    empty = read_events(pl.scan_parquet(tmp_path / "e.parquet"), hold="lazy")
    assert empty.summary().rows_read == 0


def test_missing_file_unknown_type_and_wrong_object(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        read_events(tmp_path / "nope.csv")
    write(tmp_path / "e.xlsx", "x")
    with pytest.raises(DataError, match=r"unknown file type '\.xlsx'"):
        read_events(tmp_path / "e.xlsx")
    with pytest.raises(ParameterError, match="cannot read events from a int"):
        read_events(42)


def test_corrupt_parquet_is_a_funnelkit_error(tmp_path: Path) -> None:
    path = write(tmp_path / "e.parquet", "this is not parquet")
    with pytest.raises(DataError, match=r"e\.parquet: cannot be read"):
        read_events(path)


def test_errors_are_value_errors() -> None:
    assert issubclass(FunnelkitError, ValueError)
    assert issubclass(TimestampError, RowError)


# ------------------------------------------------------------------ strict mode
def test_strict_bad_timestamp_names_column_and_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", MESSY_CSV)
    with pytest.raises(TimestampError) as info:
        read_events(path, columns={"user_id": "contact_id", "ts": "occurred_at"}, strict=True)
    msg = str(info.value)
    assert "e.csv" in msg
    assert "column 'ts' (read as 'occurred_at')" in msg
    assert "row 5 ('not a date')" in msg
    assert "column 'user_id'" in msg and "row 4" in msg


def test_strict_bad_timestamp_with_a_format_names_that_format() -> None:
    df = pl.DataFrame({"contact_id": ["a"], "occurred_at": ["31/11/2026"], "event": ["x"]})
    with pytest.raises(TimestampError) as info:
        read_events(df, timestamp_format="%d/%m/%Y", strict=True)
    msg = str(info.value)
    assert "row 1 ('31/11/2026')" in msg
    assert "must match timestamp_format='%d/%m/%Y' (--timestamp-format)" in msg
    assert "for another layout" not in msg


def test_strict_null_id_is_a_row_error() -> None:
    df = pl.DataFrame({"contact_id": [None, "a"], "occurred_at": ["2026-11-02"] * 2, "event": "x"})
    with pytest.raises(RowError, match=r"no contact id in column 'contact_id': row 1\b"):
        read_events(df, strict=True)


def test_strict_passes_clean_data(frame: pl.DataFrame) -> None:
    assert read_events(frame, strict=True).collect().height == 3


# ------------------------------------------------------------------ row rules
def test_null_event_and_blank_strings_are_set_aside() -> None:
    df = pl.DataFrame(
        {
            "contact_id": ["a", "  ", "c"],
            "occurred_at": ["2026-11-02"] * 3,
            "event": ["x", "y", " "],
        }
    )
    assert read_events(df).summary().by_reason == {
        "null_contact_id": (1, (2,)),
        "null_event": (1, (3,)),
    }


def test_ids_and_event_names_are_stripped() -> None:
    df = pl.DataFrame({"contact_id": [" a "], "occurred_at": ["2026-11-02"], "event": [" like"]})
    row = read_events(df).collect().row(0, named=True)
    assert (row["contact_id"], row["event"]) == ("a", "like")


def test_one_reason_per_row_first_applicable_wins() -> None:
    df = pl.DataFrame({"contact_id": [None], "occurred_at": ["garbage"], "event": [None]})
    assert read_events(df).summary().by_reason == {"null_contact_id": (1, (1,))}


def test_unknown_events_only_set_aside_when_asked() -> None:
    df = pl.DataFrame(
        {"contact_id": ["a", "a"], "occurred_at": ["2026-11-02"] * 2, "event": ["like", "lkie"]}
    )
    assert read_events(df).summary().rows_set_aside == 0
    summary = read_events(df, known_events=["like"]).summary()
    assert summary.by_reason == {"unknown_event": (1, (2,))}


def test_duplicates_keep_first_copy_and_can_be_kept(frame: pl.DataFrame) -> None:
    doubled = pl.concat([frame, frame.head(1)])
    log = read_events(doubled)
    assert log.summary().by_reason == {"duplicate": (1, (4,))}
    assert log.collect().height == 3
    assert read_events(doubled, dedupe=False).collect().height == 4


def test_same_instant_in_two_offsets_is_a_duplicate() -> None:
    df = pl.DataFrame(
        {
            "contact_id": ["a", "a"],
            "occurred_at": ["2026-11-02T09:00:00+01:00", "2026-11-02T08:00:00Z"],
            "event": ["like", "like"],
        }
    )
    assert read_events(df).summary().by_reason == {"duplicate": (1, (2,))}


def test_rows_differing_in_a_property_are_not_duplicates(frame: pl.DataFrame) -> None:
    other = frame.head(1).with_columns(amount=pl.lit(1.0))
    assert read_events(pl.concat([frame, other])).summary().rows_set_aside == 0


def test_duplicates_are_found_wherever_they_are_and_kept_rows_keep_their_order() -> None:
    df = pl.DataFrame(
        {
            "contact_id": ["a", "b", " a", "c", "b", "a", "a"],
            "occurred_at": ["2026-11-02T09:00:00Z"] * 6 + ["2026-11-02T10:00:00+01:00"],
            "event": ["like", "like", "like", "like", "like", "purchase", "like"],
        }
    )
    log = read_events(df)
    kept = log.collect()
    assert list(zip(kept["contact_id"], kept["event"], strict=True)) == [
        ("a", "like"),
        ("b", "like"),
        ("c", "like"),
        ("a", "purchase"),
    ]
    aside = log.set_aside.collect()
    assert aside["row"].to_list() == [3, 5, 7]  # in source order, whitespace and offsets aside
    assert aside["reason"].to_list() == ["duplicate"] * 3
    assert aside["occurred_at"].to_list()[-1] == "2026-11-02T10:00:00+01:00"  # as written
    assert log.summary().by_reason == {"duplicate": (3, (3, 5, 7))}


def test_copies_of_unusable_rows_keep_their_own_reason() -> None:
    df = pl.DataFrame(
        {
            "contact_id": [None, None, "a", "a", "a"],
            "occurred_at": ["2026-11-02"] * 5,
            "event": ["like", "like", "lkie", "lkie", "like"],
        }
    )
    assert read_events(df, known_events=["like"]).summary().by_reason == {
        "null_contact_id": (2, (1, 2)),
        "unknown_event": (2, (3, 4)),
    }


def test_strict_names_the_duplicate_rows() -> None:
    df = pl.DataFrame(
        {"contact_id": ["a", "b", "a"], "occurred_at": ["2026-11-02"] * 3, "event": "like"}
    )
    with pytest.raises(RowError, match=r"1 with exact duplicate of an earlier row: row 3\."):
        read_events(df, strict=True)


NUMBERED = pl.LazyFrame(
    {
        "n": [1, 2, 3, 4, 5, 6, 7, 8],
        "a": ["x", "x", "y", "x", "y", "x", None, None],
        "b": [1.0, 2.0, 1.0, 1.0, 1.0, None, None, None],
    }
)


@pytest.mark.parametrize(
    "row_hash",
    [
        None,
        pl.lit(0, dtype=pl.UInt64),  # every row collides with every other
        pl.col("a").hash(),  # equal hashes for rows that differ in "b"
        pl.col("b").hash() % 2,
    ],
    ids=["row", "constant", "first_column", "two_buckets"],
)
@pytest.mark.parametrize("order", ["source", "reversed"])
def test_duplicate_rows_are_exact_whatever_the_hash(row_hash: pl.Expr | None, order: str) -> None:
    rows = NUMBERED if order == "source" else NUMBERED.reverse()
    got = duplicate_rows(rows, ["a", "b"], row="n", hashing=row_hash)
    # (x, 1.0) first at 1, again at 4; (y, 1.0) at 3 and 5; (null, null) at 7 and 8
    assert sorted(got.collect()["n"]) == [4, 5, 8]
    assert sorted(got.collect(engine="streaming")["n"]) == [4, 5, 8]


def test_read_events_is_exact_when_every_row_hash_collides(frame: pl.DataFrame) -> None:
    log = pl.concat([frame, frame.head(1), frame.with_columns(amount=pl.lit(5.0))])
    with mock.patch.object(duplicates, "row_hash", lambda key: pl.lit(0, dtype=pl.UInt64)):
        colliding = read_events(log)
    assert colliding.summary().by_reason == {"duplicate": (1, (4,))}
    assert colliding.collect().equals(pl.concat([frame, frame.with_columns(amount=pl.lit(5.0))]))
    assert colliding.collect().equals(read_events(log).collect())


@pytest.mark.parametrize("hold", ["memory", "lazy"])
def test_rows_differing_only_in_a_property_are_not_duplicates(hold: str) -> None:
    # the same contact, time and event (one hash), told apart by the properties
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    log = pl.DataFrame(
        {
            "contact_id": ["a"] * 7,
            "occurred_at": [at] * 7,
            "event": ["purchase"] * 7,
            "amount": [1.0, 2.0, None, 1.0, None, 3.0, 2.0],
            "channel": ["x", "x", "x", "x", "x", "y", "x"],
        }
    )
    got = read_events(log, hold=hold)
    assert got.summary().by_reason == {"duplicate": (3, (4, 5, 7))}
    assert got.collect()["amount"].to_list() == [1.0, 2.0, None, 3.0]


def test_duplicate_detection_streams(tmp_path: Path, frame: pl.DataFrame) -> None:
    path = tmp_path / "e.parquet"
    pl.concat([frame, frame]).write_parquet(path)
    log = read_events(path, hold="lazy")  # as a log larger than memory is written to the cache
    # A subplan shared by two passes would be held in memory whole by the
    # streaming engine: every pass of the duplicate detection reads the file.
    assert "CACHE" not in log.frame.explain(engine="streaming")
    assert "CACHE" not in log.set_aside.explain(engine="streaming")
    assert log.frame.collect(engine="streaming").equals(frame)
    assert log.set_aside.collect(engine="streaming")["row"].to_list() == [4, 5, 6]


rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "", None]),
        st.sampled_from(["2026-11-02T09:00:00Z", "2026-11-02", "1762074000", "bad", "", None]),
        st.sampled_from(["like", "purchase", None]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_property_every_row_is_kept_or_set_aside_once(data: list[tuple[str | None, ...]]) -> None:
    df = pl.DataFrame(data, schema=["contact_id", "occurred_at", "event"], orient="row")
    log = read_events(df)
    summary = log.summary()
    assert summary.rows_read == len(data)
    # slow reference: a row is usable when all three fields are present and the time parses
    usable = [(c, t, e) for c, t, e in data if c and e and t not in (None, "", "bad")]
    distinct = {(c, "1762074000" if t == "1762074000" else t, e) for c, t, e in usable}
    assert summary.rows_kept == len(distinct)
    aside_rows = log.set_aside.collect()["row"].to_list()
    assert len(aside_rows) == len(set(aside_rows)) == len(data) - len(distinct)


_INSTANTS = {
    "2026-11-02T09:00:00Z": utc(2026, 11, 2, 9),
    "2026-11-02T10:00:00+01:00": utc(2026, 11, 2, 9),
    "2026-11-02": utc(2026, 11, 2),
}
_NAN = object()

many_copies = st.lists(
    st.tuples(
        st.sampled_from(["a", " a", "b", "", None]),
        st.sampled_from([*_INSTANTS, "bad", None]),
        st.sampled_from(["like", " like", "purchase", " ", None]),
        st.sampled_from([0.0, -0.0, math.nan, 1.5, None]),
        st.sampled_from(["x", "y", None]),
    ),
    min_size=1,
    max_size=40,
)


def _clean(text: object) -> str | None:
    """Stripped text, or None for a missing or blank value."""
    return (text.strip() or None) if isinstance(text, str) else None


def _reference_reasons(data: list[tuple[object, ...]]) -> list[str | None]:
    """Each row's reason, by hand: one row at a time, remembering the rows seen."""
    seen: set[tuple[object, ...]] = set()
    reasons: list[str | None] = []
    for contact, when, event, amount, channel in data:
        if _clean(contact) is None:
            reasons.append("null_contact_id")
        elif _clean(event) is None:
            reasons.append("null_event")
        elif when is None:
            reasons.append("null_timestamp")
        elif isinstance(when, str) and when not in _INSTANTS:
            reasons.append("bad_timestamp")
        else:
            instant = _INSTANTS[when] if isinstance(when, str) else when
            same = _NAN if isinstance(amount, float) and math.isnan(amount) else amount
            key = (_clean(contact), instant, _clean(event), same, channel)
            reasons.append("duplicate" if key in seen else None)
            seen.add(key)
    return reasons


@settings(max_examples=80, deadline=None)
@given(many_copies, st.booleans(), st.booleans())
def test_property_duplicates_match_a_row_by_row_reference(
    data: list[tuple[object, ...]], typed_times: bool, collide: bool
) -> None:
    if typed_times:  # a datetime column (each pass reads it again) instead of text
        data = [(c, _INSTANTS.get(str(t)), e, a, ch) for c, t, e, a, ch in data]
    df = pl.DataFrame(
        data,
        schema={
            "contact_id": pl.String,
            "occurred_at": TIMESTAMP if typed_times else pl.String,
            "event": pl.String,
            "amount": pl.Float64,
            "channel": pl.String,
        },
        orient="row",
    )
    if collide:  # every row hashes alike: only the exact comparison tells them apart
        with mock.patch.object(duplicates, "row_hash", lambda key: pl.lit(7, dtype=pl.UInt64)):
            log = read_events(df)
    else:
        log = read_events(df)
    reasons = _reference_reasons(data)
    aside = log.set_aside.collect()
    expected = [(i + 1, r) for i, r in enumerate(reasons) if r is not None]
    assert list(zip(aside["row"], aside["reason"], strict=True)) == expected
    shown = [(_clean(data[n - 1][0]), _clean(data[n - 1][2])) for n, _ in expected]
    assert list(zip(aside["contact_id"], aside["event"], strict=True)) == shown
    kept = [row for row, r in zip(data, reasons, strict=True) if r is None]
    got = log.collect()
    assert got["contact_id"].to_list() == [_clean(row[0]) for row in kept]  # in source order
    assert got["event"].to_list() == [_clean(row[2]) for row in kept]
    assert got["channel"].to_list() == [row[4] for row in kept]
    assert log.frame.collect(engine="streaming").equals(got)


names_with_or_without_blanks = st.lists(
    st.tuples(
        st.sampled_from(["a", " a", "b", ""]),
        st.sampled_from(list(_INSTANTS)),
        # clean names alone take the path that strips nothing; one blank takes the general one
        st.sampled_from(["like", "purchase", "like ", "\u00a0purchase", "", None]),
        st.sampled_from(["x", "y"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(names_with_or_without_blanks, st.booleans())
def test_property_names_typed_as_they_are_when_none_needs_stripping_match_the_general_path(
    data: list[tuple[object, ...]], clean_names: bool
) -> None:
    if clean_names:  # no name with a blank or empty: the in-memory reading strips nothing
        data = [(c, t, _clean(e), ch) for c, t, e, ch in data]
    df = pl.DataFrame(data, schema=["contact_id", "occurred_at", "event", "channel"], orient="row")
    memory = read_events(df, hold="memory")
    general = read_events(df, hold="lazy")  # strips every name, lists them from the kept rows
    assert memory.collect().equals(general.collect())
    aside = general.set_aside.collect().sort("row")
    assert memory.set_aside.collect().sort("row").equals(aside)
    assert memory.summary() == general.summary()
    kept = {_clean(e) for c, t, e, ch in data if _clean(c) and _clean(e)}
    assert memory.summary().event_names == tuple(sorted(n for n in kept if n is not None))


@settings(max_examples=60, deadline=None)
@given(
    data=many_copies,
    collide=st.booleans(),
    keep=st.sampled_from([[], ["channel"], ["amount", "channel"]]),
)
def test_property_a_log_keeping_some_columns_validates_every_column(
    data: list[tuple[object, ...]],
    collide: bool,
    keep: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # rows differing only in a column not kept are not duplicates; equal ones are
    path = tmp_path_factory.mktemp("keep") / "events.parquet"
    schema = ["contact_id", "occurred_at", "event", "amount", "channel"]
    pl.DataFrame(data, schema=schema, orient="row").write_parquet(path)
    whole = read_events(path, hold="memory")
    fresh = tmp_path_factory.mktemp("cache")  # no receipt of the first reading: validated again
    if collide:  # every row hashes alike: every row is read again for the columns not kept
        with mock.patch.object(duplicates, "row_hash", lambda key: pl.lit(7, dtype=pl.UInt64)):
            narrow = read_events(path, hold="memory", keep=keep, cache_dir=fresh)
    else:
        narrow = read_events(path, hold="memory", keep=keep, cache_dir=fresh)
    held = ["contact_id", "occurred_at", "event", *(c for c in schema if c in keep)]
    assert narrow.frame.collect_schema().names() == held
    assert_frame_equal(narrow.collect(), whole.collect().select(held))
    assert_frame_equal(narrow.set_aside.collect(), whole.set_aside.collect())
    assert narrow.summary() == whole.summary()
    lazy = read_events(path, hold="lazy", keep=keep)  # the same rows, validated by each query
    assert_frame_equal(lazy.collect(), narrow.collect())


REQUIRED_NAMES = ["contact_id", "occurred_at", "event"]


def test_keep_narrows_a_log_on_disk_and_a_csv_with_ragged_rows_without_narrowing_the_cache(
    tmp_path: Path,
) -> None:
    day = dt.datetime(2026, 1, 1)
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "contact_id": ["a", "a", "b"],
            "occurred_at": [day, day, day],
            "event": ["x", "x", "y"],
            "channel": ["web", "mail", "web"],
        }
    ).write_parquet(path)
    cache = tmp_path / "cache"
    narrow = read_events(path, hold="disk", cache_dir=cache, keep=[])
    assert narrow.held == "disk"
    assert narrow.frame.collect_schema().names() == ["contact_id", "occurred_at", "event"]
    assert narrow.summary().rows_kept == 3  # the two "a" rows differ in their channel
    whole = read_events(path, hold="disk", cache_dir=cache)  # the same entry, every column
    assert whole.frame.collect_schema().names()[-1] == "channel"
    assert whole.collect().height == 3
    # read into memory from the entry, only the columns kept
    again = read_events(path, cache_dir=cache, keep=[])
    assert again.held == "memory" and again.frame.collect_schema().names() == REQUIRED_NAMES
    assert again.numbered is not None and again.numbered.collect_schema().names()[1:] == (
        REQUIRED_NAMES
    )
    assert_frame_equal(again.collect(), whole.collect().drop("channel"))
    csv = tmp_path / "events.csv"
    csv.write_text(
        "contact_id,occurred_at,event,channel\n"
        "a,2026-01-01T00:00:00Z,x,web\n"
        "b,2026-01-01T00:00:00Z,y\n"  # one field short: set aside
        "a,2026-01-01T00:00:00Z,x,web\n",  # a duplicate
        encoding="utf-8",
    )
    log = read_events(csv, keep=[])
    assert log.frame.collect_schema().names() == ["contact_id", "occurred_at", "event"]
    reasons = dict(log.summary().to_dict()["set_aside_by_reason"])
    assert reasons == {"wrong_field_count": 1, "duplicate": 1}


def test_keep_names_a_column_the_events_lack(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {"contact_id": ["a"], "occurred_at": [dt.datetime(2026, 1, 1)], "event": ["x"]}
    ).write_parquet(path)
    with pytest.raises(MissingColumnError, match="'chanel'"):
        read_events(path, keep=["chanel"])
    with pytest.raises(ParameterError, match=r"keep: expected a list .* keep=\['channel'\]"):
        read_events(path, keep="channel")


@settings(max_examples=40, deadline=None)
@given(many_copies, st.booleans())
def test_property_a_log_validated_into_the_cache_sets_aside_the_duplicates_found_in_memory(
    data: list[tuple[object, ...]], collide: bool
) -> None:
    import tempfile

    from funnelkit import holding

    data = [(c, _INSTANTS.get(str(t)), e, a, ch) for c, t, e, a, ch in data]
    schema = {
        "contact_id": pl.String,
        "occurred_at": TIMESTAMP,
        "event": pl.String,
        "amount": pl.Float64,
        "channel": pl.String,
    }
    df = pl.DataFrame(data, schema=schema, orient="row")
    reference = read_events(df, hold="memory")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        df.write_parquet(path)
        # "larger than memory": the validation streams into the cache, hashes sorted once
        with (
            mock.patch.object(holding, "available_memory", lambda *a: 1),
            mock.patch.object(
                duplicates,
                "row_hash",
                (lambda key: pl.lit(7, dtype=pl.UInt64)) if collide else duplicates.row_hash,
            ),
        ):
            log = read_events(path, hold="disk", cache_dir=Path(tmp) / "cache")
        assert log.held == "disk"
        assert log.collect().equals(reference.collect())
        aside = reference.set_aside.collect().sort("row")
        assert log.set_aside.collect().sort("row").equals(aside)
        assert replace(log.summary(), source="<frame>") == reference.summary()


# ------------------------------------------------------------------ contacts
def test_read_contacts_sets_aside_duplicates_and_bad_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "contacts.csv",
        "contact_id,created_at,segment\nc1,2026-10-01,smb\nc2,,smb\nc1,2026-10-02,smb\n"
        ",2026-10-01,smb\nc3,someday,smb\n",
    )
    table = read_contacts(path)
    df = table.collect()
    assert df["contact_id"].to_list() == ["c1", "c2"]
    assert df["created_at"].to_list() == [utc(2026, 10, 1), None]
    assert table.summary().by_reason == {
        "null_contact_id": (1, (4,)),
        "bad_created_at": (1, (5,)),
        "duplicate_contact": (1, (3,)),
    }
    with pytest.raises(TimestampError, match=r"contacts\.csv.*'created_at'.*row 5 \('someday'\)"):
        read_contacts(path, strict=True)
    assert "1 bad_created_at (unparseable created_at): row 5" in str(table.summary())
    with pytest.raises(TimestampError) as info:
        read_contacts(path, strict=True)
    assert "--timestamp-format" not in str(info.value)  # the option reads the events only


def test_read_contacts_requires_contact_id(tmp_path: Path) -> None:
    path = write(tmp_path / "contacts.csv", "id,segment\nc1,smb\n")
    with pytest.raises(
        MissingColumnError, match=r"contacts\.csv: the contacts have no 'contact_id'"
    ):
        read_contacts(path)


# ------------------------------------------------------------------ canonical frames
def test_as_lazy_accepts_logs_and_frames(frame: pl.DataFrame) -> None:
    naive = frame.with_columns(pl.col("occurred_at").dt.replace_time_zone(None))
    got = as_lazy(naive).collect()
    assert got.schema["occurred_at"] == TIMESTAMP
    assert got["occurred_at"].to_list() == frame["occurred_at"].to_list()
    assert as_lazy(read_events(frame)).collect().equals(frame)


def test_as_lazy_refuses_text_timestamps_with_a_hint(frame: pl.DataFrame) -> None:
    text = frame.with_columns(pl.col("occurred_at").cast(pl.String))
    with pytest.raises(TimestampError, match=r"read_events"):
        as_lazy(text)
    with pytest.raises(MissingColumnError, match="'event'"):
        as_lazy(frame.drop("event"))
    with pytest.raises(ParameterError):
        as_lazy("events.csv")  # type: ignore[arg-type]


def test_as_lazy_contacts_types_created_at() -> None:
    df = pl.DataFrame({"contact_id": [1], "created_at": [dt.date(2026, 1, 1)]})
    got = as_lazy_contacts(df).collect()
    assert got.schema["contact_id"] == pl.String
    assert got["created_at"].item() == utc(2026, 1, 1)


def test_summary_renders_in_notebooks(tmp_path: Path) -> None:
    log = read_events(
        write(tmp_path / "e.csv", MESSY_CSV), columns={"user_id": "contact_id", "ts": "occurred_at"}
    )
    html = log._repr_html_()
    assert "bad_timestamp" in html and "e.csv" in html
    assert log.summary().to_polars().height == 4
    assert log.summary().to_dict()["rows_set_aside"] == 4


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'contact_id,occurred_at,event\nc1,2026-11-02,like\nc3,"2026-11-02,like\nc4,x,y\n',
            "a quoted field opened on line 3 runs to line 4; is a closing quote missing?",
        ),
        (
            'contact_id,occurred_at,event,note\nc1,2026-11-02,like,"one\ntwo"\n'
            'c2,2026-11-02,like,"open\nc3,2026-11-02,like,x\n',
            "a quoted field opened on line 4 runs to line 5; is a closing quote missing?",
        ),
    ],
)
def test_a_malformed_csv_names_its_first_bad_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_events(path)
    assert str(info.value).rstrip(".") == f"{path}: not a readable CSV file: {problem}"


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("contact_id,occurred_at,event\nc1,2026-11-02,like\nc2,2026-11-02,like,extra\n", [2]),
        ("contact_id,occurred_at,event\nc1,2026-11-02,like\nc2,2026-11-02\n", [2]),
        (  # a quoted field with a line break is one field of one row
            'contact_id,occurred_at,event,note\nc1,2026-11-02,like,"one\ntwo"\n'
            "c2,2026-11-02,like,ok\nc3,2026-11-02,like,x,extra\nc4,2026-11-02\n",
            [3, 4],
        ),
        (  # a quoted separator is no field of its own; a blank line is no ragged row
            'contact_id;occurred_at;event;note\nc1;2026-11-02;like;"a;b"\n\n'
            "c2;2026-11-02;like;x;y\nc3;2026-11-02;like;z\n",
            [3],
        ),
    ],
)
def test_rows_with_too_many_or_too_few_fields_are_set_aside_alike(
    tmp_path: Path, text: str, rows: list[int]
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    log = read_events(path)
    summary = log.summary()
    assert summary.by_reason["wrong_field_count"] == (len(rows), tuple(rows))
    aside = log.set_aside.filter(pl.col("reason") == "wrong_field_count").collect()
    assert aside["row"].to_list() == rows
    assert "c1" in log.collect()["contact_id"].to_list()
    with pytest.raises(
        RowError, match=r"ragged\.csv: .* more or fewer fields than the header.*row "
    ):
        read_events(path, strict=True)


@pytest.mark.parametrize(
    "header", ["contact_id,occurred_at,event,contact_id", "contact_id;occurred_at;event;event"]
)
def test_a_header_naming_a_column_twice_is_refused_naming_it(tmp_path: Path, header: str) -> None:
    sep = header[10]
    path = tmp_path / "twice.csv"
    path.write_text(header + "\n" + sep.join(["c1", "2026-11-02", "like", "c9"]) + "\n")
    twice = header.rsplit(sep, 1)[1]
    with pytest.raises(
        DataError, match=rf"twice\.csv: the header names the column '{twice}' twice"
    ):
        read_events(path)
    with pytest.raises(DataError, match=r"the header names the column 'segment' twice"):
        read_contacts_of(tmp_path, "contact_id,segment,segment\nc1,b2b,b2c\n")


def read_contacts_of(folder: Path, text: str) -> object:
    path = folder / "contacts.csv"
    path.write_text(text)
    return read_contacts(path)


def test_a_csv_with_classic_mac_line_ends_is_read_row_by_row(tmp_path: Path) -> None:
    # Excel's "CSV (Macintosh)" ends lines with a lone carriage return.
    path = tmp_path / "mac.csv"
    path.write_bytes(b"contact_id,occurred_at,event\rc1,2026-11-02,like\rc2,2026-11-03,like\r")
    frame = read_events(path).collect()
    assert frame["contact_id"].to_list() == ["c1", "c2"]


@pytest.mark.parametrize("name", ["events[1]", "events*", "events?"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ndjson"])
def test_a_file_whose_name_holds_glob_characters_is_read_as_itself(
    tmp_path: Path, name: str, suffix: str
) -> None:
    frame = pl.DataFrame(
        {"contact_id": ["c1"], "occurred_at": ["2026-11-02T09:00:00Z"], "event": ["like"]}
    )
    path = tmp_path / f"{name}{suffix}"
    {".csv": frame.write_csv, ".parquet": frame.write_parquet, ".ndjson": frame.write_ndjson}[
        suffix
    ](path)
    (tmp_path / f"{name}x{suffix}").write_text("not the file meant")  # a glob would match it
    assert read_events(path).collect()["contact_id"].to_list() == ["c1"]


@pytest.mark.parametrize("when", ["2026-11-02T09:00:00", "2026-11-02T09:00:00Z"])
def test_an_unknown_timezone_is_refused_before_reading_naming_a_near_one(
    tmp_path: Path, when: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.csv"
    path.write_text(f"contact_id,occurred_at,event\nc1,{when},like\n")
    with pytest.raises(ParameterError, match=r"timezone 'Europe/Pariss'.*'Europe/Paris'"):
        read_events(path, timezone="Europe/Pariss")
    with pytest.raises(ParameterError, match=r"timezone 'Mars/Olympus': not a time zone"):
        read_contacts(path, timezone="Mars/Olympus")
    from funnelkit.cli import main

    assert main(["validate", str(path), "--timezone", "Mars/Olympus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read 1 row" not in err


def test_a_typo_in_the_column_mapping_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user,ts,event\nc1,2026-11-02,like\n")
    with pytest.raises(MissingColumnError) as info:
        read_events(path, columns={"user": "contact_id", "ts": "occured_at"})
    assert "renames 'ts' to 'occured_at': did you mean ts=occurred_at" in str(info.value)


def test_decimal_commas_with_a_blank_cell_are_read_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "contact_id;occurred_at;event;amount\n"
        "a;2026-11-02;purchase;12,5\nb;2026-11-02;purchase; \nc;2026-11-02;like;\n"
    )
    frame = read_events(path).frame.collect()
    assert frame.schema["amount"] == pl.Float64
    assert frame["amount"].to_list() == [12.5, None, None]


def test_nan_in_a_numeric_csv_column_is_an_unknown_value(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "contact_id,occurred_at,event,amount\na,2026-11-02,buy,NaN\nb,2026-11-02,buy,5\n"
    )
    frame = read_events(path).frame.collect()
    assert frame.schema["amount"] == pl.Float64
    assert frame["amount"].to_list() == [None, 5.0]  # a NaN would pass 'amount > 0'


_DATES = st.sampled_from(["2026-11-02", "2024-02-29", "2026-02-30", "1999-12-31", "2026-13-01"])
_TIMES = st.sampled_from(
    ["09:00:00", "23:59:59", "00:00:00.5", "12:34:56.123456", "9:00:00", "24:00:00"]
)
_ZONES = st.sampled_from(["", "Z", "z", "+01:00", "-05:30", "+0100", "+14:00", " Z"])
_ISO = st.builds(
    lambda d, sep, t, z, pad: f"{pad}{d}{sep}{t}{z}{pad}",
    _DATES,
    st.sampled_from(["T", " "]),
    _TIMES,
    _ZONES,
    st.sampled_from(["", " "]),
)
_ODD = st.sampled_from(
    ["", "  ", "soon", "1762070400", "1762070400000", "2026-11-02", "2026-11-02T09:00"]
)


def _iso_with(zones: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda d, sep, t, z: f"{d}{sep}{t}{z}", _DATES, st.sampled_from(["T", " "]), _TIMES, zones
    )


_UNIFORM = st.one_of(
    st.lists(_iso_with(st.sampled_from(["Z", "+01:00", "-0530"])), min_size=1, max_size=8),
    st.lists(_iso_with(st.just("")), min_size=1, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.one_of(_ISO, _ISO, _ISO, _ODD, st.none()), min_size=1, max_size=12),
        _UNIFORM,
    ),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
)
def test_one_shape_parses_as_every_format_would(values: list[str | None], timezone: str) -> None:
    """The single-format path gives the instants of the full one, on every value."""
    lf = pl.LazyFrame({"t": values}, schema={"t": pl.String})
    shape = events.timestamp_shape(lf, "t")
    one = lf.select(events.parse_timestamp(pl.col("t"), pl.String, timezone=timezone, shape=shape))
    every = lf.select(events.parse_timestamp(pl.col("t"), pl.String, timezone=timezone))
    assert one.collect().to_series().to_list() == every.collect().to_series().to_list()


def test_a_uniform_export_takes_the_one_format_path() -> None:
    lf = pl.LazyFrame({"t": ["2026-11-02T09:00:00Z", "2026-11-03 10:00:00.250+01:00"]})
    assert events.timestamp_shape(lf, "t") == "aware"
    assert (
        events.timestamp_shape(lf.with_columns(pl.lit("2026-11-02 09:00:00").alias("t")), "t")
        == "naive"
    )
    mixed = pl.LazyFrame({"t": ["2026-11-02T09:00:00Z", "1762070400"]})
    assert events.timestamp_shape(mixed, "t") == "any"
    assert (
        events.timestamp_shape(pl.LazyFrame({"t": [None, " "]}, schema={"t": pl.String}), "t")
        == "any"
    )


# ------------------------------------------------------------------ values kept as written
def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


IDS_AND_DATES = (
    "customer_id,date,event,phone,amount\n"
    "00001,19970101,like,+33612345678,3\n"
    "1,19970102,like,0612345678,4\n"
)


def test_renamed_csv_columns_keep_their_ids_and_read_the_given_format(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", IDS_AND_DATES)
    columns = {"customer_id": "contact_id", "date": "occurred_at"}
    df = read_events(path, columns=columns, timestamp_format="%Y%m%d").collect()
    assert df["contact_id"].to_list() == ["00001", "1"]  # two customers, not one
    assert df["occurred_at"].to_list() == [utc(1997, 1, 1), utc(1997, 1, 2)]
    assert df["phone"].to_list() == ["+33612345678", "0612345678"]  # text, as written
    assert df["amount"].dtype == pl.Int64  # a plain number column is still typed


def test_cli_columns_and_timestamp_format_keep_ids_and_dates(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", IDS_AND_DATES)
    out = tmp_path / "rows.csv"
    done = run_cli(
        "classify",
        path,
        "--funnel",
        "sales",
        "--columns",
        "customer_id=contact_id,date=occurred_at",
        "--timestamp-format",
        "%Y%m%d",
        "--out",
        out,
        "--no-pseudonymize",
    )
    assert done.returncode == 0, done.stderr
    assert "2 contacts" in done.stdout and "1970" not in done.stderr
    table = pl.read_csv(out, infer_schema=False)
    assert sorted(table["contact_id"].to_list()) == ["00001", "1"]


def test_integer_ids_and_dates_from_parquet_ndjson_and_frames(tmp_path: Path) -> None:
    import pandas as pd

    df = pl.DataFrame({"id": [1, 1, 20], "day": [19970101, 19970102, 20261102], "event": ["x"] * 3})
    df.write_parquet(tmp_path / "e.parquet")
    df.write_ndjson(tmp_path / "e.ndjson")
    sources = [tmp_path / "e.parquet", tmp_path / "e.ndjson", df, df.lazy(), df.to_pandas()]
    for source in sources:
        out = read_events(
            source, columns={"id": "contact_id", "day": "occurred_at"}, timestamp_format="%Y%m%d"
        ).collect()
        assert out["contact_id"].to_list() == ["1", "1", "20"], source
        assert out["occurred_at"].to_list() == [utc(1997, 1, 1), utc(1997, 1, 2), utc(2026, 11, 2)]
    # pandas makes an integer column with a gap a float column: 1.0 is still contact "1"
    gappy = pd.DataFrame(
        {"contact_id": [1.0, None, 2.5], "occurred_at": ["2026-11-02"] * 3, "event": ["x"] * 3}
    )
    log = read_events(gappy)
    assert log.collect()["contact_id"].to_list() == ["1", "2.5"]
    assert log.summary().by_reason["null_contact_id"] == (1, (2,))


def test_a_given_format_wins_over_epochs_for_float_columns() -> None:
    df = pl.DataFrame({"contact_id": ["a", "b"], "occurred_at": [19970101.0, 19970101.5]})
    log = read_events(df.with_columns(event=pl.lit("x")), timestamp_format="%Y%m%d")
    assert log.collect()["occurred_at"].to_list() == [utc(1997, 1, 1)]
    assert log.summary().by_reason["bad_timestamp"] == (1, (2,))


def test_dates_written_as_numbers_are_not_silently_read_as_1970(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "contact_id,occurred_at,event\na,19970101,x\nb,20261102,x\n")
    summary = read_events(path).summary()
    (warning,) = summary.warnings
    assert "2 events read as epoch seconds fall in August 1970" in warning
    assert "--timestamp-format %Y%m%d" in warning and "row 1 (1970-08-20" in warning
    done = run_cli("validate", path)
    assert "warning: 2 events read as epoch seconds" in done.stderr
    assert not read_events(path, timestamp_format="%Y%m%d").summary().warnings


def test_a_bulk_of_events_before_1980_is_warned_about_not_a_few(tmp_path: Path) -> None:
    # small numbers (a counter, seconds since the start of a test) read as epoch seconds
    frame = pl.DataFrame(
        {"contact_id": [f"c{i % 7}" for i in range(30)], "occurred_at": range(1, 31)}
    ).with_columns(event=pl.lit("like"))
    frame.write_parquet(tmp_path / "e.parquet")
    (warning,) = read_events(tmp_path / "e.parquet").summary().warnings
    assert warning.startswith("30 events dated before 1980 (from 1970-01-01 00:00:01 UTC)")
    assert "row 1 (1970-01-01 00:00:01)" in warning and warning.endswith(", ...")
    # one such event among recent ones is an outlier, told once, as such
    later = frame.with_columns(pl.col("occurred_at") + 1_762_000_000)
    mixed = pl.concat([later, frame.head(1)])
    (warning,) = read_events(mixed).summary().warnings
    assert warning.startswith("1 event dated more than 2 years away from the bulk")
    # %Y%m%d numbers get their own warning only
    dates = frame.head(2).with_columns(occurred_at=pl.Series([19970101, 20261102]))
    (warning,) = read_events(dates).summary().warnings
    assert "fall in August 1970" in warning
    # numbers landing in August 1970 that are no dates are still before 1980
    odd = frame.with_columns(occurred_at=pl.col("occurred_at") + 19_990_000)
    (warning,) = read_events(odd).summary().warnings
    assert warning.startswith("30 events dated before 1980 (from 1970-08-20")


@pytest.mark.parametrize(
    ("value", "typed"),
    [
        ("007", False),
        ("+33612345678", False),
        ("1e5", False),
        ("12345678901234567890", False),
        ("0.1234567890123456", False),
        ("-12", True),
        ("0", True),
        ("12.50", True),
        ("0.5", True),
    ],
)
def test_property_columns_are_typed_only_when_the_text_reads_back(
    tmp_path: Path, value: str, typed: bool
) -> None:
    path = write(tmp_path / "e.csv", f"contact_id,occurred_at,event,p\na,2026-11-02,x,{value}\n")
    column = read_events(path).collect()["p"]
    assert (column.dtype != pl.String) is typed
    if not typed:
        assert column.item() == value


# ------------------------------------------------------------------ encodings
def test_one_latin1_byte_sets_its_row_aside_and_keeps_utf8_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"contact_id,occurred_at,event,name\n"
        b"c1,2026-11-02,like,S\xc3\xa9bastien\n"
        b"c2,2026-11-02,like,S\xe9bastien\n"
        b"c3,2026-11-03,like,Zo\xc3\xab\n"
    )
    log = read_events(path)
    assert log.collect()["name"].to_list() == ["Sébastien", "Zoë"]  # no 'SÃ©bastien'
    summary = log.summary()
    assert summary.by_reason == {"bad_encoding": (1, (2,))}
    assert summary.encoding == "utf-8"
    aside = log.set_aside.collect()
    assert aside.row(0, named=True)["other_fields"] == "S\\xe9bastien"
    with pytest.raises(RowError, match=r"mixed\.csv: 1 unusable row: 1 with bytes .*row 2"):
        read_events(path, strict=True)
    done = run_cli("validate", path)
    assert done.returncode == 1
    assert "1 bad_encoding (bytes that are not UTF-8" in done.stderr and ": row 2" in done.stderr


def test_a_file_in_cp1252_throughout_is_read_as_cp1252_and_says_so(tmp_path: Path) -> None:
    path = write(
        tmp_path / "fr.csv",
        "contact_id,occurred_at,event,name\nc1,2026-11-02,like,Sébastien\n",
        "cp1252",
    )
    log = read_events(path)
    assert log.collect()["name"].to_list() == ["Sébastien"]
    assert log.summary().encoding == "cp1252"
    assert "decoded as cp1252" in str(log.summary())
    done = run_cli("validate", path)
    assert done.returncode == 0 and "note: the text was decoded as cp1252" in done.stderr


# ------------------------------------------------------------------ times far from the rest
def typo_log(tmp_path: Path) -> Path:
    rows = [f"c{i},2026-11-{1 + i % 28:02d}T09:00:00Z,like" for i in range(60)]
    rows[41] = "c41,2062-11-05T09:00:00Z,like"  # 2026 typed as 2062
    return write(tmp_path / "typo.csv", "contact_id,occurred_at,event\n" + "\n".join(rows) + "\n")


def test_an_event_decades_after_the_rest_is_named_and_left_out_of_the_bulk(
    tmp_path: Path,
) -> None:
    summary = read_events(typo_log(tmp_path)).summary()
    assert summary.last_at == utc(2062, 11, 5, 9)
    assert summary.bulk_last_at == utc(2026, 11, 28, 9)
    assert summary.bulk_first_at == summary.first_at == utc(2026, 11, 1, 9)
    (warning,) = summary.warnings
    assert "1 event dated more than 2 years away from the bulk" in warning
    assert "row 42 (2062-11-05 09:00:00)" in warning
    assert "row 42 (2062-11-05 09:00:00)" in summary._repr_html_()
    done = run_cli("validate", typo_log(tmp_path))
    assert done.returncode == 0 and "warning: 1 event dated more than 2 years" in done.stderr


def test_logs_without_outliers_have_no_warning(frame: pl.DataFrame) -> None:
    rows = [f"c{i},{2020 + i // 10}-06-01,x" for i in range(60)]  # six years, evenly spread
    df = pl.DataFrame([r.split(",") for r in rows], schema=list(events.REQUIRED), orient="row")
    summary = read_events(df).summary()
    assert summary.warnings == () and summary.bulk_last_at == summary.last_at
    assert read_events(frame).summary().warnings == ()


# ------------------------------------------------------------------ renaming never changes a value
_ID_TEXT = st.one_of(
    st.from_regex(r"0{0,3}[0-9]{1,7}", fullmatch=True),
    st.from_regex(r"[+-][0-9]{1,6}", fullmatch=True),
    st.from_regex(r"[a-z]{1,3} [0-9]{1,3}", fullmatch=True),
    st.text(
        st.characters(categories=["L", "N"], include_characters=',"-+.'),
        min_size=1,
        max_size=6,
    ),
)
_WHEN = st.sampled_from(
    [
        "2026-11-02",
        "2026-11-02T09:00:00Z",
        "2026-11-02 09:00:00+01:00",
        "2026-11-02T09:00",
        "1762070400",
        "1762070400000",
        "20261102",
        "not a date",
    ]
)
_PROP = st.one_of(
    st.from_regex(r"0[0-9]{1,4}", fullmatch=True),
    st.from_regex(r"-?[1-9][0-9]{0,3}(\.[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(["", "+33612345678", "NaN", "x"]),
)
_THEIR_NAMES = st.sampled_from(["customer_id", "date", "what", "user", "ts", "Kunde", "qui"])


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_ID_TEXT, _WHEN, _PROP), min_size=1, max_size=8),
    names=st.lists(_THEIR_NAMES, min_size=4, max_size=4, unique=True),
    kind=st.sampled_from(["csv", "parquet", "ndjson"]),
    timestamp_format=st.sampled_from([None, "%Y%m%d"]),
)
def test_property_renaming_columns_never_changes_a_value(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, str]],
    names: list[str],
    kind: str,
    timestamp_format: str | None,
) -> None:
    ids, whens, props = (list(c) for c in zip(*rows, strict=True))
    ours = pl.DataFrame(
        {"contact_id": ids, "occurred_at": whens, "event": ["x"] * len(ids), "prop": props}
    )
    mapping = dict(zip(names, ["contact_id", "occurred_at", "event", "prop"], strict=True))
    theirs = ours.rename({v: k for k, v in mapping.items()})
    folder = tmp_path_factory.mktemp("rename")
    logs = []
    for name, table, columns in (("ours", ours, None), ("theirs", theirs, mapping)):
        path = folder / f"{name}.{kind}"
        {"csv": table.write_csv, "parquet": table.write_parquet, "ndjson": table.write_ndjson}[
            kind
        ](path)
        logs.append(
            read_events(path, columns=columns, timestamp_format=timestamp_format, dedupe=False)
        )
    plain, renamed = logs
    assert_frame_equal(renamed.collect(), plain.collect())
    assert_frame_equal(renamed.set_aside.collect(), plain.set_aside.collect())
    kept = plain.collect()["contact_id"].to_list()
    usable = plain.set_aside.collect()["row"].to_list()
    assert kept == [i for n, i in enumerate(ids, start=1) if n not in usable]  # as written


def test_an_epoch_beyond_year_9999_is_an_unparseable_timestamp() -> None:
    df = pl.DataFrame(
        {
            "contact_id": ["a", "b", "c"],
            "occurred_at": ["999999999999999", "-999999999999999", "2026-11-02"],
            "event": ["x"] * 3,
        }
    )
    summary = read_events(df).summary()  # no OverflowError making Python datetimes
    assert summary.by_reason == {"bad_timestamp": (2, (1, 2))}
    assert summary.last_at == utc(2026, 11, 2)


def test_frames_with_float_ids_give_the_same_ids_as_read_events() -> None:
    df = pl.DataFrame(
        {"contact_id": [1.0, 2.5], "occurred_at": [utc(2026, 11, 2)] * 2, "event": ["x"] * 2}
    )
    assert as_lazy(df).collect()["contact_id"].to_list() == ["1", "2.5"]
    assert as_lazy_contacts(df.select("contact_id")).collect()["contact_id"].to_list() == [
        "1",
        "2.5",
    ]


def test_contacts_set_aside_ragged_rows_and_keep_their_ids_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path / "contacts.csv",
        "customer,created_at,segment\n00007,2026-11-02,smb\n7,2026-11-02\n8,2026-11-02,x,y\n",
    )
    table = read_contacts(path, columns={"customer": "contact_id"})
    assert table.collect()["contact_id"].to_list() == ["00007"]
    assert table.summary().by_reason == {"wrong_field_count": (2, (2, 3))}


def test_a_contacts_table_with_an_occurred_at_column_is_summarised(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("contact_id,occurred_at\nc1,2026-01-01\n")
    summary = read_contacts(path).summary()
    assert summary.rows_kept == 1 and summary.first_at is None


@pytest.mark.parametrize(
    ("column", "values"),
    [("ts", [[1, 2]]), ("event", [["like"]]), ("contact_id", [{"id": 1}])],
)
def test_a_nested_column_is_refused_by_name_not_by_polars(
    tmp_path: Path, column: str, values: list[object]
) -> None:
    data: dict[str, list[object]] = {
        "contact_id": ["a"],
        "ts": ["2026-11-02"],
        "event": ["like"],
        column: values,
    }
    path = tmp_path / "nested.parquet"
    pl.DataFrame(data).write_parquet(path)
    shown = "'ts' (read as 'occurred_at')" if column == "ts" else repr(column)
    with pytest.raises(DataError, match=rf"nested\.parquet: the column {re.escape(shown)} holds"):
        read_events(path, columns={"ts": "occurred_at"})


def test_a_nested_created_at_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pl.DataFrame({"contact_id": ["a"], "created_at": [["2026-11-02"]]}).write_parquet(path)
    with pytest.raises(DataError, match=r"the column 'created_at' holds List\(String\) values"):
        read_contacts(path)


# --- plain Python reprs ------------------------------------------------------------------------
def test_a_log_and_its_summary_print_short_in_a_plain_prompt(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", MESSY_CSV)
    log = read_events(path, columns={"user_id": "contact_id", "ts": "occurred_at"})
    assert repr(log) == (
        f"EventLog(source={str(path)!r}, held='memory', columns=['contact_id', 'occurred_at', "
        "'event', 'channel'], rows_kept=4, rows_set_aside=4)"
    )
    assert repr(log.summary()) == (
        f"SetAsideSummary(source={str(path)!r}, rows_read=8, rows_kept=4, set_aside="
        "{'null_contact_id': 1, 'null_timestamp': 1, 'bad_timestamp': 1, 'duplicate': 1})"
    )
    wide = read_contacts(pl.DataFrame({f"c{k}": ["x"] for k in range(12)} | {"contact_id": ["a"]}))
    assert repr(wide).startswith("ContactTable(source='<frame>', held='memory', columns=[")
    assert "'c6', ... 5 more], rows_kept=1, rows_set_aside=0)" in repr(wide)


def test_the_repr_of_a_lazy_log_reads_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", "contact_id,occurred_at,event\nc1,2026-11-02,like\n")
    log = read_events(path, hold="lazy")
    path.unlink()  # a repr that read the source would fail now
    assert repr(log) == f"EventLog(source={str(path)!r}, held='lazy', summary not counted yet)"
    assert log.summarized is None


def test_a_pandas_contacts_table_is_pointed_to_read_contacts() -> None:
    pd = pytest.importorskip("pandas")
    from funnelkit.definitions import load_funnel
    from funnelkit.stages import classify

    events = pl.DataFrame(
        {"contact_id": ["a"], "occurred_at": [utc(2026, 11, 2)], "event": ["like"], "amount": [1.0]}
    )
    people = pd.DataFrame({"contact_id": ["a", "b"]})
    with pytest.raises(
        ParameterError, match=r"contacts: .* got pandas\.DataFrame; .*read_contacts"
    ):
        classify(events, load_funnel("sales"), contacts=people)
    with pytest.raises(ParameterError, match=r"got pandas\.DataFrame; .*read_events"):
        as_lazy(people)
