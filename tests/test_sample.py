"""Tests of the synthetic sample generator and of ``funnelkit sample``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelkit.cli import main
from funnelkit.errors import ParameterError
from funnelkit.events import as_lazy, read_contacts, read_events
from funnelkit.sample import (
    CHANNELS,
    DEFAULT_END,
    DEFAULT_WEEKS,
    EVENTS,
    generate,
    write_large_log,
    write_sample,
)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
START = datetime(2026, 7, 6, tzinfo=UTC)  # Monday, 20 weeks before Sunday 2026-11-22
END = datetime(2026, 11, 23, tzinfo=UTC)  # exclusive
CHANGE = datetime(2026, 9, 28, tzinfo=UTC)  # 60 % of the period: 12 weeks in
BUY = ("purchase", "subscription")
MONEY = ("purchase", "subscription", "repeat_purchase")
B2C_EVENTS = {"page_view", "social_follow", "like", "comment", "ebook_download"}
B2C_EVENTS |= {"newsletter_signup", "cta_click", "purchase", "subscription"}
B2C_EVENTS |= {"repeat_purchase", "review", "referral"}
B2B_EVENTS = set(EVENTS) - {"social_follow", "like", "comment", "cta_click"}


@pytest.fixture(scope="module")
def sample() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate()


@pytest.fixture(scope="module")
def contacts_with_outcomes(sample: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    """Contacts plus their first event and whether they ever bought."""
    events, contacts = sample
    per_contact = events.group_by("contact_id").agg(
        pl.col("event").sort_by("occurred_at").first().alias("first_event"),
        pl.col("event").is_in(BUY).any().alias("client"),
    )
    return contacts.join(per_contact, on="contact_id", how="left").with_columns(
        pl.col("client").fill_null(False)
    )


# --------------------------------------------------------------------------- determinism
def test_cli_regenerates_the_committed_sample_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sample", "--out", str(tmp_path), "--contacts", "5000", "--seed", "7"])
    assert code == 0
    assert "5,000 contacts" in capsys.readouterr().out
    committed = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert committed == ["README.md", "contacts.csv", "events.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), name


def test_committed_sample_is_small_enough_to_commit() -> None:
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 3_000_000


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    first = generate(300, seed=11)
    again = generate(300, seed=11)
    other = generate(300, seed=12)
    assert first[0].equals(again[0]) and first[1].equals(again[1])
    assert not first[0].equals(other[0])


def test_parquet_sample_holds_the_same_frames(tmp_path: Path) -> None:
    files = write_sample(tmp_path, n_contacts=200, seed=5, fmt="parquet")
    events, contacts = generate(200, seed=5)
    assert files.events.name == "events.parquet"
    assert pl.read_parquet(files.events).equals(events)
    assert pl.read_parquet(files.contacts).equals(contacts)
    assert "--format parquet" in files.readme.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- schema
def test_event_and_contact_schemas(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    assert events.schema == pl.Schema(
        {
            "contact_id": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
            "event": pl.String,
            "channel": pl.String,
            "campaign": pl.String,
            "amount": pl.Float64,
        }
    )
    assert contacts.schema == pl.Schema(
        {
            "contact_id": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "source": pl.String,
            "segment": pl.String,
            "country": pl.String,
            "email": pl.String,
            "name": pl.String,
        }
    )
    assert as_lazy(events).collect_schema()["occurred_at"] == pl.Datetime("us", "UTC")
    for column in ("contact_id", "occurred_at", "event", "channel"):
        assert events[column].null_count() == 0, column
    assert contacts.null_count().sum_horizontal().item() == 0


def test_committed_csv_headers_and_timestamp_format() -> None:
    events_lines = (SAMPLE_DIR / "events.csv").read_text(encoding="utf-8").splitlines()
    contacts_lines = (SAMPLE_DIR / "contacts.csv").read_text(encoding="utf-8").splitlines()
    assert events_lines[0] == "contact_id,occurred_at,event,channel,campaign,amount"
    assert contacts_lines[0] == "contact_id,created_at,source,segment,country,email,name"
    iso = re.compile(r"^c\d{6},\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ,")
    assert all(iso.match(line) for line in events_lines[1:])
    assert all(iso.match(line) for line in contacts_lines[1:])
    money = re.compile(r",(purchase|subscription|repeat_purchase),[a-z_]+,[a-z0-9_]*,\d+\.\d\d$")
    assert all(money.search(line) for line in events_lines[1:] if ",purchase," in line)


def test_committed_sample_reads_back_whole_and_unchanged(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, contacts = sample
    log = read_events(SAMPLE_DIR / "events.csv")
    assert log.summary().rows_set_aside == 0
    assert log.collect().equals(events)
    table = read_contacts(SAMPLE_DIR / "contacts.csv")
    assert table.collect().equals(contacts)


def test_ids_and_emails_look_real_and_are_unique(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    _, contacts = sample
    assert contacts.height == 5000
    assert contacts["contact_id"].str.contains(r"^c\d{6}$").all()
    assert contacts["contact_id"].is_unique().all()
    assert contacts["email"].str.contains(r"^[a-z]+\.[a-z]+\d*@[a-z-]+\.[a-z]+$").all()
    assert contacts["email"].is_unique().all()
    assert contacts["name"].str.contains(r"^\S+ \S+$").all()
    # ids follow creation order
    assert contacts.sort("contact_id")["created_at"].is_sorted()


# --------------------------------------------------------------------------- content
def test_every_vocabulary_event_and_every_channel_is_present(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, contacts = sample
    assert set(events["event"].unique()) == set(EVENTS)
    assert set(events["channel"].unique()) == set(CHANNELS)
    assert set(contacts["source"].unique()) == set(CHANNELS)


def test_events_stay_inside_the_period(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    assert events["occurred_at"].min() >= START
    assert events["occurred_at"].max() < END
    assert events["occurred_at"].max().date() == DEFAULT_END
    assert contacts["created_at"].min() >= START
    assert contacts["created_at"].max() < END


def test_every_event_belongs_to_a_contact_created_at_its_first_event(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, contacts = sample
    first = events.group_by("contact_id").agg(pl.col("occurred_at").min())
    joined = first.join(contacts, on="contact_id", how="left")
    assert joined["created_at"].null_count() == 0
    assert (joined["created_at"] == joined["occurred_at"]).all()


def test_some_contacts_have_no_event(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, contacts = sample
    untouched = contacts.join(events, on="contact_id", how="anti")
    assert 100 < untouched.height < 500


def test_some_contacts_skip_stages(contacts_with_outcomes: pl.DataFrame) -> None:
    first = contacts_with_outcomes["first_event"].value_counts()
    counts = dict(zip(first["first_event"], first["count"], strict=True))
    assert counts.get("purchase", 0) + counts.get("subscription", 0) >= 30  # walk-ins, imports
    assert counts.get("badge_scan", 0) >= 100  # trade-show visitors start as leads
    assert counts["page_view"] > counts["list_import"] > 0


def test_evidence_for_every_stage_of_both_presets(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = sample
    reached = events.group_by("event").agg(pl.col("contact_id").n_unique())
    contacts_per_event = dict(zip(reached["event"], reached["contact_id"], strict=True))
    stages = {
        "inbound": [
            ["page_view"],
            ["social_follow", "like", "comment"],
            ["ebook_download", "newsletter_signup", "cta_click"],
            ["purchase", "subscription"],
            ["repeat_purchase", "review", "referral"],
        ],
        "sales": [
            ["list_import", "outreach_sent"],
            ["badge_scan", "form_fill"],
            ["outreach_reply", "call", "demo_request"],
            ["meeting"],
            ["purchase", "subscription"],
        ],
    }
    for preset, levels in stages.items():
        for level in levels:
            assert sum(contacts_per_event.get(e, 0) for e in level) >= 50, (preset, level)
    repeat_visitors = (
        events.filter(pl.col("event") == "page_view").group_by("contact_id").len()
    ).filter(pl.col("len") >= 2)
    assert repeat_visitors.height > 500


def test_conversion_differs_by_channel(contacts_with_outcomes: pl.DataFrame) -> None:
    rates = contacts_with_outcomes.group_by("source").agg(pl.col("client").mean())
    rate = dict(zip(rates["source"], rates["client"], strict=True))
    assert min(rate["referral"], rate["trade_show"]) > 1.5 * rate["organic_search"]
    assert rate["paid_ads"] == min(rate.values())
    assert rate["organic_search"] > 1.5 * rate["paid_ads"]


def test_paid_ads_doubles_its_volume_and_loses_quality_mid_period(
    contacts_with_outcomes: pl.DataFrame,
) -> None:
    paid = contacts_with_outcomes.filter(pl.col("source") == "paid_ads")
    before = paid.filter(pl.col("created_at") < CHANGE)
    after = paid.filter(pl.col("created_at") >= CHANGE)
    weeks_before, weeks_after = 12, DEFAULT_WEEKS - 12
    assert after.height / weeks_after > 1.7 * before.height / weeks_before

    # contacts old enough to have had four weeks to convert
    mature = contacts_with_outcomes.filter(pl.col("created_at") < END - timedelta(days=28))
    rates = mature.group_by("source", (pl.col("created_at") >= CHANGE).alias("after")).agg(
        pl.col("client").mean()
    )
    rate = {(s, a): r for s, a, r in rates.iter_rows()}
    assert rate["paid_ads", True] < 0.7 * rate["paid_ads", False]
    # organic search, the control, keeps its quality
    assert rate["organic_search", True] > 0.8 * rate["organic_search", False]


def test_the_broad_campaign_brings_contacts_that_engage_less(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, contacts = sample
    campaign = (
        events.filter(pl.col("campaign").is_not_null())
        .group_by("contact_id")
        .agg(pl.col("campaign").first())
    )
    engaged = events.group_by("contact_id").agg((pl.col("occurred_at").n_unique() > 1).alias("e"))
    paid = (
        contacts.filter((pl.col("source") == "paid_ads") & (pl.col("created_at") >= CHANGE))
        .join(campaign, on="contact_id")
        .join(engaged, on="contact_id")
    )
    is_broad = pl.col("campaign") == "ads_display_broad"
    broad_rate = paid.filter(is_broad)["e"].mean()
    search_rate = paid.filter(~is_broad)["e"].mean()
    assert isinstance(broad_rate, float) and isinstance(search_rate, float)
    assert broad_rate < 0.75 * search_rate


def test_the_broad_campaign_starts_with_the_change(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = sample
    broad = events.filter(pl.col("campaign") == "ads_display_broad")
    assert broad.height > 100
    assert broad["occurred_at"].min() >= CHANGE
    assert set(broad["channel"]) == {"paid_ads"}


def test_campaigns_belong_to_their_channel(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, _ = sample
    pairs = events.filter(pl.col("campaign").is_not_null()).select("channel", "campaign").unique()
    prefix = {
        "social": "social_",
        "paid_ads": "ads_",
        "newsletter": "nl_",
        "referral": "referral_",
    }
    for channel, campaign in pairs.iter_rows():
        if channel == "trade_show":
            assert re.fullmatch(r"[a-z_0-9]+_2026_\d\d", campaign)
        else:
            assert campaign.startswith(prefix[channel]), (channel, campaign)
    per_channel = pairs.group_by("channel").len()
    assert dict(per_channel.iter_rows())["trade_show"] == 3
    assert events.filter(pl.col("channel") == "organic_search")["campaign"].null_count() > 0


def test_weekends_are_quieter(sample: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, _ = sample
    per_day = events.group_by(pl.col("occurred_at").dt.weekday().alias("day")).len()
    counts = dict(per_day.iter_rows())
    weekday = sum(counts[d] for d in range(1, 6)) / 5
    weekend = (counts[6] + counts[7]) / 2
    assert weekend < 0.6 * weekday


def test_recent_contacts_have_not_converted_yet(contacts_with_outcomes: pl.DataFrame) -> None:
    created = pl.col("created_at")
    recent = contacts_with_outcomes.filter(created >= END - timedelta(weeks=2))
    older = contacts_with_outcomes.filter(created.is_between(START, END - timedelta(weeks=8)))
    recent_rate, older_rate = recent["client"].mean(), older["client"].mean()
    assert isinstance(recent_rate, float) and isinstance(older_rate, float)
    assert recent_rate < 0.5 * older_rate


def test_ties_at_the_same_second_but_no_exact_duplicates(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = sample
    ties = events.group_by("contact_id", "occurred_at").len().filter(pl.col("len") > 1)
    assert ties.height >= 50
    assert events.is_duplicated().sum() == 0
    repeated = events.group_by("contact_id", "event").len().filter(pl.col("len") > 1)
    assert repeated.height > 500


def test_amounts_only_and_always_on_money_events(
    sample: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = sample
    money = events.filter(pl.col("event").is_in(MONEY))
    assert money["amount"].null_count() == 0
    assert (money["amount"] > 0).all()
    assert events.filter(~pl.col("event").is_in(MONEY))["amount"].null_count() == (
        events.height - money.height
    )
    assert (money["amount"].round(2) == money["amount"]).all()


# --------------------------------------------------------------------------- property
def _journey_problems(events: pl.DataFrame, contacts: pl.DataFrame) -> list[str]:
    """Check each contact's timeline in plain Python, one contact at a time."""
    segment = dict(zip(contacts["contact_id"], contacts["segment"], strict=True))
    problems = []
    for (contact,), rows in events.sort("occurred_at").group_by("contact_id"):
        timeline = list(zip(rows["occurred_at"], rows["event"], strict=True))
        names = {e for _, e in timeline}
        allowed = B2C_EVENTS if segment[contact] == "b2c" else B2B_EVENTS
        if not names <= allowed:
            problems.append(f"{contact}: {sorted(names - allowed)} in a {segment[contact]} path")
        buys = [t for t, e in timeline if e in BUY]
        first_second = timeline[0][0]
        walk_in = any(e in BUY for t, e in timeline if t == first_second)
        if not buys or walk_in:
            continue
        before = {e for t, e in timeline if t <= buys[0]}
        if segment[contact] == "b2c":
            needed = [{"ebook_download", "newsletter_signup", "cta_click"}]
        else:
            needed = [{"meeting"}, {"outreach_reply", "call", "demo_request"}]
        for level in needed:
            if not before & level:
                problems.append(f"{contact}: bought before any of {sorted(level)}")
    return problems


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32),
    weeks=st.integers(1, 30),
    weeks_back=st.integers(0, 200),
)
def test_generated_data_keeps_its_invariants(
    n: int, seed: int, weeks: int, weeks_back: int
) -> None:
    end = DEFAULT_END - timedelta(weeks=weeks_back)
    events, contacts = generate(n, seed=seed, end=end, weeks=weeks)
    start = datetime.combine(end - timedelta(days=7 * weeks - 1), datetime.min.time(), UTC)
    stop = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    assert contacts.height == n
    assert contacts["contact_id"].is_unique().all()
    assert contacts["email"].is_unique().all()
    if events.height:
        assert start <= events["occurred_at"].min()
        assert events["occurred_at"].max() < stop
        assert events["occurred_at"].is_sorted()
        assert events.is_duplicated().sum() == 0
        assert set(events["contact_id"]) <= set(contacts["contact_id"])
        money = events["event"].is_in(MONEY)
        assert (events["amount"].is_not_null() == money).all()
    assert _journey_problems(events, contacts) == []


