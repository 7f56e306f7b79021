"""Keyed pseudonymisation of contact ids, and the personal-column guard."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.offline import get_plotlyjs

from funnelkit import report as report_module
from funnelkit.cli import main
from funnelkit.conversion import funnel
from funnelkit.errors import ParameterError, PersonalDataError
from funnelkit.events import read_events
from funnelkit.explorer import explore
from funnelkit.privacy import (
    KEY_ENV,
    KEY_FILE_ENV,
    SAMPLE_ROWS,
    check_breakdown,
    default_key_file,
    judge_breakdown,
    judge_column,
    keep_judgements,
    load_key,
    mask,
    name_tokens,
    personal_values,
    pseudonym,
    pseudonymize,
    pseudonymize_breakdown,
    pseudonymize_columns,
    withhold_personal_columns,
)
from funnelkit.weekly import weekly_metrics

KEY = b"a test key that is long enough"


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's real key and config folder out of every test."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


# --- the pseudonym ------------------------------------------------------------
def test_pseudonym_is_the_truncated_hmac_sha256_of_the_id() -> None:
    digest = hmac.new(KEY, b"c000123", hashlib.sha256).hexdigest()
    assert pseudonym("c000123", key=KEY) == "p_" + digest[:16]


def test_pseudonym_depends_on_the_key() -> None:
    assert pseudonym("c000123", key=KEY) != pseudonym("c000123", key=KEY + b"!")


def test_pseudonym_does_not_contain_the_id() -> None:
    assert "000123" not in pseudonym("c000123", key=KEY)


def test_expression_keeps_nulls_and_maps_equal_ids_to_equal_pseudonyms() -> None:
    df = pl.DataFrame({"contact_id": ["c1", None, "c1", "c2"]})
    out = df.select(pseudonymize("contact_id", key=KEY))["contact_id"].to_list()
    assert out[1] is None
    assert out[0] == out[2] == pseudonym("c1", key=KEY)
    assert out[3] == pseudonym("c2", key=KEY)


def test_expression_works_lazily_and_on_non_string_ids() -> None:
    lf = pl.LazyFrame({"id": [1, 2, 1]})
    out = lf.select(pseudonymize(pl.col("id"), key=KEY)).collect()["id"].to_list()
    assert out == [pseudonym("1", key=KEY), pseudonym("2", key=KEY), pseudonym("1", key=KEY)]


def test_pseudonymize_columns_replaces_only_the_named_columns() -> None:
    df = pl.DataFrame({"contact_id": ["c1"], "referrer": ["c2"], "stage": ["lead"]})
    out = pseudonymize_columns(df, ["contact_id", "referrer"], key=KEY)
    assert out.row(0) == (pseudonym("c1", key=KEY), pseudonym("c2", key=KEY), "lead")


def test_pseudonymize_columns_names_a_missing_column() -> None:
    with pytest.raises(ParameterError, match=r"columns: 'contactid' is not in the table"):
        pseudonymize_columns(pl.DataFrame({"contact_id": ["c1"]}), ["contactid"], key=KEY)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=12)), max_size=30))
def test_expression_matches_a_per_value_reference(ids: list[str | None]) -> None:
    df = pl.DataFrame({"contact_id": ids}, schema={"contact_id": pl.String})
    out = df.select(pseudonymize("contact_id", key=KEY))["contact_id"].to_list()
    assert out == [None if v is None else pseudonym(v, key=KEY) for v in ids]


# --- the key ------------------------------------------------------------------
def test_key_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEY_ENV, "  environment key, long enough  ")
    assert load_key(key_file=tmp_path / "unused.key") == b"environment key, long enough"
    assert not (tmp_path / "unused.key").exists()


def test_a_short_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ParameterError, match=rf"{KEY_ENV} holds 5 character\(s\)"):
        load_key()


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "pseudonym.key"
    first = load_key(key_file=path)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert load_key(key_file=path) == first  # stable across runs


def test_default_key_file_lives_in_the_config_folder(tmp_path: Path) -> None:
    assert default_key_file() == tmp_path / "config" / "funnelkit" / "pseudonym.key"
    key = load_key()
    assert default_key_file().read_text().strip().encode() == key


def test_key_file_path_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "elsewhere.key"))
    load_key()
    assert (tmp_path / "elsewhere.key").is_file()


def test_missing_key_file_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"key_file: .*missing.key does not exist"):
        load_key(key_file=tmp_path / "missing.key", create=False)


def test_empty_key_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.key"
    path.write_text("\n")
    with pytest.raises(ParameterError, match=r"key_file: .*empty.key holds a key of 0"):
        load_key(key_file=path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.key"
    path.write_text("x" * 64)
    path.chmod(0)
    with pytest.raises(ParameterError, match=r"key_file: cannot read"):
        load_key(key_file=path)


def test_the_same_key_gives_the_same_pseudonyms_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    ids = pl.DataFrame({"contact_id": ["c000001", "c000002"]})
    first = pseudonymize_columns(ids, key=load_key(key_file=path))
    second = pseudonymize_columns(ids, key=load_key(key_file=path))
    assert first.equals(second)


# --- personal columns: by name ----------------------------------------------------
PERSONAL_NAMES = [
    "Email", "E-Mail", "email", "e_mail", "eMail", "EmailAddress", "courriel", "Courriel",
    "mail_pro", "Mél", "correo_electronico", "mailadres", "Téléphone", "tel_mobile", "num_tel",
    "PhoneNumber", "telefono", "Telefonnummer", "telefoon", "Handy", "cellulare", "portable",
    "Mobile", "fax", "Nom", "prénom", "name", "Name", "first_name", "FirstName", "full_name",
    "nom_client", "nom_de_famille", "contact_name", "username", "nombre", "apellido",
    "Vorname", "Nachname", "cognome", "nome", "naam", "voornaam", "achternaam", "sobrenome",
    "adresse", "direccion", "Straße", "street", "rue", "indirizzo", "endereco", "anschrift",
    "date_naissance", "birth_date", "Geburtsdatum", "geboortedatum", "dob", "iban", "ssn",
    "nir", "numero_secu", "codice_fiscale", "ip_address", "contact_id", "user_id",
    "customerId", "id_client", "Nom complet", "NomComplet", "vollständiger Name",
    "volledige naam", "Name des Kunden", "Kundenname", "Benutzername", "gebruikersnaam",
    "klantnaam", "Handynummer", "Mobilnummer", "Rufnummer",
]  # fmt: skip
USUAL_BREAKDOWNS = [
    "channel", "campaign", "source", "segment", "country", "domain", "utm_medium",
    "utm_source", "utm_campaign", "event", "company_size", "plan_name", "campaign_name",
    "company_name", "nom_campagne", "email_campaign", "email_domain", "is_mobile", "phone_type",
    "device", "stage", "city", "industry", "language", "referrer", "landing_page", "hotel",
    "account_id", "order_id", "product_name", "medium",
]  # fmt: skip


@pytest.mark.parametrize("name", PERSONAL_NAMES)
def test_personal_column_names_are_caught_in_any_spelling_and_language(name: str) -> None:
    judged = judge_column(name)
    assert judged.personal and judged.rule == "name", name
    assert judged.reason


@pytest.mark.parametrize("name", USUAL_BREAKDOWNS)
def test_usual_breakdown_columns_are_not_personal(name: str) -> None:
    assert not judge_column(name), judge_column(name).reason


def test_name_tokens_strip_accents_case_camel_case_and_separators() -> None:
    assert name_tokens("Téléphone_Mobile") == ("telephone", "mobile")
    assert name_tokens("eMail-Pro") == ("e", "mail", "pro")
    assert name_tokens("customerID.v2") == ("customer", "id", "v2")
    assert name_tokens("Straße Nr") == ("strasse", "nr")
    assert name_tokens("__") == ()


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_SEP = st.sampled_from(["_", "-", ".", " ", "__", " - "])


@settings(max_examples=200, deadline=None)
@given(words=st.lists(_WORD, min_size=1, max_size=4), sep=_SEP)
def test_name_tokens_are_the_words_whatever_the_separator(words: list[str], sep: str) -> None:
    assert name_tokens(sep.join(words)) == tuple(words)
    assert name_tokens(sep.join(w.upper() for w in words)) == tuple(words)


_ACCENTS = str.maketrans("eEaAcCiIoOuU", "éÉàÀçÇîÎôÔüÜ")


@settings(max_examples=200, deadline=None)
@given(
    word=st.sampled_from(["email", "courriel", "telephone", "prenom", "vorname", "iban"]),
    other=st.sampled_from(["", "pro", "perso", "2", "principal", "work", "contact"]),
    sep=_SEP,
    style=st.sampled_from(["lower", "upper", "title", "accents"]),
    first=st.booleans(),
)
def test_a_personal_word_is_caught_in_any_case_accent_and_company(
    word: str, other: str, sep: str, style: str, first: bool
) -> None:
    styled = {
        "lower": word,
        "upper": word.upper(),
        "title": word.title(),
        "accents": word.translate(_ACCENTS),
    }[style]
    parts = [styled, other] if first else [other, styled]
    name = sep.join(p for p in parts if p)
    assert judge_column(name).rule == "name", name


# --- personal columns: by values ----------------------------------------------------
def _log(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({"contact_id": [f"c{i:06d}" for i in range(n)], **columns})


@pytest.mark.parametrize("lazy", [False, True])
def test_a_segment_column_holding_e_mails_is_caught_with_a_masked_example(lazy: bool) -> None:
    frame = _log(segment=["accueil@domaine.fr"] * 30 + ["b2b"] * 70)
    judged = judge_column("segment", frame.lazy() if lazy else frame)
    assert judged.personal and judged.rule == "email"
    assert judged.example == "a***@d***.fr"
    assert "30 of 100 sampled values look like e-mail addresses" in judged.reason
    assert "accueil" not in judged.reason


def test_a_column_equal_to_the_contact_ids_is_caught() -> None:
    frame = _log(segment=["x"] * 10)
    frame = frame.with_columns(segment=pl.col("contact_id"))
    judged = judge_column("segment", frame)
    assert (judged.rule, judged.example) == ("contact_id", "c***")


def test_a_column_of_other_contacts_ids_is_caught() -> None:
    frame = _log(referred=[None] * 10).with_columns(referred=pl.col("contact_id").reverse())
    assert judge_column("referred", frame).rule == "contact_id"


@pytest.mark.parametrize(
    "phone", ["+33 6 12 34 56 78", "06.12.34.56.78", "0033612345678", "+4915112345678"]
)
def test_a_column_of_phone_numbers_is_caught(phone: str) -> None:
    judged = judge_column("segment", _log(segment=[phone] * 5 + ["b2c"] * 5))
    assert judged.rule == "phone"
    assert "12 34" not in str(judged.example)


@pytest.mark.parametrize(
    "values",
    [
        ["b2b", "b2c"] * 50,
        ["2026-09-01", "01/09/2026"] * 50,
        ["social_instagram_stories", "paid_ads", "newsletter"] * 30,
        ["gmail.com", "orange.fr"] * 10,
        [1, 2, 3, 4] * 25,
        ["p_0123456789abcdef"] * 10,
    ],
)
def test_ordinary_values_are_not_personal(values: list[object]) -> None:
    assert not judge_column("segment", _log(segment=values))


def test_judging_values_reads_only_the_start_of_a_scanned_file(tmp_path: Path) -> None:
    # A row far past the sample would make polars fail if the whole file were read.
    path = tmp_path / "events.csv"
    rows = [f"c{i},b2b" for i in range(SAMPLE_ROWS + 300_000)]
    path.write_text("contact_id,segment\n" + "\n".join(rows) + "\nbroken,row,extra\n")
    with pytest.raises(pl.exceptions.ComputeError):
        pl.scan_csv(path).collect()
    assert not judge_column("segment", pl.scan_csv(path))


def test_mask_hides_most_of_a_value() -> None:
    assert mask("accueil@domaine.fr") == "a***@d***.fr"
    assert mask("+33 6 12 34 56 78") == "+3***78"
    assert mask("Jeanne") == "J***"


# --- the breakdown policy -----------------------------------------------------------
def test_a_personal_breakdown_is_refused_naming_column_reason_and_way_out() -> None:
    frame = _log(segment=["accueil@domaine.fr"] * 10)
    with pytest.raises(
        PersonalDataError,
        match=r"--by: the column 'segment' holds personal data \(10 of 10 sampled values look "
        r"like e-mail addresses, e\.g\. a\*\*\*@d\*\*\*\.fr\).*pass --allow-personal",
    ):
        check_breakdown("segment", [frame], option="--by")
    with pytest.raises(PersonalDataError, match=r"^by: .*'Courriel'.*allow_personal=True"):
        check_breakdown("Courriel")
    assert issubclass(PersonalDataError, ParameterError)


def _late_inbox(tmp_path: Path) -> Path:
    """Events whose ``utm_content`` holds shared inboxes only past the judged sample."""
    lines = ["contact_id,occurred_at,event,utm_content"]
    for i in range(SAMPLE_ROWS + 3_000):
        value = "banner" if i < SAMPLE_ROWS else ("accueil@mairie.fr", "contact@shop.fr")[i % 2]
        lines.append(f"c{i:06d},2026-10-01T10:00:00Z,page_view,{value}")
        lines.append(f"c{i:06d},2026-10-01T11:00:00Z,signup,{value}")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_breakdown_is_refused_when_a_frequent_value_is_an_e_mail_past_the_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _late_inbox(tmp_path)
    assert not judge_column("utm_content", pl.scan_csv(path))  # the bounded sample sees none
    with pytest.raises(PersonalDataError, match=r"'utm_content'.*most frequent values.*a\*\*\*@m"):
        check_breakdown("utm_content", [pl.scan_csv(path)])
    rare = pl.DataFrame({"segment": ["b2b"] * 100_000 + ["ops@example.com"] * 2_000})
    assert not judge_column("segment", rare)  # 2% of rows: under the share rule
    with pytest.raises(PersonalDataError, match=r"'segment'"):
        check_breakdown("segment", [rare])
    assert main(["funnel", str(path), "--steps", "page_view,signup", "--by", "utm_content"]) == 2
    out, err = capsys.readouterr()
    assert "@" not in out and "accueil" not in err


def test_frequent_values_are_counted_as_text_stripped_of_spaces() -> None:
    # Two spellings of one address, each rarer than the 150 usual values, together more frequent
    values = [f"desk{i}" for i in range(150) for _ in range(3)] + ["ops@x.fr", " ops@x.fr "] * 2
    desks = pl.DataFrame({"desk": values})
    assert not judge_column("desk", desks)  # 4 rows in 454: under the share rule
    judged = judge_breakdown("desk", desks)
    assert judged.rule == "email" and judged.example == "o***@x***.fr"


def test_a_kept_frame_is_judged_once_and_its_verdict_served_again() -> None:
    reads: list[int] = []

    def counted(values: pl.Series) -> pl.Series:
        reads.append(len(values))
        return values

    rows = pl.LazyFrame({"desk": ["b2b"] * 500 + ["accueil@mairie.fr"] * 5}).select(
        pl.col("desk").map_batches(counted, return_dtype=pl.String)
    )
    keep_judgements(rows)
    first = judge_breakdown("desk", rows)
    assert first.rule == "email" and reads
    read = len(reads)
    assert judge_breakdown("desk", rows) == first
    assert len(reads) == read  # not read again
    with pytest.raises(PersonalDataError, match=r"'desk'"):
        check_breakdown("desk", [rows])
    assert len(reads) == read


def test_a_frame_not_kept_is_judged_again_after_it_changes_in_place() -> None:
    desks = pl.DataFrame({"desk": ["b2b"] * 500, "n": range(500)})
    assert not judge_breakdown("desk", desks)
    desks.replace_column(0, pl.Series("desk", ["b2b"] * 495 + ["accueil@mairie.fr"] * 5))
    assert judge_breakdown("desk", desks).rule == "email"


def test_kept_verdicts_go_with_their_frame_and_never_serve_another() -> None:
    # Frames made and freed in turn often reuse one another's address (``id``).
    for turn in range(40):
        inbox = turn % 2 == 1
        desks = pl.DataFrame({"desk": ["b2b"] * 500 + ["a@b.fr" if inbox else "b2c"] * 5})
        keep_judgements(desks)
        assert bool(judge_breakdown("desk", desks)) is inbox, turn
        del desks
    events = pl.DataFrame(
        {"contact_id": ["a"] * 200, "occurred_at": ["2026-11-02"] * 200, "event": ["view"] * 200}
    )
    for turn in range(10):
        inbox = turn % 2 == 1
        log = read_events(events.with_columns(desk=pl.lit("a@b.fr" if inbox else "b2c")))
        assert log.held == "memory"
        assert bool(judge_breakdown("desk", log)) is inbox, turn
        del log


def test_only_a_polars_frame_or_a_validated_table_can_be_kept() -> None:
    for other in ({"desk": ["b2b"]}, [1, 2], None):
        with pytest.raises(ParameterError, match="polars frame, an EventLog or a ContactTable"):
            keep_judgements(other)


def test_an_allowed_personal_breakdown_is_pseudonymised_and_others_are_left_alone() -> None:
    events = _log(Courriel=["ana@ex.fr", "bo@ex.fr"], channel=["social", "ads"])
    contacts = pl.DataFrame({"contact_id": ["c000000"], "segment": ["b2b"]})
    same, people = pseudonymize_breakdown(events, contacts, "channel", key=KEY)
    assert same is events and people is contacts
    out, people = pseudonymize_breakdown(events, contacts, "Courriel", allow_personal=True, key=KEY)
    assert isinstance(out, pl.LazyFrame) and people is contacts
    assert out.collect()["Courriel"].to_list() == [
        pseudonym("ana@ex.fr", key=KEY),
        pseudonym("bo@ex.fr", key=KEY),
    ]


def test_a_personal_column_of_an_engine_table_is_refused_even_when_allowed() -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    rel = con.sql("select 'c1' as contact_id, 'ana@ex.fr' as segment")
    with pytest.raises(PersonalDataError, match=r"e-mail addresses.*only be pseudonymised"):
        check_breakdown("segment", [rel], allow_personal=True)
    with pytest.raises(PersonalDataError, match=r"e-mail addresses.*allow_personal=True"):
        check_breakdown("segment", [rel])


def test_funnel_on_a_duckdb_table_refuses_a_personal_breakdown() -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    events = _shared_inbox_events()  # noqa: F841 (read by DuckDB's replacement scan)
    rel = con.sql("select * from events")
    with pytest.raises(PersonalDataError, match=r"^by: the column 'team' .*e-mail addresses"):
        funnel(rel, ["page_view", "purchase"], window="7d", by="team")
    with pytest.raises(PersonalDataError, match=r"only be pseudonymised in polars"):
        funnel(rel, ["page_view", "purchase"], window="7d", by="Courriel", allow_personal=True)


# --- the guard where a breakdown is chosen --------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
INBOXES = ["accueil@domaine.fr", "contact@societe.com", "info@boutique.fr"]
E_MAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def _shared_inbox_events() -> pl.DataFrame:
    """Six contacts, three shared inboxes: segments big enough to be shown by inbox."""
    rows = []
    for i in range(60):
        contact, inbox = f"c{i:06d}", INBOXES[i % 3]
        rows.append((contact, f"2026-09-{1 + i % 20:02d}T09:00:00Z", "page_view", inbox))
        if i % 2:
            rows.append((contact, f"2026-09-{2 + i % 20:02d}T09:00:00Z", "purchase", inbox))
    return pl.DataFrame(
        rows, schema=["contact_id", "occurred_at", "event", "Courriel"], orient="row"
    ).with_columns(
        pl.col("occurred_at").str.to_datetime(time_zone="UTC"),
        team=pl.col("Courriel"),
        amount=pl.lit(None, pl.Float64),
    )


def test_funnel_refuses_a_personal_breakdown_by_name_or_by_values() -> None:
    events = _shared_inbox_events()
    with pytest.raises(PersonalDataError, match=r"^by: the column 'Courriel' holds personal"):
        funnel(events, ["page_view", "purchase"], window="7d", by="Courriel")
    with pytest.raises(PersonalDataError, match=r"^by: the column 'team' .*e-mail addresses"):
        funnel(events, ["page_view", "purchase"], window="7d", by="team")


def test_an_allowed_personal_breakdown_counts_the_same_people_under_pseudonyms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    events = _shared_inbox_events()
    shown = funnel(events, ["page_view", "purchase"], window="7d", by="team", allow_personal=True)
    assert shown.breakdown is not None
    hidden = events.with_columns(team=pl.col("team").str.replace("@", " at "))
    plain = funnel(hidden, ["page_view", "purchase"], window="7d", by="team")
    assert plain.breakdown is not None
    labels = {v.replace("@", " at "): pseudonym(v, key=KEY) for v in INBOXES}
    expected = plain.breakdown.with_columns(pl.col("segment").replace_strict(labels))
    assert shown.breakdown.sort("segment", "step").equals(expected.sort("segment", "step"))
    assert "@" not in json.dumps(shown.to_dict())


def test_weekly_metrics_refuses_a_personal_breakdown_before_computing() -> None:
    with pytest.raises(PersonalDataError, match=r"^breakdown: the column 'Courriel'"):
        weekly_metrics(_shared_inbox_events(), "inbound", week="2026-W38", breakdown="Courriel")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, KEY_ENV: KEY.decode()},
    )


@pytest.mark.parametrize(
    ("column", "why"),
    [("Courriel", r"its name contains 'courriel'"), ("team", r"90 of 90 sampled values look like")],
)
def test_cli_funnel_by_a_personal_column_exits_2_with_one_line(
    tmp_path: Path, column: str, why: str
) -> None:
    path = tmp_path / "events.csv"
    _shared_inbox_events().write_csv(path)
    done = _cli("funnel", str(path), "--steps", "page_view,purchase", "--by", column)
    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1
    assert re.search(
        rf"^funnelkit funnel: error: --by: the column '{column}' holds personal data \({why}"
        r".*pass --allow-personal",
        errors[0],
    ), errors[0]


def test_cli_funnel_allow_personal_prints_pseudonyms_not_addresses(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    _shared_inbox_events().write_csv(path)
    done = _cli(
        "funnel", str(path), "--steps", "page_view,purchase", "--by", "Courriel",
        "--allow-personal", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "@" not in done.stdout
    segments = {row["value"] for row in json.loads(done.stdout)["segments"]}
    assert segments == {pseudonym(v, key=KEY) for v in INBOXES}


def _personal_contacts(tmp_path: Path) -> tuple[Path, Path]:
    """The sample, its contacts' e-mails under ``Courriel``, b2b ones at a shared inbox."""
    contacts = pl.read_csv(SAMPLE / "contacts.csv").with_columns(
        Courriel=pl.when(pl.col("segment") == "b2b")
        .then(pl.lit(INBOXES[0]))
        .otherwise(pl.col("email"))
    )
    path = tmp_path / "contacts.csv"
    contacts.drop("email").write_csv(path)
    return SAMPLE / "events.csv", path


