"""Funnel definitions: the presets, TOML load / save, validation messages."""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funnelkit.definition_files as definition_files
import funnelkit.definitions as definitions
from funnelkit.definitions import (
    EventRule,
    Filter,
    Funnel,
    Lapse,
    PointsRule,
    Stage,
    duration_text,
    list_presets,
    load_funnel,
    save_funnel,
)
from funnelkit.errors import DefinitionError, MissingColumnError
from funnelkit.sample import EVENTS as SAMPLE_EVENTS

EVENTS = set(SAMPLE_EVENTS)  # the vocabulary the presets are mapped to

GOOD = """
name = "mine"
description = "A test funnel."

[[stages]]
id = "contact"
labels = { en = "Contact", fr = "Contact" }

[[stages]]
id = "lead"
labels = { en = "Lead", fr = "Lead" }
events = ["form_fill"]

[[stages]]
id = "client"
labels = { en = "Client" }
lapse_after = "30d"
lapse_to = "lead"
[[stages.when]]
events = ["purchase"]
where = "amount > 0"
[[stages.when]]
events = ["subscription"]
min_count = 2
"""


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- presets ----------------------------------------------------------------------
def test_presets_are_listed() -> None:
    assert list_presets() == ("inbound", "sales")


def test_inbound_preset_order_and_labels() -> None:
    funnel = load_funnel("inbound")
    assert funnel.stage_ids == ("prospect", "cold_lead", "warm_lead", "client", "ambassador")
    assert [s.label("fr") for s in funnel.stages] == [
        "Prospect",
        "Lead froid",
        "Lead chaud",
        "Client",
        "Client fidèle / ambassadeur",
    ]
    assert "prospect before lead" in funnel.description


def test_sales_preset_order_and_labels() -> None:
    funnel = load_funnel("sales")
    assert funnel.stage_ids == ("raw_contact", "lead", "prospect", "qualified_prospect", "client")
    assert funnel.stage("qualified_prospect").label("fr") == "Prospect qualifié"
    assert funnel.stage("raw_contact").label("en") == "Raw contact"
    assert "lead before prospect" in funnel.description


@pytest.mark.parametrize("name", ["inbound", "sales"])
def test_presets_name_only_sample_events(name: str) -> None:
    assert load_funnel(name).event_names <= EVENTS


def test_inbound_preset_rules() -> None:
    funnel = load_funnel("inbound")
    (cold,) = funnel.stage("cold_lead").conditions
    assert isinstance(cold, PointsRule)
    assert cold.half_life == timedelta(days=30) and cold.threshold == 3
    assert funnel.stage("warm_lead").lapse == Lapse(timedelta(days=90), "cold_lead")
    purchase = funnel.stage("client").conditions[0]
    assert isinstance(purchase, EventRule)
    assert purchase.where == (Filter("amount", ">", 0),)


@pytest.mark.parametrize("name", ["inbound", "sales"])
def test_presets_round_trip(name: str, tmp_path: Path) -> None:
    funnel = load_funnel(name)
    again = load_funnel(save_funnel(funnel, tmp_path / f"{name}.toml"))
    assert again == funnel
    assert again.source == str(tmp_path / f"{name}.toml")


# --- loading and saving a user's file ----------------------------------------------------
def test_user_file_loads_like_a_preset(tmp_path: Path) -> None:
    funnel = load_funnel(write(tmp_path, GOOD, "mine.toml"))
    assert funnel.name == "mine"
    client = funnel.stage("client")
    assert client.conditions == (
        EventRule(("purchase",), where=(Filter("amount", ">", 0),)),
        EventRule(("subscription",), min_count=2),
    )
    assert client.lapse == Lapse(timedelta(days=30), "lead")
    assert client.label("fr") == "Client"  # falls back to English
    assert load_funnel(str(tmp_path / "mine.toml")) == funnel


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    text = GOOD.replace('name = "mine"\n', "")
    assert load_funnel(write(tmp_path, text, "from_stem.toml")).name == "from_stem"


def test_round_trip_of_every_feature(tmp_path: Path) -> None:
    funnel = Funnel(
        "everything",
        (
            Stage(
                "start",
                {"en": "Start", "fr": "Début", "de-CH": "Anfang"},
                description='a "quoted"\nline',
            ),
            Stage(
                "warm",
                {"en": "Warm"},
                (
                    PointsRule({"like": 2, "odd event": 0.5}, 3.5, timedelta(hours=36)),
                    EventRule(
                        ("form_fill", "badge_scan"),
                        min_count=3,
                        where=(
                            Filter("channel", "in", ("social", "it's")),
                            Filter("campaign", "!=", "x"),
                            Filter("odd column", ">=", 2.5),
                        ),
                    ),
                ),
                Lapse(timedelta(minutes=90), "start"),
            ),
            Stage(
                "won",
                conditions=(
                    EventRule(
                        ("purchase",),
                        where=(
                            Filter(
                                "occurred_at",
                                ">=",
                                datetime.fromisoformat("2024-01-01T00:00:00+00:00"),
                            ),
                            Filter("paid", "==", True),
                            Filter("day", "<", date(2024, 5, 1)),
                        ),
                    ),
                ),
            ),
        ),
        description="Every feature of the format.",
    )
    path = save_funnel(funnel, tmp_path / "everything.toml")
    assert load_funnel(path) == funnel
    assert Funnel.from_toml(funnel.to_toml()) == funnel


