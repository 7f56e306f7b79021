"""The synthetic sample generator: contacts and events with a story to find.

The bundled sample in ``data/sample/`` comes from :func:`write_sample` with its
defaults, and :func:`write_large_log` draws the same kind of data at benchmark
size.  Everything is drawn with numpy arrays from one ``PCG64`` stream, so the
same arguments give the same bytes and ten million events take seconds.

How a contact is drawn (the two tracks, channels, delays, skipped stages, the
display campaign) is on the concept page ``docs/concepts/sample-data.md`` of
the documentation (``make docs``).
"""

from __future__ import annotations

import os
import textwrap
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from funnelkit.errors import ParameterError, did_you_mean

__all__ = [
    "CHANNELS",
    "DEFAULT_CONTACTS",
    "DEFAULT_END",
    "DEFAULT_SEED",
    "DEFAULT_WEEKS",
    "EVENTS",
    "FORMATS",
    "SampleFiles",
    "generate",
    "write_large_log",
    "write_sample",
]

DEFAULT_CONTACTS = 5000
DEFAULT_SEED = 7
DEFAULT_END = date(2026, 11, 22)
DEFAULT_WEEKS = 20
SampleFormat = Literal["csv", "parquet"]
FORMATS: tuple[SampleFormat, ...] = ("csv", "parquet")

EVENTS = (
    "list_import",
    "outreach_sent",
    "page_view",
    "social_follow",
    "like",
    "comment",
    "ebook_download",
    "newsletter_signup",
    "cta_click",
    "badge_scan",
    "form_fill",
    "outreach_reply",
    "call",
    "demo_request",
    "meeting",
    "purchase",
    "subscription",
    "repeat_purchase",
    "review",
    "referral",
)
CHANNELS = ("organic_search", "social", "paid_ads", "trade_show", "referral", "newsletter")
SEGMENTS = ("b2c", "b2b")
EVENT_COLUMNS = ("contact_id", "occurred_at", "event", "channel", "campaign", "amount")
CONTACT_COLUMNS = ("contact_id", "created_at", "source", "segment", "country", "email", "name")
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EV = {name: i for i, name in enumerate(EVENTS)}
_CH = {name: i for i, name in enumerate(CHANNELS)}
_B2C, _B2B = 0, 1
_TRADE_SHOW = _CH["trade_show"]
_PAID = _CH["paid_ads"]


# --------------------------------------------------------------------------- the story
@dataclass(frozen=True)
class _Level:
    """One level of a track: how it is entered and what happens while there."""

    entry: Mapping[str, float]  # the event that puts a contact at this level
    extra: Mapping[str, float]  # further events while at this level
    extra_rate: float  # mean number of further events
    step: float  # P(reach this level | previous level), for an average channel
    delay_days: float  # mean delay after the previous level, in active days


_B2C_LEVELS = (
    _Level({"page_view": 1.0}, {}, 0.0, 1.0, 0.0),
    _Level(
        {"page_view": 0.35, "social_follow": 0.25, "like": 0.25, "comment": 0.15},
        {"page_view": 0.5, "like": 0.25, "comment": 0.1, "social_follow": 0.15},
        2.0,
        0.55,
        4.0,
    ),
    _Level(
        {"ebook_download": 0.4, "newsletter_signup": 0.35, "cta_click": 0.25},
        {"page_view": 0.45, "cta_click": 0.2, "ebook_download": 0.1, "like": 0.15, "comment": 0.1},
        2.5,
        0.45,
        8.0,
    ),
    _Level(
        {"purchase": 0.8, "subscription": 0.2},
        {"page_view": 0.6, "cta_click": 0.25, "like": 0.15},
        1.0,
        0.3,
        12.0,
    ),
    _Level(
        {"repeat_purchase": 0.5, "review": 0.3, "referral": 0.2},
        {"repeat_purchase": 0.4, "review": 0.15, "page_view": 0.35, "referral": 0.1},
        1.5,
        0.35,
        25.0,
    ),
)
_B2B_LEVELS = (
    _Level({"list_import": 1.0}, {"outreach_sent": 1.0}, 1.2, 1.0, 0.0),
    _Level(
        {"form_fill": 0.45, "ebook_download": 0.3, "newsletter_signup": 0.25},
        {"page_view": 0.5, "outreach_sent": 0.3, "ebook_download": 0.2},
        2.0,
        0.5,
        6.0,
    ),
    _Level(
        {"outreach_reply": 0.45, "call": 0.35, "demo_request": 0.2},
        {"call": 0.35, "outreach_sent": 0.3, "page_view": 0.25, "outreach_reply": 0.1},
        1.5,
        0.5,
        5.0,
    ),
    _Level({"meeting": 1.0}, {"call": 0.5, "page_view": 0.3, "meeting": 0.2}, 1.0, 0.55, 7.0),
    _Level(
        {"purchase": 0.7, "subscription": 0.3},
        {"call": 0.4, "page_view": 0.4, "meeting": 0.2},
        1.0,
        0.45,
        20.0,
    ),
    _Level(
        {"repeat_purchase": 0.5, "review": 0.25, "referral": 0.25},
        {"repeat_purchase": 0.4, "page_view": 0.4, "review": 0.2},
        1.0,
        0.3,
        30.0,
    ),
)
_TRACKS = (_B2C_LEVELS, _B2B_LEVELS)
_N_LEVELS = max(len(t) for t in _TRACKS)
_CLIENT_LEVEL = (3, 4)  # per track: the level of the first purchase