@pytest.mark.parametrize("option", ["--by", "--breakdown"])
def test_report_by_a_personal_column_fails_before_any_kernel_writing_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    def no_kernel(*args: object) -> None:
        msg = "a kernel was started for a personal breakdown"
        raise AssertionError(msg)

    monkeypatch.setattr(report_module, "_execute", no_kernel)
    events, contacts = _personal_contacts(tmp_path)
    out = tmp_path / "reports"
    args = ["report", "--events", str(events), "--contacts", str(contacts), "--out", str(out)]
    assert main([*args, option, "Courriel"]) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"funnelkit report: error: --breakdown: the column 'Courriel' holds personal data "
        r"\(its name contains 'courriel'.*--allow-personal",
        err,
    ), err
    assert "@" not in err
    assert not out.exists()


def test_contacts_table_drops_columns_personal_by_name_or_values() -> None:
    frame = pl.DataFrame(
        {
            "contact_id": ["c000001", "c000002"],
            "Courriel": ["ann@example.org", "bob@example.org"],
            "Nom": ["Ann", "Bob"],
            "team": ["accueil@domaine.fr", "accueil@domaine.fr"],
            "Téléphone": ["0612345678", "0698765432"],
            "idle_days": [3, 4],
        }
    )
    shown = report_module.contacts_table(frame, key=KEY).data
    assert not E_MAIL.search(shown) and ">Ann<" not in shown and "0612345678" not in shown
    assert "idle_days" in shown or "Days without activity" in shown