@settings(max_examples=40, deadline=None)
@given(
    threshold=st.floats(min_value=0.01, max_value=1e6),
    points=st.dictionaries(
        st.sampled_from(sorted(EVENTS)), st.floats(min_value=0.001, max_value=1e3), min_size=1
    ),
    minutes=st.integers(min_value=1, max_value=10**6),
    value=st.one_of(
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
)
def test_round_trip_property(
    threshold: float, points: dict[str, float], minutes: int, value: object
) -> None:
    op = "==" if isinstance(value, str) else ">"
    funnel = Funnel(
        "prop",
        (
            Stage("a"),
            Stage("b", conditions=(PointsRule(points, threshold, timedelta(minutes=minutes)),)),
            Stage("c", conditions=(EventRule(("x",), where=(Filter("p", op, value),)),)),  # type: ignore[arg-type]
        ),
    )
    assert Funnel.from_toml(funnel.to_toml()) == funnel


def test_save_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "f.toml"
    target.write_text("old")
    save_funnel(load_funnel("sales"), target)
    assert load_funnel(target).name == "sales"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml"]


def test_saved_file_says_what_it_is(tmp_path: Path) -> None:
    text = save_funnel(load_funnel("inbound"), tmp_path / "x.toml").read_text()
    assert text.startswith("# funnelkit funnel definition")
    assert 'where = "amount > 0"' in text
    assert 'lapse_after = "90d"' in text and 'half_life = "30d"' in text


# --- errors name the file, the stage and the key ----------------------------------------------
BROKEN = [
    # (replace this, with this, expected message regex)
    (
        'events = ["form_fill"]',
        'evnts = ["form_fill"]',
        r"stage 'lead' \(#2\): key 'evnts' is not a stage key\. Did you mean 'events'\?",
    ),
    (
        'events = ["form_fill"]',
        "events = []",
        r"stage 'lead' \(#2\): key 'events': the rule is empty",
    ),
    (
        'events = ["form_fill"]',
        'description = "no rule"',
        r"stage 'lead' \(#2\): key 'events': the rule is empty",
    ),
    (
        'id = "lead"',
        'id = "contact"',
        r"stage 'contact' \(#2\): key 'id': duplicate stage id \(stage #1 has it too\)",
    ),
    (
        'id = "lead"',
        'id = "Warm Lead"',
        r"stage 'Warm Lead' \(#2\): key 'id': 'Warm Lead' is not a stage id",
    ),
    ('id = "lead"', 'id = "last_activity"', r"key 'id': 'last_activity' cannot be a stage id"),
    ('id = "lead"', "", r"stage #2: key 'id': missing"),
    (
        'lapse_to = "lead"',
        'lapse_to = "led"',
        r"stage 'client' \(#3\): key 'lapse_to': 'led' is not an earlier .*Did you mean 'lead'\?",
    ),
    (
        'lapse_to = "lead"',
        'lapse_to = "client"',
        r"stage 'client' \(#3\): key 'lapse_to': 'client' is not an earlier stage",
    ),
    ('lapse_to = "lead"', "", r"stage 'client' \(#3\): key 'lapse_to': missing"),
    ('lapse_after = "30d"', "", r"stage 'client' \(#3\): key 'lapse_after': missing"),
    (
        'lapse_after = "30d"',
        'lapse_after = "30 days"',
        r"stage 'client' \(#3\): key 'lapse_after': cannot read '30 days' as a duration",
    ),
    (
        'lapse_after = "30d"',
        "lapse_after = 30",
        r"stage 'client' \(#3\): key 'lapse_after': 30 is not a duration",
    ),
    (
        'lapse_after = "30d"',
        'lapse_after = "0d"',
        r"key 'lapse_after': a duration must be a positive whole number of seconds",
    ),
    (
        "min_count = 2",
        "min_count = 0",
        r"stage 'client' \(#3\): when\[2\]: key 'min_count': must be 1 or more",
    ),
    (
        "min_count = 2",
        "min_count = 1.5",
        r"stage 'client' \(#3\): when\[2\]: key 'min_count': expected a whole number",
    ),
    (
        "min_count = 2",
        "mincount = 2",
        r"when\[2\]: key 'mincount' is not a condition key\. Did you mean 'min_count'\?",
    ),
    (
        'where = "amount > 0"',
        'where = "amount = 0"',
        r"\(#3\): when\[1\]: key 'where': 'amount = 0': '=' is not an operator; use '=='",
    ),
    (
        'where = "amount > 0"',
        'where = "amount > zero"',
        r"when\[1\]: key 'where': .*cannot read the value 'zero'; quote strings",
    ),
    (
        'where = "amount > 0"',
        'where = "amount in 3"',
        r"when\[1\]: key 'where': key 'value': 'in' needs a non-empty list",
    ),
    ('where = "amount > 0"', "where = []", r"when\[1\]: key 'where': the filter list is empty"),
    (
        'where = "amount > 0"',
        'where = { column = "amount", op = "gt", value = 0 }',
        r"when\[1\]: key 'where': key 'op': 'gt' is not an operator",
    ),
    (
        'where = "amount > 0"',
        'where = { column = "amount", value = 0 }',
        r"when\[1\]: key 'where': the filter table has no op",
    ),
    (
        'where = "amount > 0"',
        'where = { colum = "amount", op = ">", value = 0 }',
        r"key 'colum' is not a filter key\. Did you mean 'column'\?",
    ),
    ('where = "amount > 0"', 'where = "> 0"', r"key 'where': '> 0' is not a filter"),
    (
        'labels = { en = "Lead", fr = "Lead" }',
        'labels = { english = "Lead" }',
        r"stage 'lead' \(#2\): key 'labels': 'english' is not a language code",
    ),
    (
        'labels = { en = "Lead", fr = "Lead" }',
        'labels = { en = "" }',
        r"stage 'lead' \(#2\): key 'labels.en': expected a non-empty label",
    ),
    (
        'description = "A test funnel."',
        'descripton = "x"',
        r"bad\.toml: key 'descripton' is not a funnel key\. Did you mean 'description'\?",
    ),
    (
        'labels = { en = "Contact", fr = "Contact" }',
        'labels = { en = "Contact" }\nevents = ["x"]',
        r"stage 'contact' \(#1\): key 'events': the first stage is the entry stage",
    ),
    (
        'labels = { en = "Contact", fr = "Contact" }',
        'labels = { en = "Contact" }\nlapse_after = "1d"\nlapse_to = "contact"',
        r"stage 'contact' \(#1\): key 'lapse_after': the entry stage cannot lapse",
    ),
    (
        'events = ["form_fill"]',
        'events = ["form_fill"]\nthreshold = 3',
        r"stage 'lead' \(#2\): key 'threshold': only a points condition has it",
    ),
    (
        'events = ["form_fill"]',
        'events = ["form_fill", "form_fill"]',
        r"stage 'lead' \(#2\): key 'events': event 'form_fill' is listed twice",
    ),
    (
        'events = ["form_fill"]',
        'events = ["form_fill"]\npoints = { like = 1 }\nthreshold = 1',
        r"stage 'lead' \(#2\): key 'points': a condition has either 'events' or 'points'",
    ),
    (
        'events = ["form_fill"]',
        "points = { like = 1 }",
        r"stage 'lead' \(#2\): key 'threshold': missing",
    ),
    (
        'events = ["form_fill"]',
        "points = { like = 1 }\nthreshold = 0",
        r"stage 'lead' \(#2\): key 'threshold': must be a number greater than zero, got 0",
    ),
    (
        'events = ["form_fill"]',
        "points = { like = 1 }\nthreshold = -2.5",
        r"key 'threshold': must be a number greater than zero, got -2\.5",
    ),
    (
        'events = ["form_fill"]',
        'points = { like = 1 }\nthreshold = "three"',
        r"stage 'lead' \(#2\): key 'threshold': expected a number, got 'three'",
    ),
    (
        'events = ["form_fill"]',
        "points = { like = 0 }\nthreshold = 1",
        r"stage 'lead' \(#2\): key 'points\.like': must be a number greater than zero",
    ),
    (
        'events = ["form_fill"]',
        "points = {}\nthreshold = 1",
        r"stage 'lead' \(#2\): key 'points': the rule is empty",
    ),
    (
        'events = ["form_fill"]',
        'points = { like = 1 }\nthreshold = 1\nhalf_life = "soon"',
        r"stage 'lead' \(#2\): key 'half_life': cannot read 'soon' as a duration",
    ),
    (
        'events = ["form_fill"]',
        "points = { like = 1 }\nthreshold = 1\nmin_count = 2",
        r"stage 'lead' \(#2\): key 'min_count': not allowed with 'points'",
    ),
    (
        'events = ["form_fill"]',
        'events = ["form_fill"]\n[[stages.when]]\nevents = ["x"]',
        r"stage 'lead' \(#2\): key 'events': a stage with 'when' keeps its rules inside 'when'",
    ),
    (
        '[[stages.when]]\nevents = ["subscription"]\nmin_count = 2',
        "[[stages.when]]\nmin_count = 2",
        r"stage 'client' \(#3\): when\[2\]: key 'events': the rule is empty",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_broken_file_names_file_stage_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(DefinitionError, match=message) as info:
        load_funnel(path)
    assert str(info.value).startswith(str(path) + ":")


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name = \n")
    with pytest.raises(DefinitionError, match=r"bad\.toml: not valid TOML"):
        load_funnel(path)


def test_no_stages(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"bad\.toml: key 'stages': missing"):
        load_funnel(write(tmp_path, 'name = "x"\n'))


def test_one_stage_is_not_a_funnel(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"key 'stages': a funnel needs at least two stages"):
        load_funnel(write(tmp_path, '[[stages]]\nid = "only"\n'))


def test_stage_that_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"bad\.toml: key 'stages': missing"):
        load_funnel(write(tmp_path, 'stages = ["a", "b"]\n'.replace('["a", "b"]', "[]")))
    with pytest.raises(DefinitionError, match=r"stage #1: expected a \[\[stages\]\] table"):
        load_funnel(write(tmp_path, 'stages = ["a", "b"]\n'))


def test_unknown_preset_suggests_one() -> None:
    with pytest.raises(
        DefinitionError, match=r"no funnel preset 'inbond'.*Did you mean 'inbound'\?"
    ):
        load_funnel("inbond")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"nope\.toml: no such funnel definition file"):
        load_funnel(tmp_path / "nope.toml")


# --- objects built in code ----------------------------------------------------------------
def test_objects_validate_in_code() -> None:
    with pytest.raises(DefinitionError, match="key 'min_count': must be 1 or more"):
        EventRule(("a",), min_count=0)
    with pytest.raises(DefinitionError, match="key 'threshold'"):
        PointsRule({"a": 1}, threshold=float("inf"))
    with pytest.raises(DefinitionError, match="key 'lapse_after'"):
        Lapse(timedelta(0), "a")
    with pytest.raises(
        DefinitionError, match=r"<funnel>: stage 'b' \(#2\): key 'events': the rule is empty"
    ):
        Funnel("f", (Stage("a"), Stage("b")))
    with pytest.raises(DefinitionError, match="key 'op': '=' is not an operator.*Use '=='"):
        Filter("a", "=", 1)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="'>' cannot compare with a boolean"):
        Filter("a", ">", True)