# Acquisition outside trade shows: channel weights before and after the paid change.
_WEIGHTS = {"organic_search": 0.3, "social": 0.22, "paid_ads": 0.18, "referral": 0.1}
_WEIGHTS |= {"newsletter": 0.1}
_SHOW_SHARE = 0.1  # share of contacts met at a trade show
_NEVER_TOUCHED = 0.05  # share of contacts imported and never touched
_B2B_SHARE = {"organic_search": 0.3, "social": 0.2, "paid_ads": 0.25, "trade_show": 0.85}
_B2B_SHARE |= {"referral": 0.35, "newsletter": 0.3}
# Channel quality: a step taken with probability p for an average channel is
# taken with probability 1 - (1 - p) ** quality.  Index 6 is the broad paid campaign.
_QUALITY = (1.0, 0.85, 0.55, 1.5, 1.6, 1.15, 0.25)
_BROAD = len(CHANNELS)
_CHANGE_AT = 0.6  # fraction of the period after which paid_ads changes
_BROAD_SHARE = 0.5  # share of paid_ads contacts in the broad campaign after the change
_BROAD_B2B = 0.1  # the broad campaign mostly reaches consumers
_WALK_IN = 0.03  # b2c contacts whose first event is a purchase
_IMPORTED_CUSTOMER = 0.03  # b2b contacts whose first event is a purchase
_SHOW_BADGE = 0.6  # trade-show b2b contacts whose first event is a badge scan
_INBOUND_B2B = 0.52  # other b2b contacts whose first event is a form or a download
_TIE = 0.05  # a level's second event at the very second of its first
_TAIL_DAYS = 30.0  # further events at the last level reached come within this
_DELAY_SHAPE = 1.5
_EVENTS_PER_CONTACT = 3.7  # about, over 52 weeks: sizes the chunks of a large log

# Activity clock: relative activity per hour of the day (UTC) and per weekday.
_HOURLY = (
    *(0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.8, 1.2, 1.5, 1.6, 1.6),
    *(1.4, 1.5, 1.6, 1.6, 1.5, 1.3, 1.2, 1.1, 1.0, 0.8, 0.5, 0.3),
)
_DAILY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.35)  # Monday first
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HORIZON_DAYS = 400  # the clock runs past the end so that late steps stay late

_CAMPAIGNS: Mapping[str, tuple[str, ...]] = {
    "social": ("social_instagram_stories", "social_linkedin_tips"),  # b2c, b2b
    "paid_ads": ("ads_search_brand", "ads_search_generic", "ads_display_broad"),
    "referral": ("referral_program",),
    "newsletter": ("nl_partner_swap", "nl_weekly_digest"),
}
_SHOW_NAMES = ("salon_pro", "expo_digital", "forum_b2b")
_REFERRAL_PROGRAM = 0.6  # referrals that came through the programme (else word of mouth)

_COUNTRIES = {"FR": 0.55, "BE": 0.1, "CH": 0.08, "CA": 0.07, "DE": 0.05, "ES": 0.05}
_COUNTRIES |= {"IT": 0.04, "GB": 0.03, "US": 0.03}
_FIRST_NAMES = (
    "Camille Léa Manon Chloé Inès Jade Louise Emma Zoé Sarah Julie Claire Hélène Nathalie "
    "Sophie Amélie Lucie Anaïs Marie Élodie Thomas Lucas Hugo Louis Nathan Gabriel Arthur "
    "Jules Léo Théo Antoine Nicolas Julien Maxime Pierre Olivier Mathieu Karim Yanis Mehdi "
    "Sofia Fatima Aïcha Moussa Mamadou Anna Laura David Daniel Marco Giulia Lukas Jonas Elena "
    "Pablo Lucía Oliver Charlotte Noah Mia"
).split()
_LAST_NAMES = (
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Mercier "
    "Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin "
    "Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez Fontaine "
    "Chevalier Robin Masson Benali Haddad Nguyen Diallo Rossi Schmidt Peeters Janssens "
    "Tremblay Gagnon"
).split()
_B2C_DOMAINS = ("example.com", "example.org", "example.net")
_B2B_DOMAINS = (
    "atelier-roux.example",
    "batiplus.example",
    "cabinet-morel.example",
    "datalyon.example",
    "ecoflux.example",
    "fromagerie-blanc.example",
    "groupe-vega.example",
    "helio-conseil.example",
    "imprimerie-nord.example",
    "logisud.example",
    "medilab.example",
    "transports-faure.example",
)


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.lower()


