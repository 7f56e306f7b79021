"""Counting a quoted CSV text's fields per record with numpy, against :mod:`csv`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelkit import sources

# sources._ragged_records (csv.reader, record by record) is the reference.
quoted_count = sources._ragged_quoted
reference = sources._ragged_records

PLAIN = "ab é\xa0\t;|,"  # a field's characters, the separator taken out below
INSIDE = PLAIN + "\n\r"


def outcome(raw: bytes, sep: str, count: Callable[..., object]) -> object:
    """Return what ``count`` returns, or ``"open quote"`` where it raises ValueError."""
    try:
        return count(raw.decode("utf-8") if count is reference else raw, sep)
    except ValueError as exc:
        assert "runs to the end of the file" in str(exc)
        return "open quote"


@st.composite
def field(draw: st.DrawFn, sep: str) -> str:
    if draw(st.booleans()):
        text = draw(st.text(PLAIN.replace(sep, ""), max_size=4))
        return text
    parts = draw(st.lists(st.sampled_from([*INSIDE, '""', "\r\n"]), max_size=5))
    return '"' + "".join(parts) + '"'


@st.composite
def csv_text(draw: st.DrawFn) -> tuple[str, str]:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 4))
    records = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["row", "row", "row", "ragged", "blank", "spaces"]))
        if kind == "blank":
            records.append("")
        elif kind == "spaces":
            records.append(draw(st.sampled_from([" ", "\xa0", '""', f'" "{sep}', sep])))
        else:
            n = width if kind == "row" else draw(st.integers(1, 6))
            records.append(sep.join(draw(field(sep)) for _ in range(n)))
    header = sep.join(draw(field(sep)) for _ in range(width))
    lines = [header, *records]
    ends = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if draw(st.booleans()):
        text = text.removesuffix(ends[-1])
    if '"' not in text:
        text = '"q"' + sep + text
    return text, sep


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_text())
def test_quoted_count_matches_the_csv_module(case: tuple[str, str]) -> None:
    text, sep = case
    raw = text.encode()
    assert quoted_count(raw, sep) is not None  # well-formed quotes: never the slow path
    assert outcome(raw, sep, quoted_count) == outcome(raw, sep, reference)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text('a,"\n\r \xa0', min_size=1, max_size=24).filter(lambda t: '"' in t))
def test_quoted_count_agrees_with_csv_or_declines_on_any_text(text: str) -> None:
    raw = text.encode()
    fast = outcome(raw, ",", quoted_count)
    if fast is not None:
        assert fast == outcome(raw, ",", reference)
    assert outcome(raw, ",", sources._ragged_rows) == outcome(raw, ",", reference)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a","b"\n"1","x,y"\n"2"\n"3","z"\n', ([2], 3)),  # a separator inside quotes
        ('"a","b"\r\n"1","two\r\nlines"\r\n"2","x","y"\r\n', ([2], 2)),  # CRLF, a line break
        ('"a","b"\n\n"1","2"\n\r\n', ([], 3)),  # blank records are no ragged rows
        ('"a","b"\n"",""\n""\n" "\n"\xa0"\n', ([], 4)),  # blank fields only
        ('"a","b"\n""""\n"x"\n', ([1, 2], 2)),  # an escaped quote is text
        ('"a","b"\n"1","2"', ([], 1)),  # no line end at the end
        ('"a"\n1,2\n', ([1], 1)),
        ('\n"1"\n', ([1], 1)),  # an empty header has no field
    ],
)
def test_quoted_count_by_hand(text: str, expected: tuple[list[int], int]) -> None:
    assert quoted_count(text.encode(), ",") == expected
    assert reference(text, ",") == expected


def test_a_quote_left_open_at_the_end_is_raised() -> None:
    with pytest.raises(ValueError, match="runs to the end of the file"):
        quoted_count(b'"a","b"\n"1","2\n3,4\n', ",")


@pytest.mark.parametrize(
    "text",
    [
        'a,b\nab"c,d\n',  # a quote inside an unquoted field is text for csv and polars
        'a,b\n"ab"c,d\n',  # text after a closing quote
        '"a","b"\r"1","2"\n',  # a lone carriage return ends a record for csv
    ],
)
def test_quotes_parity_cannot_read_falls_back_to_csv(text: str) -> None:
    assert quoted_count(text.encode(), ",") is None
    assert sources._ragged_rows(text.encode(), ",") == reference(text, ",")


def test_a_quoted_file_sets_aside_its_ragged_records(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(
        b'"contact_id","event","note"\r\n"1","visit","two\r\nlines, one comma"\r\n'
        b'"2","visit"\r\n\r\n"3","buy","say ""hi"""\r\n"4","buy","x","y"\r\n'
    )
    frame = sources.scan(path, separator=None, encoding=None).frame.collect()
    assert frame["contact_id"].to_list() == ["1", "2", None, "3", "4"]
    assert frame[sources.PROBLEM].to_list() == [
        None,
        "wrong_field_count",
        None,
        None,
        "wrong_field_count",
    ]
    assert frame["note"][0] == "two\r\nlines, one comma"