def test_funnel_lookups() -> None:
    funnel = load_funnel("sales")
    assert funnel.rank("client") == 5
    with pytest.raises(
        DefinitionError, match=r"funnel 'sales' has no stage 'clint'.*Did you mean 'client'\?"
    ):
        funnel.stage("clint")
    assert hash(funnel) == hash(load_funnel("sales"))
    assert "<table>" in funnel._repr_html_()


def test_definitions_pickle() -> None:
    funnel = load_funnel("inbound")
    assert pickle.loads(pickle.dumps(funnel)) == funnel


def test_specs_are_frozen() -> None:
    stage = load_funnel("inbound").stage("cold_lead")
    with pytest.raises(AttributeError):
        stage.id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        stage.labels["en"] = "x"  # type: ignore[index]


# --- filters and evidence ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 0", Filter("amount", ">", 0)),
        ("amount>=9.5", Filter("amount", ">=", 9.5)),
        ("channel == 'social'", Filter("channel", "==", "social")),
        ('channel != "social"', Filter("channel", "!=", "social")),
        ("channel in ['social', 'paid_ads']", Filter("channel", "in", ("social", "paid_ads"))),
        ("channel  not   in ['social']", Filter("channel", "not in", ("social",))),
        ("paid == true", Filter("paid", "==", True)),
    ],
)
def test_filter_string_form(text: str, expected: Filter) -> None:
    flt = Filter.parse(text)
    assert flt == expected
    assert Filter.parse(str(flt)) == flt