def _probabilities(weights: Mapping[str, float], names: tuple[str, ...]) -> FloatArray:
    p = np.array([weights.get(n, 0.0) for n in names], dtype=np.float64)
    total = p.sum()
    out: FloatArray = p / total if total > 0 else p
    return out


def _cumulative(rows: list[FloatArray]) -> FloatArray:
    """Row-wise cumulative probabilities whose last column is exactly 1."""
    table = np.cumsum(np.vstack(rows), axis=1)
    total = table[:, -1:].copy()
    total[total == 0] = 1.0
    out: FloatArray = table / total
    return out


def _level_tables() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Tabulate per (track, level): entry and extra events, extra rate, step, delay."""
    shape = (len(_TRACKS), _N_LEVELS)
    rate, step, delay = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    entry, extra = [], []
    none = _Level({}, {}, 0.0, 0.0, 0.0)
    for t, levels in enumerate(_TRACKS):
        for k, level in enumerate((*levels, *[none] * (_N_LEVELS - len(levels)))):
            entry.append(_probabilities(level.entry, EVENTS))
            extra.append(_probabilities(level.extra, EVENTS))
            rate[t, k], step[t, k], delay[t, k] = level.extra_rate, level.step, level.delay_days
    return _cumulative(entry), _cumulative(extra), rate, step, delay


_ENTRY_CUM, _EXTRA_CUM, _EXTRA_RATE, _STEP, _DELAY = _level_tables()


# --------------------------------------------------------------------------- the period
@dataclass(frozen=True)
class _Period:
    """The generated period and its activity clock (hours since the start)."""

    start: date  # a Monday
    end: date  # a Sunday, included
    weeks: int
    clock: FloatArray  # activity accumulated at each whole hour since the start

    @property
    def start_seconds(self) -> int:
        return int(datetime(*self.start.timetuple()[:3], tzinfo=UTC).timestamp())

    @property
    def hours(self) -> int:
        return self.weeks * 7 * 24

    @property
    def change(self) -> date:
        """First day of the paid_ads change (a Monday)."""
        return self.start + timedelta(weeks=int(self.weeks * _CHANGE_AT))

    def shows(self) -> list[tuple[date, str]]:
        """Trade shows: (first day, campaign name), two days each, Tuesday and Wednesday."""
        n = max(1, round(self.weeks / 7))
        out = []
        for i in range(n):
            day = self.start + timedelta(weeks=int((i + 0.5) * self.weeks / n), days=1)
            out.append((day, f"{_SHOW_NAMES[i % len(_SHOW_NAMES)]}_{day:%Y_%m}"))
        return out

    def to_clock(self, hours: FloatArray) -> FloatArray:
        grid = np.arange(len(self.clock), dtype=np.float64)
        out: FloatArray = np.interp(hours, grid, self.clock)
        return out

    def from_clock(self, ticks: FloatArray) -> FloatArray:
        grid = np.arange(len(self.clock), dtype=np.float64)
        out: FloatArray = np.interp(ticks, self.clock, grid)
        return out


def _period(end: date, weeks: int) -> _Period:
    if isinstance(end, datetime) or not isinstance(end, date):
        msg = f"end must be a date such as date(2026, 11, 22), got {end!r}"
        raise ParameterError(msg)
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        msg = f"weeks must be a whole number of weeks >= 1, got {weeks!r}"
        raise ParameterError(msg)
    if end.weekday() != 6:
        previous = end - timedelta(days=end.weekday() + 1)
        msg = (
            f"end must be a Sunday so that the sample holds whole weeks, got {end} "
            f"({_WEEKDAYS[end.weekday()]}). Hint: use {previous} instead."
        )
        raise ParameterError(msg)
    start = end - timedelta(days=7 * weeks - 1)
    n_hours = (7 * weeks + _HORIZON_DAYS) * 24
    hour = np.arange(n_hours)
    rate = np.array(_HOURLY)[hour % 24] * np.array(_DAILY)[(hour // 24) % 7]
    rate /= rate[: 7 * 24].mean()  # on average one tick per hour
    clock = np.concatenate([[0.0], np.cumsum(rate)])
    return _Period(start, end, weeks, clock)


# --------------------------------------------------------------------------- drawing
@dataclass(frozen=True)
class _Draw:
    """Numpy arrays of one batch of contacts and their events."""

    # contacts
    number: IntArray  # contact number (the digits of the id), in creation order
    created: IntArray  # seconds since the period start
    source: IntArray
    segment: IntArray
    # events
    contact: IntArray  # index into the contact arrays
    seconds: IntArray
    event: IntArray
    campaign: IntArray  # index into campaign names, -1 for none
    amount: FloatArray  # NaN for none
    campaigns: tuple[str, ...]


def _pick(cum: FloatArray, u: FloatArray) -> IntArray:
    """Index drawn by each uniform ``u`` from the cumulative probabilities ``cum``."""
    out: IntArray = np.searchsorted(cum, u, side="right").astype(np.int64)
    return out


def _pick_rows(cum: FloatArray, rows: IntArray, u: FloatArray) -> IntArray:
    """Like :func:`_pick`, with the table row ``rows[i]`` for draw ``i``.

    Loops over the few table rows, never over the draws.
    """
    out = np.zeros(len(u), dtype=np.int64)
    for r in np.unique(rows):
        mask = rows == r
        out[mask] = _pick(cum[r], u[mask])
    return out


def _draw(rng: np.random.Generator, n: int, period: _Period, first_number: int) -> _Draw:
    """Draw ``n`` contacts and their events, numbered from ``first_number``."""
    end_tick = period.clock[period.hours]
    change_tick = period.clock[(period.change - period.start).days * 24]

    # When and through which channel each contact arrived.
    at_show = rng.random(n) < _SHOW_SHARE
    before, after = change_tick, end_tick - change_tick
    w0 = _probabilities(_WEIGHTS, CHANNELS)
    w1 = w0.copy()
    w1[_PAID] *= 2
    late = rng.random(n) * (before + after * w1.sum()) >= before
    u = rng.random(n)
    tick = np.where(late, change_tick + u * after, u * before)
    source_cum = _cumulative([w0, w1])
    source = _pick_rows(source_cum, late.astype(np.int64), rng.random(n))
    shows = period.shows()
    show = rng.integers(0, len(shows), n)
    show_day = np.array([(d - period.start).days for d, _ in shows])[show]
    show_hour = show_day * 24 + rng.integers(0, 2, n) * 24 + 8 + rng.random(n) * 9
    tick = np.where(at_show, period.to_clock(show_hour), tick)
    source = np.where(at_show, _TRADE_SHOW, source)
    touched = rng.random(n) >= _NEVER_TOUCHED

    # Who they are and where their journey starts.
    b2b_share = np.array([_B2B_SHARE[c] for c in CHANNELS])
    broad = (source == _PAID) & late & (rng.random(n) < _BROAD_SHARE)
    b2b = np.where(broad, _BROAD_B2B, b2b_share[source])
    segment = (rng.random(n) < b2b).astype(np.int64)
    quality = np.array(_QUALITY)[np.where(broad, _BROAD, source)]
    u = rng.random(n)
    b2b_start = np.where(
        source == _TRADE_SHOW,
        np.where(u < _SHOW_BADGE, 1, 0),
        np.where(u < _INBOUND_B2B, 1, 0),
    )
    b2b_start = np.where(u > 1 - _IMPORTED_CUSTOMER, _CLIENT_LEVEL[_B2B], b2b_start)
    b2c_start = np.where(u < _WALK_IN, _CLIENT_LEVEL[_B2C], 0)
    start = np.where(segment == _B2B, b2b_start, b2c_start)

    # The levels each contact reaches, and when (on the activity clock).
    entered = np.full((n, _N_LEVELS + 1), np.inf)
    reached = np.zeros((n, _N_LEVELS + 1), dtype=np.bool_)
    for k in range(_N_LEVELS):
        step = _STEP[segment, k]
        is_client_step = k > np.array(_CLIENT_LEVEL)[segment]
        q = np.where(is_client_step, np.sqrt(quality), quality)
        p = 1 - (1 - step) ** q
        delay = rng.gamma(_DELAY_SHAPE, 1.0, n) * _DELAY[segment, k] * 24 / _DELAY_SHAPE
        go = rng.random(n) < p
        here = start == k
        previous = entered[:, k - 1] if k else np.full(n, np.inf)
        entered[:, k] = np.where(here, tick, previous + delay)
        carried = reached[:, k - 1] & go if k else np.zeros(n, dtype=np.bool_)
        reached[:, k] = touched & (here | (carried & (entered[:, k] < end_tick)))
    entered[~reached] = np.inf

    # One record per (contact, level reached): the level's window on the clock.
    per_contact = reached.sum(axis=1)
    rec_contact = np.repeat(np.arange(n), per_contact)
    rec_level = start[rec_contact] + _within(per_contact)
    rec_track = segment[rec_contact]
    lo = entered[rec_contact, rec_level]
    following = entered[rec_contact, rec_level + 1]
    hi = np.minimum(np.where(np.isfinite(following), following, lo + _TAIL_DAYS * 24), end_tick)
    extras = rng.poisson(_EXTRA_RATE[rec_track, rec_level])

    # One row per event.
    per_record = 1 + extras
    ev_record = np.repeat(np.arange(len(lo)), per_record)
    j = _within(per_record)
    first = j == 0
    row = rec_track[ev_record] * _N_LEVELS + rec_level[ev_record]
    u = rng.random(len(ev_record))
    event = np.where(first, _pick_rows(_ENTRY_CUM, row, u), _pick_rows(_EXTRA_CUM, row, u))
    ev_contact = rec_contact[ev_record]
    badge = first & (source[ev_contact] == _TRADE_SHOW) & (rec_level[ev_record] == 1)
    badge &= (segment[ev_contact] == _B2B) & (start[ev_contact] == 1)
    event = np.where(badge, _EV["badge_scan"], event)
    ticks = lo[ev_record] + rng.random(len(ev_record)) * (hi - lo)[ev_record]
    record_start = np.cumsum(per_record) - per_record
    entry_event = event[record_start][ev_record]
    tie = (j == 1) & (rng.random(len(ev_record)) < _TIE) & (event != entry_event)
    ticks = np.where(first | tie, lo[ev_record], ticks)
    last_second = period.hours * 3600 - 1
    seconds = np.minimum(np.floor(period.from_clock(ticks) * 3600), last_second).astype(np.int64)
    created = np.floor(period.from_clock(tick) * 3600).astype(np.int64)

    campaign, campaigns = _campaigns(rng, source, segment, broad, show, shows)
    ev_campaign = np.where(rec_level[ev_record] == start[ev_contact], campaign[ev_contact], -1)
    amount = _amounts(rng, event, segment[ev_contact])

    order = np.argsort(created, kind="stable")
    number = np.empty(n, dtype=np.int64)
    number[order] = np.arange(first_number, first_number + n)
    return _Draw(
        number=number,
        created=created,
        source=source,
        segment=segment,
        contact=ev_contact,
        seconds=seconds,
        event=event,
        campaign=ev_campaign,
        amount=amount,
        campaigns=campaigns,
    )


def _within(counts: IntArray) -> IntArray:
    """``0, 1, ..., c - 1`` for each count ``c``, concatenated."""
    starts = np.cumsum(counts) - counts
    out: IntArray = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    return out


def _campaigns(
    rng: np.random.Generator,
    source: IntArray,
    segment: IntArray,
    broad: BoolArray,
    show: IntArray,
    shows: list[tuple[date, str]],
) -> tuple[IntArray, tuple[str, ...]]:
    """Draw the campaign that brought each contact (-1 for none) and the campaign names."""
    names = (*(c for group in _CAMPAIGNS.values() for c in group), *(s for _, s in shows))
    index = {name: i for i, name in enumerate(names)}
    social, paid = _CAMPAIGNS["social"], _CAMPAIGNS["paid_ads"]
    news = _CAMPAIGNS["newsletter"]
    u = rng.random(len(source))
    out = np.full(len(source), -1, dtype=np.int64)
    by_segment = np.where(segment == _B2B, index[social[1]], index[social[0]])
    out = np.where(source == _CH["social"], by_segment, out)
    search = np.where(u < 0.5, index[paid[0]], index[paid[1]])
    out = np.where(source == _PAID, np.where(broad, index[paid[2]], search), out)
    program = np.where(u < _REFERRAL_PROGRAM, index["referral_program"], -1)
    out = np.where(source == _CH["referral"], program, out)
    letter = np.where(u < 0.5, index[news[0]], index[news[1]])
    out = np.where(source == _CH["newsletter"], letter, out)
    out = np.where(source == _TRADE_SHOW, index[shows[0][1]] + show, out)
    return out, names


def _amounts(rng: np.random.Generator, event: IntArray, segment: IntArray) -> FloatArray:
    """Order amounts in euros (cents) for purchases and subscriptions, NaN elsewhere."""
    b2b = segment == _B2B
    size = len(event)
    basket = np.exp(rng.normal(0.0, 1.0, size) * np.where(b2b, 0.7, 0.6))
    purchase = basket * np.where(b2b, 2400.0, 85.0)
    plans = np.where(b2b, np.array([99.0, 249.0, 499.0])[rng.integers(0, 3, size)], 0.0)
    plans = np.where(b2b, plans, np.array([9.9, 19.9, 29.9])[rng.integers(0, 3, size)])
    amount = np.full(size, np.nan)
    amount = np.where(event == _EV["purchase"], np.maximum(purchase, 5.0), amount)
    amount = np.where(event == _EV["repeat_purchase"], np.maximum(0.7 * purchase, 5.0), amount)
    amount = np.where(event == _EV["subscription"], plans, amount)
    out: FloatArray = np.round(amount, 2)
    return out


# --------------------------------------------------------------------------- frames
def _ids(numbers: pl.Expr, width: int) -> pl.Expr:
    return pl.concat_str(pl.lit("c"), numbers.cast(pl.String).str.zfill(width))


def _events_frame(
    draw: _Draw, period: _Period, width: int, keep: IntArray | None = None, limit: int = 0
) -> pl.DataFrame:
    """Return the events of ``draw`` as a frame, in a fixed order, without exact duplicates.

    With ``limit``, keep at most that many rows: whole contacts in the order of
    ``keep`` (a permutation of the contacts), the last one possibly cut short.
    """
    start_us = period.start_seconds * 1_000_000
    frame = pl.DataFrame(
        {
            "number": draw.number[draw.contact],
            "us": draw.seconds * 1_000_000 + start_us,
            "event": draw.event.astype(np.uint8),
            "channel": draw.source[draw.contact].astype(np.uint8),
            "campaign": draw.campaign.astype(np.int16),
            "amount": draw.amount,
            "keep": (keep if keep is not None else np.zeros(len(draw.number), np.int64))[
                draw.contact
            ],
        },
        nan_to_null=True,
    )
    order = ("us", "number", "event", "campaign", "amount")
    frame = frame.sort(*order, maintain_order=True).unique(maintain_order=True)
    if limit and frame.height > limit:
        frame = frame.sort("keep", "us", maintain_order=True).head(limit)
        frame = frame.sort(*order, maintain_order=True)
    campaign = pl.col("campaign")
    return frame.select(
        _ids(pl.col("number"), width).alias("contact_id"),
        pl.col("us").cast(pl.Datetime("us", "UTC")).alias("occurred_at"),
        pl.col("event").replace_strict(range(len(EVENTS)), EVENTS, return_dtype=pl.String),
        pl.col("channel").replace_strict(range(len(CHANNELS)), CHANNELS, return_dtype=pl.String),
        campaign.replace_strict(
            range(-1, len(draw.campaigns)), [None, *draw.campaigns], return_dtype=pl.String
        ),
        pl.col("amount").cast(pl.Float64),
    )


def _contacts_frame(
    rng: np.random.Generator, draw: _Draw, period: _Period, width: int
) -> pl.DataFrame:
    """Return the contacts of ``draw``, with fake but plausible names and emails."""
    n = len(draw.number)
    first = rng.integers(0, len(_FIRST_NAMES), n)
    last = rng.integers(0, len(_LAST_NAMES), n)
    country = _pick(_cumulative([_probabilities(_COUNTRIES, tuple(_COUNTRIES))])[0], rng.random(n))
    b2c_domain = rng.integers(0, len(_B2C_DOMAINS), n)
    b2b_domain = rng.integers(0, len(_B2B_DOMAINS), n)
    domains = (*_B2C_DOMAINS, *_B2B_DOMAINS)
    domain = np.where(draw.segment == _B2B, len(_B2C_DOMAINS) + b2b_domain, b2c_domain)
    start_us = period.start_seconds * 1_000_000

    def names(values: tuple[str, ...]) -> dict[int, str]:
        return dict(enumerate(values))

    frame = pl.DataFrame(
        {
            "number": draw.number,
            "us": draw.created * 1_000_000 + start_us,
            "source": draw.source.astype(np.uint8),
            "segment": draw.segment.astype(np.uint8),
            "country": country.astype(np.uint8),
            "first": first.astype(np.uint8),
            "last": last.astype(np.uint8),
            "domain": domain.astype(np.uint8),
        }
    ).sort("number")

    def text(column: str, values: tuple[str, ...] | list[str]) -> pl.Expr:
        return pl.col(column).replace_strict(names(tuple(values)), return_dtype=pl.String)

    local = pl.concat_str(
        text("first", [_slug(x) for x in _FIRST_NAMES]),
        pl.lit("."),
        text("last", [_slug(x) for x in _LAST_NAMES]),
    )
    base = pl.concat_str(local, pl.lit("@"), text("domain", domains))
    seen = pl.col("base").cum_count().over("base")
    email = pl.when(seen > 1).then(
        pl.concat_str(pl.col("local"), seen.cast(pl.String), pl.lit("@"), pl.col("at"))
    )
    return (
        frame.with_columns(
            local.alias("local"), base.alias("base"), text("domain", domains).alias("at")
        )
        .with_columns(email.otherwise(pl.col("base")).alias("email"))
        .select(
            _ids(pl.col("number"), width).alias("contact_id"),
            pl.col("us").cast(pl.Datetime("us", "UTC")).alias("created_at"),
            text("source", CHANNELS).alias("source"),
            text("segment", SEGMENTS).alias("segment"),
            text("country", tuple(_COUNTRIES)).alias("country"),
            "email",
            pl.concat_str(
                text("first", _FIRST_NAMES), pl.lit(" "), text("last", _LAST_NAMES)
            ).alias("name"),
        )
    )


# --------------------------------------------------------------------------- public API
def _check_count(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a whole number >= 1, got {value!r}"
        raise ParameterError(msg)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        msg = f"seed must be a whole number >= 0, got {seed!r}"
        raise ParameterError(msg)


def generate(
    n_contacts: int = DEFAULT_CONTACTS,
    *,
    seed: int = DEFAULT_SEED,
    end: date = DEFAULT_END,
    weeks: int = DEFAULT_WEEKS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Draw a synthetic events log and its contacts table.

    Inbound marketing contacts with channels, campaigns, purchases and a few
    personal columns (for the privacy checks); planted causes make the
    drivers and drop-off paths findable.

    Parameters
    ----------
    n_contacts
        Contacts in the contacts table; about 5 % of them have no event.
    seed
        Seed of the ``PCG64`` generator: the same arguments give the same frames.
    end
        Last day of the period, a Sunday; no event comes after it.
    weeks
        Length of the period in weeks; no event comes before its first Monday.

    Returns
    -------
    tuple[pl.DataFrame, pl.DataFrame]
        ``events`` (``contact_id``, ``occurred_at`` in UTC, ``event``, ``channel``,
        ``campaign``, ``amount``) sorted by time, and ``contacts`` (``contact_id``,
        ``created_at``, ``source``, ``segment``, ``country``, ``email``, ``name``)
        sorted by id.  Contact ids follow creation order.

    Raises
    ------
    ParameterError
        When a count is below 1, the seed is negative or ``end`` is not a Sunday.

    Examples
    --------
    >>> events, contacts = generate(200, seed=1)
    >>> events.columns
    ['contact_id', 'occurred_at', 'event', 'channel', 'campaign', 'amount']
    >>> contacts.height
    200

    See the concept page: docs/concepts/sample-data.md
    """
    _check_count(n_contacts, "n_contacts")
    _check_seed(seed)
    period = _period(end, weeks)
    rng = np.random.Generator(np.random.PCG64(seed))
    width = max(6, len(str(n_contacts)))
    draw = _draw(rng, n_contacts, period, first_number=1)
    events = _events_frame(draw, period, width)
    contacts = _contacts_frame(rng, draw, period, width)
    return events, contacts