# --- tables of individual contacts: one personal value is enough ---------------
def _ten(value: object, at: int = 9, size: int = 10) -> pl.DataFrame:
    """A contact-level table whose ``note`` column holds ``value`` on one row only."""
    notes: list[object] = ["call back"] * size
    notes[at] = value
    return _log(note=notes, idle_days=list(range(size)))


@pytest.mark.parametrize(
    ("value", "rule", "size"),
    [
        ("+33 6 12 34 56 78", "phone", 10),
        ("06.12.34.56.78", "phone", 10),
        ("ann@example.org", "email", 10),
        ("ann@example.org", "email", 30),
        ("c000003", "contact_id", 10),
    ],
)
def test_one_personal_value_among_the_rows_makes_a_contact_column_personal(
    value: str, rule: str, size: int
) -> None:
    frame = _ten(value, size=size)
    judged = personal_values(frame, "note")
    assert (judged.personal, judged.rule) == (True, rule)
    assert f"1 of {size} values" in judged.reason
    assert value not in judged.reason and value != judged.example
    assert personal_values(frame.lazy(), "note").rule == rule


def test_the_sampled_shares_still_let_one_phone_or_id_pass_in_a_breakdown() -> None:
    # Breakdowns keep their shares: one phone or one id among ten is not a segment.
    assert not judge_breakdown("note", _ten("+33 6 12 34 56 78"))
    assert not judge_breakdown("note", _ten("c000003"))


