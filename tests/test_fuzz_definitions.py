"""Hostile definition files: whatever the bytes, a Funnel or one line of DefinitionError."""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelkit.cli import main
from funnelkit.definitions import MAX_FILE_BYTES, Funnel, load_funnel
from funnelkit.errors import DefinitionError

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Pieces of definitions, of broken TOML and of absurd values, glued at random.
FRAGMENTS = [
    'name = "fuzz"\n',
    "[[stages]]\n",
    'id = "a"\n',
    'id = "b"\n',
    "[[stages.when]]\n",
    'events = ["purchase", "form_fill"]\n',
    "events = ",
    "points = { like = 2, page_view = 1 }\n",
    "threshold = ",
    "half_life = ",
    "lapse_after = ",
    'lapse_to = "a"\n',
    "min_count = ",
    'where = "amount > 0"\n',
    "where = ",
    "labels = { en = ",
    "description = ",
    '"99999999999999d"',
    '"36525d"',
    '"30d"',
    "9223372036854775807",
    "9" * 40,
    "1e400",
    "-1",
    "nan",
    "inf",
    "0.5",
    "a.b.c.d.e.f.g.h",
    ".a" * 40,
    "[" * 40,
    "]" * 40,
    "{ x = " * 40,
    "}" * 40,
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ".",
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "#",
    "\n",
    " ",
    "\x00",
    "\r",
    "é",
    # Whole lines with absurd values, and pieces past Python's own limits.
    'half_life = "99999999999999d"\n',
    'lapse_after = "99999999999999d"\nlapse_to = "a"\n',
    "min_count = 9223372036854775807\n",
    "threshold = 1" + "0" * 400 + "\n",
    "points = { like = 1" + "0" * 400 + " }\n",
    'where = "amount > 1' + "0" * 30 + '"\n',
    "x = " + "9" * 5_000 + "\n",
    "x = " + "[" * 600 + "]" * 600 + "\n",
    "x" + ".x" * 600 + " = 1\n",
]
# Two stages that load: fragments after it reach the checks of a stage's keys.
PRELUDE = '[[stages]]\nid = "a"\n[[stages]]\nid = "b"\npoints = { like = 1 }\nthreshold = 1\n'

fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
toml_ish = fragments | fragments.map(lambda text: PRELUDE + text)


def check_outcome(run: Any) -> None:
    """Run ``run()``: it returns a Funnel or raises one line of DefinitionError."""
    try:
        funnel = run()
    except DefinitionError as exc:
        text = str(exc)
        assert text and "\n" not in text and "\r" not in text, text
        assert len(text) < 2_000, text
    else:
        assert isinstance(funnel, Funnel)


@FUZZ
@given(data=st.binary(max_size=2_000))
def test_random_bytes_give_a_funnel_or_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    check_outcome(lambda: load_funnel(path))


@FUZZ
@given(text=toml_ish)
def test_random_toml_fragments_give_a_funnel_or_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    check_outcome(lambda: load_funnel(path))
    check_outcome(lambda: Funnel.from_toml(text))


# --- structured definitions, dumped to TOML with absurd values in every key -----------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = ", ".join(
        f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()
    )
    return "{ " + items + " }"


CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, 2**63, 10**7]),
    st.floats(),
    st.booleans(),
    st.text(CHARS, max_size=30),
    st.sampled_from(["30d", "99999999999999d", "36526d", "amount > 0", "purchase", "a", "b"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(CHARS, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
STAGE_KEYS = [
    "id",
    "labels",
    "description",
    "events",
    "min_count",
    "where",
    "points",
    "threshold",
    "half_life",
    "when",
    "lapse_after",
    "lapse_to",
]
# Mostly absurd values where they hurt, sometimes anything.
durations = st.sampled_from(["30d", "99999999999999d", "36526d", "1" * 30 + "s"])
numbers = st.sampled_from([1, 2.5, 10**400, 1e300, float("inf"), 0])
events = st.sampled_from([["purchase"], ["form_fill", "call"], ["e" * 300]]) | values
events_condition = st.fixed_dictionaries(
    {"events": events},
    optional={
        "min_count": st.sampled_from([2, 2**63 - 1, 10**30]),
        "where": st.sampled_from(["amount > 0", "amount > " + "9" * 30]) | values,
    },
)
points_condition = st.fixed_dictionaries(
    {
        "points": st.dictionaries(st.sampled_from(["like", "call"]), numbers, min_size=1) | values,
        "threshold": numbers,
    },
    optional={"half_life": durations, "where": values},
)
any_table = st.dictionaries(st.sampled_from(STAGE_KEYS), values, max_size=6)
stage_tables = st.one_of(events_condition, points_condition, any_table).map(
    lambda table: {"id": "b", **table}
)
definitions = st.fixed_dictionaries(
    {
        "name": st.just("fuzz") | values,
        "stages": st.lists(stage_tables, min_size=1, max_size=6).map(
            lambda stages: [{"id": "a"}, *stages]
        ),
    },
    optional={"description": values},
)


@FUZZ
@given(definition=definitions)
def test_random_structured_definitions_give_a_funnel_or_one_line(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    lines = [f"{key} = {toml_value(value)}" for key, value in definition.items()]
    path = tmp_path / "fuzz.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_outcome(lambda: load_funnel(path))


@FUZZ
@given(text=toml_ish)
def test_cli_funnels_gives_a_listing_or_one_error_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["funnels", str(path)])
    if code == 0:
        assert err.getvalue() == ""
    else:
        assert code == 2
        assert err.getvalue().startswith("funnelkit funnels: error: ")
        assert err.getvalue().count("\n") == 1


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(piece=st.sampled_from(FRAGMENTS + ["[[stages]]\nid = 'a'\n", "a.b.c.d = 1\n"]))
def test_files_at_the_size_limit_are_read_within_seconds(tmp_path: Path, piece: str) -> None:
    # The worst a file under the size limit can do: one piece repeated up to the limit.
    path = tmp_path / "big.toml"
    count = MAX_FILE_BYTES // len(piece.encode())
    path.write_text(piece * count, encoding="utf-8")
    start = time.perf_counter()
    check_outcome(lambda: load_funnel(path))
    assert time.perf_counter() - start < 30


SAMPLE_LOG = Path(__file__).resolve().parents[1] / "data" / "sample" / "events.csv"


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(definition=definitions)
def test_cli_classify_gives_a_table_or_one_error_line(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    lines = [f"{key} = {toml_value(value)}" for key, value in definition.items()]
    path = tmp_path / "fuzz.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["classify", str(SAMPLE_LOG), "--funnel", str(path)])
    assert code in (0, 2)
    if code == 2:
        assert err.getvalue().startswith("funnelkit classify: error: ")
        assert err.getvalue().count("\n") == 1