def test_filters_never_match_null() -> None:
    df = pl.DataFrame({"amount": [5.0, None, 0.0], "channel": ["social", None, "ads"]})
    checks = {
        "amount > 0": [True, False, False],
        "amount != 0": [True, False, False],
        "channel != 'ads'": [True, False, False],
        "channel not in ['ads']": [True, False, False],
        "channel in ['ads', 'social']": [True, False, True],
        "amount in [0, 5]": [True, False, True],
    }
    for text, expected in checks.items():
        assert (
            df.select(Filter.parse(text).expr())[
                "amount" if "amount" in text else "channel"
            ].to_list()
            == expected
        ), text


def test_stage_evidence() -> None:
    df = pl.DataFrame(
        {
            "event": ["purchase", "purchase", "subscription", "repeat_purchase", "like"],
            "amount": [10.0, 0.0, None, None, None],
        }
    )
    funnel = load_funnel("sales")
    assert df.select(funnel.stage("client").evidence())["evidence"].to_list() == [
        True,
        False,
        True,
        True,
        False,
    ]
    assert df.select(funnel.stage("raw_contact").evidence()).to_series().to_list() == [True]
    cold = load_funnel("inbound").stage("cold_lead")
    assert df.select(cold.evidence())["evidence"].to_list() == [False, False, False, False, True]


def test_describe() -> None:
    funnel = load_funnel("inbound")
    assert funnel.stage("prospect").describe() == "any event (entry stage)"
    assert funnel.stage("client").describe() == "purchase where amount > 0; or subscription"
    assert "back to cold_lead after 90d inactive" in funnel.stage("warm_lead").describe()
    assert "half-life 30d" in funnel.stage("cold_lead").describe()
    assert EventRule(("a", "b"), min_count=3).describe() == "3 × a or b"


def test_duration_text() -> None:
    assert duration_text(timedelta(days=14)) == "14d"
    assert duration_text(timedelta(minutes=90)) == "90m"
    assert duration_text(timedelta(seconds=61)) == "61s"