@pytest.mark.parametrize(
    "values",
    [
        ["call back", "b2b", None],
        ["2026-09-01", "01/09/2026", "2026.09.01"],
        ["gmail.com", "orange.fr", "p_0123456789abcdef"],
    ],
)
def test_ordinary_contact_values_are_not_personal(values: list[object]) -> None:
    assert not personal_values(_log(note=values), "note")


def test_the_follow_up_table_keeps_its_own_columns_even_with_numeric_ids() -> None:
    moment = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    stalled = pl.DataFrame(
        {
            "contact_id": [str(i) for i in range(1, 11)],
            "stage": ["warm_lead"] * 10,
            "reached_at": [moment] * 10,
            "last_activity_at": [moment] * 10,
            "idle_days": list(range(1, 11)),
            "account": [100_000 + i for i in range(10)],
        }
    )
    shown, note = withhold_personal_columns(stalled)
    assert (shown.columns, note) == (stalled.columns, "")
    referrer = stalled.with_columns(referrer=pl.lit(None, pl.Int64), contact_id=pl.col("account"))
    referrer = referrer.with_columns(pl.col("contact_id").cast(pl.String), referrer=100_004)
    assert personal_values(referrer, "referrer").rule == "contact_id"


def test_withheld_columns_are_named_in_the_note_without_their_values() -> None:
    frame = _ten("+33 6 12 34 56 78").with_columns(
        Nom=pl.lit("Ann"), desk=pl.Series(["b2b"] * 9 + ["ann@example.org"])
    )
    shown, note = withhold_personal_columns(frame)
    assert shown.columns == ["contact_id", "idle_days"]
    assert note == (
        "Columns withheld as personal data: note (a phone number), Nom (by its name), "
        "desk (an e-mail address)."
    )
    _, note_fr = withhold_personal_columns(frame, lang="fr")
    assert note_fr.startswith("Colonnes masquées (données personnelles) : note (un numéro")
    kept, none = withhold_personal_columns(_log(note=["b2b"]))
    assert kept.equals(_log(note=["b2b"])) and none == ""