@dataclass(frozen=True)
class SampleFiles:
    """What :func:`write_sample` wrote.

    Attributes
    ----------
    events, contacts, readme
        Paths of the files written.
    n_events, n_contacts
        Rows in each table.
    """

    events: Path
    contacts: Path
    readme: Path
    n_events: int
    n_contacts: int

    def __str__(self) -> str:
        return (
            f"wrote {self.n_events:,} events and {self.n_contacts:,} contacts to "
            f"{self.events.parent}{os.sep} ({self.events.name}, {self.contacts.name}, "
            f"{self.readme.name})"
        )


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def _write_table(frame: pl.DataFrame, path: Path, fmt: SampleFormat) -> None:
    if fmt == "csv":
        text = frame.with_columns(pl.col(pl.Datetime).dt.strftime(ISO_SECONDS))
        _atomic(path, lambda p: text.write_csv(p, float_precision=2))
    else:
        _atomic(path, lambda p: frame.write_parquet(p, compression="zstd"))


def write_sample(
    out_dir: str | Path,
    *,
    n_contacts: int = DEFAULT_CONTACTS,
    seed: int = DEFAULT_SEED,
    end: date = DEFAULT_END,
    weeks: int = DEFAULT_WEEKS,
    fmt: SampleFormat = "csv",
) -> SampleFiles:
    """Write a sample (events, contacts and a README) into ``out_dir``.

    The files are the same, byte for byte, for the same arguments: the
    committed ``data/sample/`` is ``write_sample("data/sample")``.

    Parameters
    ----------
    out_dir
        Folder to write into; created if missing.  Files of the same name
        are replaced.
    n_contacts, seed, end, weeks
        As in :func:`generate`.
    fmt
        ``"csv"`` (timestamps as ``2026-11-22T09:30:00Z``, amounts with two
        decimals, empty cells for nulls) or ``"parquet"`` (zstd).

    Returns
    -------
    SampleFiles
        Paths written and row counts.

    Raises
    ------
    ParameterError
        On a bad argument (see :func:`generate`) or an unknown ``fmt``.

    Examples
    --------
    >>> import tempfile
    >>> files = write_sample(tempfile.mkdtemp(), n_contacts=100, seed=3)
    >>> files.events.name, files.n_contacts
    ('events.csv', 100)

    See the concept page: docs/concepts/sample-data.md
    """
    if fmt not in FORMATS:
        msg = f"unknown sample format {fmt!r}; use one of {', '.join(FORMATS)}."
        raise ParameterError(msg + did_you_mean(str(fmt), FORMATS))
    events, contacts = generate(n_contacts, seed=seed, end=end, weeks=weeks)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / f"events.{fmt}", out / f"contacts.{fmt}", out / "README.md"
    for frame, path in zip((events, contacts), paths, strict=False):
        _write_table(frame, path, fmt)
    readme = _readme(events, contacts, _period(end, weeks), n_contacts, seed, fmt)
    _atomic(paths[2], lambda p: p.write_text(readme, encoding="utf-8", newline="\n"))
    return SampleFiles(paths[0], paths[1], paths[2], events.height, contacts.height)