def test_docstring_examples() -> None:
    result = doctest.testmod(definitions, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 10


def test_read_numbers_turns_text_compared_with_numbers_into_numbers() -> None:
    from datetime import UTC

    from funnelkit.errors import DataError

    sales = load_funnel("sales")
    at = datetime(2026, 11, 2, tzinfo=UTC)
    events = pl.LazyFrame(
        {
            "contact_id": ["a", "b", "c"],
            "occurred_at": [at, at, at],
            "event": ["purchase"] * 3,
            "amount": [" 12.5", "", None],
            "channel": ["x", "y", "z"],
        }
    )
    out = sales.read_numbers(events).collect()
    assert out.schema["amount"] == pl.Float64 and out["amount"].to_list() == [12.5, None, None]
    assert out["channel"].to_list() == ["x", "y", "z"]  # not read by a numeric filter
    typed = events.with_columns(pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False))
    assert sales.read_numbers(typed) is typed  # nothing to do
    bad = events.with_columns(pl.Series("amount", ["1 200,50", "7", "n/a"]))
    with pytest.raises(DataError, match=r"2 of its values are not numbers: '1 200,50' \(contact a"):
        sales.read_numbers(bad)


def test_an_edited_copy_of_a_preset_is_named_with_its_file(tmp_path: Path) -> None:
    copy = tmp_path / "inbound.toml"
    copy.write_text(load_funnel("inbound").to_toml())
    mine = load_funnel(copy)
    assert mine.name == "inbound" and mine.title == f"funnel 'inbound' ({copy})"
    assert load_funnel("inbound").title == "funnel 'inbound'"
    with pytest.raises(MissingColumnError, match=rf"^funnel 'inbound' \({copy}\), stage 'client'"):
        mine.check_columns({"contact_id": pl.String})


def test_read_numbers_leaves_a_boolean_filter_and_reads_nan_as_unknown() -> None:
    from datetime import UTC

    at = datetime(2026, 11, 2, tzinfo=UTC)
    paid = Funnel.from_toml(
        'name = "paid"\n[[stages]]\nid = "visitor"\n'
        '[[stages]]\nid = "paid"\nevents = ["purchase"]\nwhere = "is_paid == true"\n'
    )
    events = pl.LazyFrame(
        {
            "contact_id": ["a", "b"],
            "occurred_at": [at, at],
            "event": ["purchase"] * 2,
            "is_paid": ["true", "false"],
            "amount": ["NaN", "5"],
        }
    )
    # a boolean is no number: the column stays text, and check_columns says so
    assert paid.read_numbers(events) is events
    with pytest.raises(DefinitionError, match="column 'is_paid' holds String"):
        paid.check_columns(events.collect_schema())
    # 'NaN' is an unknown amount (null), not a number above 0
    sales = load_funnel("sales")
    out = sales.read_numbers(events).collect()
    assert out["amount"].to_list() == [None, 5.0]
    client = Filter.parse("amount > 0")
    assert out.select(client.expr())["amount"].to_list() == [False, True]


def test_an_edited_copy_of_a_preset_in_the_working_folder_is_named_with_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    edited = load_funnel("inbound").to_toml().replace("amount > 0", "revenue > 0")
    assert "revenue > 0" in edited
    Path("inbound.toml").write_text(edited)
    for path in ("inbound.toml", "./inbound.toml"):
        assert load_funnel(path).title == "funnel 'inbound' (inbound.toml)"
    Path("inbound.toml").write_text(load_funnel("inbound").to_toml())  # the same as the preset
    assert load_funnel("inbound.toml").title == "funnel 'inbound'"


def test_a_column_also_compared_with_text_stays_text() -> None:
    from datetime import UTC

    mixed = Funnel.from_toml(
        'name = "mixed"\n[[stages]]\nid = "visitor"\n'
        '[[stages]]\nid = "lead"\nevents = ["form"]\nwhere = "score in [\'5\', \'7\']"\n'
        '[[stages]]\nid = "client"\nevents = ["form"]\nwhere = "score >= 6"\n'
    )
    at = datetime(2026, 11, 2, tzinfo=UTC)
    events = pl.LazyFrame(
        {"contact_id": ["a"], "occurred_at": [at], "event": ["form"], "score": ["5"]}
    )
    assert mixed.read_numbers(events) is events
    with pytest.raises(DefinitionError, match=r"\(score >= 6\): column 'score' holds String"):
        mixed.check_columns(events.collect_schema())


# --- limits: every refusal is one line naming the file, the key and the limit ---------
SAMPLE_LOG = Path(__file__).resolve().parents[1] / "data" / "sample" / "events.csv"


def one_line(info: pytest.ExceptionInfo[DefinitionError]) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    "text",
    [
        "a" + ".a" * 50_000 + " = 1\n",
        "a = " + "[" * 5_000 + "]" * 5_000 + "\n",
        "a = " + "{ b = " * 5_000 + "1" + " }" * 5_000 + "\n",
        "[" + ".".join(["t"] * 40) + "]\nx = 1\n",
        "[[" + ".".join(["t"] * 20) + "]]\n" + ".".join(["k"] * 20) + " = 1\n",
        'name = "x"\n[[stages]]\nid = "a"\nlabels = ' + "{ en = [" * 20 + "]}" * 20 + "\n",
    ],
    ids=["dotted-50000", "arrays-5000", "inline-tables-5000", "header-40", "sum-40", "mixed"],
)
def test_deep_nesting_is_refused_before_parsing(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DefinitionError, match=r"bad\.toml: line \d+: nested more than 32 levels"):
        load_funnel(path)


