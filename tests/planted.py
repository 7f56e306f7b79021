"""A log with planted causes of conversion, for the drivers tests (not a test module).

2,000 contacts visit; about 80% sign up; of those, about a third buy within
the 14-day window.  What decides a purchase is planted:

- ``webinar`` after signing up helps (the purchase chance rises by 0.35);
- ``complaint`` after signing up hurts (the chance falls to 0.05);
- a signup that came through ``channel = partner`` helps (0.6 instead of 0.3);
- ``blog_read``, ``faq_view`` and ``pricing_view`` are noise (drawn at random);
- ``receipt_email`` comes one hour after a purchase only, ``winback_email``
  twenty days after the visit to those who did not buy (after their window):
  both would look like strong drivers if read after the fact;
- ``rare_event``, a handful of contacts: too few to test;
- the contacts table has ``segment`` (noise) and ``email``, personal, whose
  value says who bought: it must never be read.

The draw is seeded: the same frames every time.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl

STEPS = ["visit", "signup", "purchase"]
WINDOW = "14d"
CHANNELS = ["ads", "organic", "social", "referral", "newsletter", "events", "direct", "video"]
HELPS = {("event", "webinar", None), ("property", "channel", "partner")}
HURTS = {("event", "complaint", None)}
AFTER_THE_FACT = {"receipt_email", "winback_email"}
#: Events as these tests write them: id, time (UTC), name and one property.
EVENT_SCHEMA = {
    "contact_id": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "event": pl.String,
    "channel": pl.String,
}
NOISE = {"blog_read", "faq_view", "pricing_view"}


def planted_log(n: int = 2000, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(events, contacts)`` with the causes above planted."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    rows: list[tuple[str, dt.datetime, str, str | None]] = []
    people: list[tuple[str, str, str]] = []
    for i in range(n):
        contact = f"c{i:05d}"
        t0 = start + dt.timedelta(hours=rng.randrange(0, 24 * 60))
        rows.append((contact, t0, "visit", rng.choice(CHANNELS)))
        segment = rng.choice(["b2b", "b2c"])
        signed = rng.random() < 0.8
        chance = 0.0
        if signed:
            partner = rng.random() < 0.15
            channel = "partner" if partner else rng.choice(CHANNELS)
            rows.append((contact, t0 + dt.timedelta(days=1), "signup", channel))
            chance = 0.6 if partner else 0.3
            if rng.random() < 0.3:
                rows.append((contact, t0 + dt.timedelta(days=1, hours=5), "webinar", None))
                chance = min(0.9, chance + 0.35)
            if rng.random() < 0.2:
                rows.append((contact, t0 + dt.timedelta(days=1, hours=8), "complaint", None))
                chance = 0.05
            for noise in sorted(NOISE):
                if rng.random() < 0.4:
                    later = t0 + dt.timedelta(days=1, hours=rng.randrange(1, 48))
                    rows.append((contact, later, noise, None))
            if rng.random() < 0.003:
                rows.append((contact, t0 + dt.timedelta(days=2), "rare_event", None))
        bought = signed and rng.random() < chance
        if bought:
            at = t0 + dt.timedelta(days=5)
            rows.append((contact, at, "purchase", None))
            rows.append((contact, at + dt.timedelta(hours=1), "receipt_email", None))
        elif signed:
            rows.append((contact, t0 + dt.timedelta(days=20), "winback_email", None))
        email = f"{'buyer' if bought else 'lead'}@example.com"
        people.append((contact, segment, email))
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
    contacts = pl.DataFrame(people, schema=["contact_id", "segment", "email"], orient="row")
    return events, contacts