def _fill(text: str, first: str = "", rest: str = "") -> str:
    return textwrap.fill(
        text,
        78,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _readme(
    events: pl.DataFrame,
    contacts: pl.DataFrame,
    period: _Period,
    n_contacts: int,
    seed: int,
    fmt: SampleFormat,
) -> str:
    """Return the README that goes with a written sample (its figures come from the data)."""
    args = f"--contacts {n_contacts} --seed {seed}"
    if period.end != DEFAULT_END:
        args += f" --end {period.end}"
    if period.weeks != DEFAULT_WEEKS:
        args += f" --weeks {period.weeks}"
    if fmt != "csv":
        args += f" --format {fmt}"
    touched = events["contact_id"].n_unique()
    shows = ", ".join(
        f"`{name}` ({day} and {day + timedelta(days=1)})" for day, name in period.shows()
    )
    files = [
        f"`events.{fmt}`: {events.height:,} events of {touched:,} contacts, one row per "
        "interaction: `contact_id`, `occurred_at` (UTC, to the second), `event`, `channel` "
        "(where the contact came from), `campaign` (the campaign that brought the contact, "
        "on the events of its first stage; empty otherwise) and `amount` (euros, on "
        "`purchase`, `subscription` and `repeat_purchase` only).",
        f"`contacts.{fmt}`: {contacts.height:,} contacts: `contact_id`, `created_at` (the "
        "time of the first event, or of the import), `source`, `segment` (`b2c` or `b2b`), "
        f"`country`, `email` and `name`. {contacts.height - touched:,} of them were imported "
        "and never touched: they have no event.",
    ]
    story = [
        "`b2c` contacts follow the content-marketing path (visit, repeat visit, like or "
        "follow, download or sign-up, purchase, repeat purchase or review), `b2b` contacts "
        "the sales path (list import and outreach, badge scan or form, reply or call or "
        "demo request, meeting, purchase), so both funnel presets have evidence at every "
        "stage.",
        "Conversion depends on the channel: `referral` and `trade_show` convert best, "
        "`paid_ads` worst.",
        f"From Monday {period.change} on, `paid_ads` brings twice as many contacts, half of "
        "them through the broad campaign `ads_display_broad`, whose contacts convert far less.",
        f"Trade-show contacts arrive on the show days: {shows}.",
        "Some contacts skip stages: walk-in buyers and imported customers start with a "
        "purchase, many trade-show visitors with a badge scan.",
        "Activity is lower at night and at the weekend. Conversion takes days to weeks, so "
        "the contacts of the last weeks have converted less yet.",
        "Some events of a contact share the same second. No row is an exact duplicate.",
    ]

    def bullets(items: list[str]) -> str:
        return "\n".join(_fill(item, "- ", "  ") for item in items)

    intro = _fill(
        f"The period runs {period.weeks} whole weeks, from Monday {period.start} to Sunday "
        f"{period.end}. What an analysis should find:"
    )
    return f"""# Sample data

Synthetic data: every person, email and company in these files is made up.

{bullets(files)}

{intro}

{bullets(story)}

Regenerate these files, byte for byte (same seed, same numpy and polars):

```sh
funnelkit sample --out data/sample {args}
```
"""


def write_large_log(
    path: str | Path,
    n_events: int,
    *,
    seed: int = DEFAULT_SEED,
    end: date = DEFAULT_END,
    weeks: int = 52,
    chunk_contacts: int = 400_000,
) -> Path:
    """Write a large synthetic events log to one Parquet file, for benchmarks.

    Contacts are drawn in chunks (each from its own ``PCG64`` stream spawned
    from ``seed``) and appended as row groups, so memory stays bounded
    whatever ``n_events``.  The log holds exactly ``n_events`` rows (the last
    chunk keeps whole contacts taken at random; the last one may lose its
    latest events).  Rows are sorted by time within a chunk only.

    Parameters
    ----------
    path
        Parquet file to write (replaced if it exists).
    n_events
        Number of event rows.
    seed, end, weeks
        As in :func:`generate`.
    chunk_contacts
        Contacts drawn at a time (about 4.5 events each).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ParameterError
        On a bad argument (see :func:`generate`) or ``n_events`` below 1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_large_log(pathlib.Path(tempfile.mkdtemp()) / "log.parquet", 10_000)
    >>> pl.scan_parquet(out).select(pl.len()).collect().item()
    10000

    See the concept page: docs/concepts/sample-data.md
    """
    import pyarrow.parquet as pq

    _check_count(n_events, "n_events")
    _check_count(chunk_contacts, "chunk_contacts")
    _check_seed(seed)
    period = _period(end, weeks)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    width = max(6, len(str(n_events)))
    written, drawn, i = 0, 0, 0
    writer = None
    try:
        while written < n_events:
            stream = np.random.SeedSequence(seed, spawn_key=(i,))
            rng = np.random.Generator(np.random.PCG64(stream))
            left = n_events - written
            n = min(chunk_contacts, int(left / _EVENTS_PER_CONTACT * 1.1) + 16)
            draw = _draw(rng, n, period, first_number=1 + drawn)
            frame = _events_frame(draw, period, width, keep=rng.permutation(n), limit=left)
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table)
            written += frame.height
            drawn += n
            i += 1
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(out)
    return out