def test_nesting_limit_counts_structure_only() -> None:
    # Dots, brackets and braces inside strings and comments, and in values, do not count.
    text = (
        GOOD
        + "# "
        + "[{." * 100
        + "\n"
        + '[[stages]]\nid = "fan"\ndescription = "'
        + "[{." * 100
        + '"\n'
        + "description2 = '''"
        + "{[." * 60
        + "'''\n"
    ).replace("description2", "labels.en")
    text += 'events = ["a.b.c.d.e.f"]\nwhere = "amount in [1.5, 2.5, 3.5, 4.5, 5.5]"\n'
    assert Funnel.from_toml(text).stage("fan").label() == "{[." * 60


def test_nesting_prescan_is_linear() -> None:
    # An unclosed multi-line string stops the scan: it cannot rescan the rest per line.
    text = '"""\n' + '\\"""\n' * 50_000
    start = time.perf_counter()
    with pytest.raises(DefinitionError, match="not valid TOML"):
        Funnel.from_toml(text, source="x.toml")
    assert time.perf_counter() - start < 5


def test_dev_zero_is_refused_at_once() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(DefinitionError, match=r"^/dev/zero: not a regular file") as info:
        load_funnel("/dev/zero")
    assert "256 KiB" in one_line(info)


def test_a_pipe_with_no_writer_is_refused_without_waiting(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "def.toml"
    os.mkfifo(fifo)
    with pytest.raises(DefinitionError, match=r"def\.toml: not a regular file"):
        load_funnel(fifo)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "defs.toml"
    folder.mkdir()
    with pytest.raises(DefinitionError, match=r"defs\.toml: not a regular file \(a folder\)"):
        load_funnel(folder)


def test_a_10_mb_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_bytes(GOOD.encode() + b"#" * 10_000_000)
    with pytest.raises(
        DefinitionError, match=r"huge\.toml: more than the 262,144 bytes \(256 KiB\)"
    ):
        load_funnel(path)
    big = GOOD + "#" * definitions.MAX_FILE_BYTES
    with pytest.raises(
        DefinitionError, match=r"x\.toml: 26\d,\d{3} characters, more than the 262,144"
    ):
        Funnel.from_toml(big, source="x.toml")


def test_a_file_just_under_the_size_limit_loads(tmp_path: Path) -> None:
    text = GOOD + "#" * (definitions.MAX_FILE_BYTES - len(GOOD) - 1) + "\n"
    assert len(text.encode()) == definitions.MAX_FILE_BYTES
    assert load_funnel(write(tmp_path, text, "mine.toml")).stage_ids == (
        "contact",
        "lead",
        "client",
    )


def test_ten_thousand_stages_are_refused_before_they_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "[[stages]]\n" * 10_000)
    with pytest.raises(
        DefinitionError,
        match=r"bad\.toml: key 'stages': 10,000 stages, more than the 50 a definition",
    ):
        load_funnel(path)


def many_stages(count: int, *, lapses: int = 0) -> str:
    lines = ['name = "many"', "[[stages]]", 'id = "s0"']
    names = sorted(EVENTS)
    for i in range(1, count):
        lines += ["[[stages]]", f'id = "s{i}"', f'events = ["{names[i % len(names)]}"]']
        if i > count - 1 - lapses:
            lines += ['lapse_after = "30d"', f'lapse_to = "s{i - 1}"']
    return "\n".join(lines) + "\n"


def test_stage_and_lapse_limits(tmp_path: Path) -> None:
    assert len(load_funnel(write(tmp_path, many_stages(50, lapses=49), "ok.toml")).stages) == 50
    with pytest.raises(
        DefinitionError, match=r"bad\.toml: key 'stages': 51 stages, more than the 50"
    ):
        load_funnel(write(tmp_path, many_stages(51)))
    with pytest.raises(
        DefinitionError,
        match=r"bad\.toml: key 'lapse_after': 50 stages lapse, more than the 49 a definition",
    ):
        entry_lapses = 'id = "s0"\nlapse_after = "30d"\nlapse_to = "s1"'
        load_funnel(write(tmp_path, many_stages(50, lapses=49).replace('id = "s0"', entry_lapses)))