# --------------------------------------------------------------------------- large logs
def test_large_log_has_exactly_the_rows_asked_for(tmp_path: Path) -> None:
    path = write_large_log(tmp_path / "log.parquet", 30_000, seed=3, chunk_contacts=2_000)
    log = pl.read_parquet(path)
    assert log.height == 30_000
    assert log.columns == ["contact_id", "occurred_at", "event", "channel", "campaign", "amount"]
    assert log.is_duplicated().sum() == 0
    assert log["contact_id"].n_unique() > 5_000  # several chunks, ids never reused
    assert log["occurred_at"].max() < END
    per_month = log.group_by(pl.col("occurred_at").dt.month()).len()
    assert per_month.height >= 12  # 52 weeks, kept whole contacts spread over the year
    again = pl.read_parquet(
        write_large_log(tmp_path / "again.parquet", 30_000, seed=3, chunk_contacts=2_000)
    )
    assert again.equals(log)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_contacts": 0}, "n_contacts must be a whole number >= 1"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"weeks": 0}, "weeks must be a whole number of weeks >= 1"),
        ({"end": date(2026, 11, 21)}, r"end must be a Sunday.*\(Saturday\).*use 2026-11-15"),
        ({"end": "2026-11-22"}, "end must be a date"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        generate(**kwargs)  # type: ignore[arg-type]


def test_unknown_format_gets_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"unknown sample format 'parket'.*'parquet'"):
        write_sample(tmp_path, n_contacts=10, fmt="parket")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_a_bad_end_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--out", str(tmp_path), "--end", "2026-11-20"]) == 2
    assert "end must be a Sunday" in capsys.readouterr().err
    assert main(["sample", "--out", str(tmp_path), "--end", "next sunday"]) == 2
    assert "--end: 'next sunday' is not a date" in capsys.readouterr().err


def test_cli_writes_a_small_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "dir"
    args = ["sample", "--out", str(out), "--contacts", "50", "--seed", "1", "--weeks", "4"]
    assert main([*args, "--end", "2026-06-28", "--format", "parquet"]) == 0
    assert "contacts to" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "contacts.parquet",
        "events.parquet",
    ]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "--contacts 50 --seed 1 --end 2026-06-28 --weeks 4 --format parquet" in readme