def test_contacts_table_reads_values_inside_lists_structs_bytes_and_categories() -> None:
    frame = pl.DataFrame(
        {
            "contact_id": ["c000001", "c000002"],
            "tags": [["b2b"], ["vip", "ann@example.org"]],
            "meta": [{"line": "+33 6 12 34 56 78"}, {"line": None}],
            "raw": [b"bob@example.org", b"\xff"],
            "desk": ["c000002", "b2b"],
            "wait": [dt.timedelta(days=3), dt.timedelta(days=4)],
            "kind": [["a", "b"], ["c", "d"]],
        },
        schema_overrides={"desk": pl.Categorical, "kind": pl.Array(pl.String, 2)},
    )
    shown, note = withhold_personal_columns(frame)
    assert shown.columns == ["contact_id", "wait", "kind"]
    assert "tags (an e-mail address), meta (a phone number), raw (an e-mail address)" in note
    html = report_module.contacts_table(frame, key=KEY).data
    assert not E_MAIL.search(html) and "12 34" not in html and "c000002" not in html


def test_the_note_under_a_contacts_table_escapes_the_column_names() -> None:
    frame = pl.DataFrame({"contact_id": ["c000001"], "<b>desk</b>": ["ann@example.org"]})
    html = report_module.contacts_table(frame, key=KEY).data
    assert "&lt;b&gt;desk&lt;/b&gt; (an e-mail address)" in html and "<b>" not in html