def when(count: int, condition: str = 'events = ["purchase"]') -> str:
    return "".join(f"[[stages.when]]\n{condition}\n" for _ in range(count))


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            "half_life = '99999999999999d'\npoints = { like = 1 }\nthreshold = 1",
            r"stage 'lead' \(#2\): key 'half_life': '99999999999999d' is longer than 100 years",
        ),
        (
            "events = ['form_fill']\nlapse_after = '36526d'\nlapse_to = 'contact'",
            r"stage 'lead' \(#2\): key 'lapse_after': '36526d' is longer than 100 years",
        ),
        (
            "events = ['form_fill']\nmin_count = 9223372036854775807",
            r"stage 'lead' \(#2\): key 'min_count': 9223372036854775807 is more than the 1,000,000",
        ),
        (
            "events = ['form_fill']\nmin_count = 1000001",
            r"key 'min_count': 1000001 is more than the 1,000,000 allowed",
        ),
        (
            "points = { like = " + "9" * 400 + " }\nthreshold = 1",
            r"stage 'lead' \(#2\): key 'points\.like': 9{27}\.\.\. is more than the 1,000,000,000",
        ),
        (
            "points = { like = 1 }\nthreshold = 1e300",
            r"key 'threshold': 1e\+300 is more than the 1,000,000,000 allowed",
        ),
        (
            "points = { like = 1 }\nthreshold = nan",
            r"key 'threshold': must be a number greater than zero, got nan",
        ),
        (
            "points = { like = inf }\nthreshold = 1",
            r"key 'points\.like': must be a number greater than zero, got inf",
        ),
        (
            "events = ['form_fill']\nwhere = 'amount > 99999999999999999999'",
            r"stage 'lead' \(#2\): key 'where': key 'value': 9{20} is beyond the 64-bit",
        ),
        (
            "events = ['form_fill']\nwhere = 'amount > 1" + "0" * 5000 + "'",
            r"stage 'lead' \(#2\): key 'where': 'amount > 10+\.\.\. "
            r"has 5,010 characters, more than the 1,000",
        ),
        (
            "events = ['form_fill']\nwhere = 'amount > " + "[" * 400 + "]" * 400 + "'",
            r"stage 'lead' \(#2\): key 'where': ",
        ),
        (
            "events = [" + ", ".join(f"'e{i}'" for i in range(101)) + "]",
            r"stage 'lead' \(#2\): key 'events': 101 event names, more than the 100 a condition",
        ),
        (
            "points = {" + ", ".join(f"e{i} = 1" for i in range(101)) + "}\nthreshold = 1",
            r"stage 'lead' \(#2\): key 'points': 101 events, more than the 100 a condition",
        ),
        (
            "events = ['form_fill']\nwhere = ['amount > 0', 'amount > 1', 'amount > 2', "
            "'amount > 3', 'amount > 4']",
            r"stage 'lead' \(#2\): key 'where': 5 filters, more than the 4 a condition may have",
        ),
        (
            "events = ['form_fill']\nwhere = 'amount in [" + ", ".join(map(str, range(101))) + "]'",
            r"key 'where': key 'value': 101 values, more than the 100 an 'in' filter may have",
        ),
        (
            when(9),
            r"stage 'lead' \(#2\): key 'when': 9 conditions, more than the 8 a stage may have",
        ),
        (
            "events = ['" + "e" * 201 + "']",
            r"stage 'lead' \(#2\): key 'events': 'e+\.\.\. has 201 characters, more than the 200",
        ),
        (
            "events = ['form_fill']\ndescription = '" + "d" * 1001 + "'",
            r"stage 'lead' \(#2\): key 'description': .* 1,001 characters, more than the 1,000",
        ),
    ],
)
def test_absurd_values_get_one_line_naming_file_stage_key_and_limit(
    tmp_path: Path, new: str, message: str
) -> None:
    path = write(tmp_path, GOOD.replace('events = ["form_fill"]', new, 1))
    with pytest.raises(DefinitionError, match=message) as info:
        load_funnel(path)
    assert one_line(info).startswith(str(path) + ":")


def test_limits_hold_for_definitions_built_in_code() -> None:
    with pytest.raises(DefinitionError, match=r"key 'min_count': 10+\.\.\. is more than"):
        EventRule(("a",), min_count=10**30)
    with pytest.raises(DefinitionError, match=r"'min_count': a whole number too long to show"):
        EventRule(("a",), min_count=10**5000)
    with pytest.raises(DefinitionError, match=r"'threshold': .* a whole number too long to show"):
        PointsRule({"a": 1}, -(10**5000))
    with pytest.raises(DefinitionError, match="key 'lapse_after': 1,000,000 days is longer than"):
        Lapse(timedelta(days=10**6), "a")
    with pytest.raises(DefinitionError, match="key 'half_life': 36,526 days is longer than"):
        PointsRule({"a": 1}, 1, timedelta(days=36526))
    with pytest.raises(DefinitionError, match=r"key 'when': 9 conditions, more than the 8"):
        Stage("s", conditions=tuple(EventRule((f"e{i}",)) for i in range(9)))
    stages = [Stage("s0")] + [Stage(f"s{i}", conditions=(EventRule(("e",)),)) for i in range(1, 51)]
    with pytest.raises(DefinitionError, match=r"^<funnel>: key 'stages': 51 stages, more than"):
        Funnel("big", tuple(stages))
    eight = tuple(EventRule((f"e{i}",)) for i in range(8))
    stages = [Stage("s0")] + [Stage(f"s{i}", conditions=eight) for i in range(1, 10)]
    with pytest.raises(
        DefinitionError, match=r"key 'when': 72 conditions in all, more than the 64"
    ):
        Funnel("wide", tuple(stages))
    with pytest.raises(DefinitionError, match=r"key 'name': .* 201 characters, more than the 200"):
        Funnel("n" * 201, tuple(stages[:2]))