def test_contact_columns_need_a_known_column_and_language() -> None:
    with pytest.raises(ParameterError, match=r"column: 'nope' is not in the table"):
        personal_values(_log(note=["b2b"]), "nope")
    with pytest.raises(ParameterError, match=r"lang: expected 'en' or 'fr', got 'de'"):
        withhold_personal_columns(_log(note=["b2b"]), lang="de")


def test_cli_classify_out_writes_no_contact_attribute(tmp_path: Path) -> None:
    # The one contact-level file the CLI writes by default: stages and times only.
    out = tmp_path / "stages.csv"
    contacts = SAMPLE / "contacts.csv"
    done = _cli(
        "classify", str(SAMPLE / "events.csv"), "--contacts", str(contacts),
        "--funnel", "inbound", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = pl.read_csv(out)
    people = pl.read_csv(contacts)
    assert not {"email", "name", "segment", "source", "country"} & set(written.columns)
    assert withhold_personal_columns(written)[1] == ""
    text = out.read_text(encoding="utf-8")
    assert "@" not in text and people["contact_id"][0] not in text


def test_the_explorer_does_not_offer_personal_columns() -> None:
    events = _shared_inbox_events()
    contacts = pl.DataFrame(
        {
            "contact_id": events["contact_id"].unique(maintain_order=True),
            "segment": ["b2b", "b2c"] * 30,
            "Téléphone": ["0612345678", "0698765432", "0611111111"] * 20,
        }
    )
    app = explore(events, contacts)
    options = [value for _, value in app.breakdown.options]
    assert "segment" in options
    assert not {"Courriel", "team", "Téléphone"} & set(options)


@pytest.mark.slow
def test_report_allowed_to_break_down_by_courriel_prints_no_address(tmp_path: Path) -> None:
    events, contacts = _personal_contacts(tmp_path)
    out = tmp_path / "reports"
    done = _cli(
        "report", "--events", str(events), "--contacts", str(contacts), "--out", str(out),
        "--week", "2026-W47", "--by", "Courriel", "--allow-personal", "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    emails = pl.read_csv(contacts)["Courriel"].drop_nulls().unique().to_list()
    metrics = (out / "2026-W47" / "metrics.json").read_text(encoding="utf-8")
    assert "@" not in metrics
    assert pseudonym(INBOXES[0], key=KEY) in metrics  # the shared inbox is a shown segment
    library = set(E_MAIL.findall(get_plotlyjs()))  # its authors' addresses, in its licence
    for name in ("report.html", "report.ipynb", "metrics.json"):
        text = (out / "2026-W47" / name).read_text(encoding="utf-8")
        assert not [e for e in emails if e in text], name
        assert not set(E_MAIL.findall(text)) - library, name


def test_a_breakdown_is_one_column_named_as_text() -> None:
    from funnelkit.privacy import check_breakdown

    with pytest.raises(ParameterError, match=r"by: give one column name as text .*\['channel'\]"):
        check_breakdown(["channel"])  # type: ignore[arg-type]