def test_an_overlong_label_names_the_language(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('{ en = "Lead", fr = "Lead" }', "{ en = '" + "L" * 201 + "' }")
    )
    with pytest.raises(
        DefinitionError,
        match=r"stage 'lead' \(#2\): key 'labels\.en': .* 201 characters, more than the 200",
    ):
        load_funnel(path)


def test_a_number_of_too_many_digits_is_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"A test funnel."', "1" * 5000))
    with pytest.raises(
        DefinitionError, match=r"bad\.toml: not valid TOML: .* more than 4,300 digits"
    ):
        load_funnel(path)


def test_huge_whole_floats_round_trip() -> None:
    rule = EventRule(("x",), where=(Filter("p", ">", 9.223372036854776e18),))
    funnel = Funnel("f", (Stage("a"), Stage("b", conditions=(rule,))))
    assert Funnel.from_toml(funnel.to_toml()) == funnel


@pytest.mark.slow
def test_classify_with_a_definition_at_every_limit_stays_quick() -> None:
    from funnelkit.events import read_events
    from funnelkit.stages import classify

    names = sorted(EVENTS)
    where = "where = [" + ", ".join(f'"amount >= {-k}"' for k in range(1, 5)) + "]"
    lines = ['name = "limits"', "[[stages]]", 'id = "s0"']
    extra = 64 - 49  # conditions beyond one per stage, up to the total limit
    for i in range(1, 50):
        lines += ["[[stages]]", f'id = "s{i}"']
        if i >= 50 - definitions.MAX_LAPSES:  # every stage but the entry stage
            lines += ['lapse_after = "30d"', f'lapse_to = "s{i - 1}"']
        for j in range(1 + (i <= extra)):
            a, b = names[(i + j) % len(names)], names[(i + j + 1) % len(names)]
            lines += [
                "[[stages.when]]",
                f"points = {{ {a} = 1, {b} = 2 }}",
                f"threshold = {j + 2}",
                f'half_life = "{i + j}d"',
                where,
            ]
    funnel = Funnel.from_toml("\n".join(lines) + "\n")
    assert len(funnel.stages) == 50
    assert sum(len(s.conditions) for s in funnel.stages) == 64
    log = read_events(SAMPLE_LOG)
    start = time.perf_counter()
    out = classify(log, funnel).collect()
    # About 2 s on one idle core; the bound leaves room for a busy machine.
    assert time.perf_counter() - start < 60
    assert out.height > 0


def test_cli_refuses_dev_zero_in_one_line_quickly() -> None:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "funnelkit.cli",
            "classify",
            str(SAMPLE_LOG),
            "--funnel",
            "/dev/zero",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("funnelkit classify: error: /dev/zero: not a regular file")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert time.perf_counter() - start < 60


def test_cli_funnels_refuses_a_deep_file_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a" + ".a" * 50_000 + " = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "funnels", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "bad.toml: line 1: nested more than 32 levels" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_huge_unknown_key_is_named_in_a_short_line(tmp_path: Path) -> None:
    path = write(tmp_path, "k" * 200_000 + " = 1\n" + GOOD)
    with pytest.raises(
        DefinitionError, match=r"bad\.toml: key 'k+\.\.\. is not a funnel key"
    ) as info:
        load_funnel(path)
    assert len(one_line(info)) < 500


def test_a_parser_recursion_is_one_line_as_a_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the pre-scan ever to miss a deep nesting, tomllib's RecursionError is still caught.
    monkeypatch.setattr(definition_files, "MAX_NESTING", 10**9)
    text = "a = " + "[" * 5_000 + "]" * 5_000 + "\n"
    with pytest.raises(DefinitionError, match=r"^deep\.toml: not a funnel definition: too deeply"):
        Funnel.from_toml(text, source="deep.toml")


def test_a_definition_saved_with_a_byte_order_mark_and_crlf_loads(tmp_path: Path) -> None:
    # What Windows Notepad saves: a UTF-8 BOM and CRLF line ends.
    plain = save_funnel(load_funnel("inbound"), tmp_path / "plain.toml")
    windows = tmp_path / "windows.toml"
    windows.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    assert load_funnel(windows) == load_funnel(plain)
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes(plain.read_text().encode("utf-16"))
    with pytest.raises(DefinitionError, match=r"utf16\.toml: .*UTF-16.*save it as UTF-8$"):
        load_funnel(utf16)


def test_a_filter_on_a_missing_column_says_how_to_map_one() -> None:
    inbound = load_funnel("inbound")
    with pytest.raises(MissingColumnError) as caught:
        inbound.check_columns({"contact_id": pl.String, "total": pl.Float64})
    msg = str(caught.value)
    assert "stage 'client': key 'where' (amount > 0): the events have no column 'amount'." in msg
    assert "(columns={'yours': 'amount'}; --columns yours=amount)" in msg
