"""The ``funnels`` and ``classify`` commands."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from funnelkit.cli import main

EVENTS = """contact_id,occurred_at,event,channel,amount
c1,2026-11-02T09:00:00Z,list_import,referral,
c1,2026-11-03T09:00:00Z,ebook_download,referral,
c2,2026-11-02T10:00:00Z,like,social,
c3,2026-11-04T10:00:00Z,purchase,social,49.5
c3,2026-11-20T10:00:00Z,review,social,
"""
CONTACTS = """contact_id,created_at
c1,2026-11-01T00:00:00Z
c9,2026-11-01T00:00:00Z
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events, contacts = tmp_path / "events.csv", tmp_path / "contacts.csv"
    events.write_text(EVENTS)
    contacts.write_text(CONTACTS)
    return events, contacts


def test_funnels_lists_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["funnels"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inbound: Inbound / content-marketing view")
    assert "\n\nsales: Sales-team view" in out
    assert "  3  warm_lead   Warm lead   ebook_download" in out
    assert "  4  qualified_prospect  Qualified prospect  meeting" in out


def test_funnels_in_french_and_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevents = ["x"]\n')
    assert main(["funnels", "inbound", str(path), "--lang", "fr"]) == 0
    out = capsys.readouterr().out
    assert "Lead chaud" in out and "Client fidèle / ambassadeur" in out
    assert "mine\n  1  a  A  tout événement (stade d'entrée)\n  2  b  B  x" in out
    assert "retour à cold_lead après 90d d'inactivité" in out  # the rules read in French too


def test_funnels_with_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevnts = ["x"]\n')
    assert main(["funnels", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("funnelkit funnels: error: ")
    assert "bad.toml: stage 'b' (#2): key 'evnts' is not a stage key. Did you mean 'events'?" in err


def test_classify_prints_a_summary(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = files
    assert main(["classify", str(events), "--funnel", "inbound"]) == 0
    out, err = capsys.readouterr()
    assert "read 5 rows, none set aside" in err
    lines = out.splitlines()
    assert lines[0] == "funnel inbound (all events): 3 contacts"
    assert lines[2].split() == ["1", "prospect", "0", "3"]
    assert lines[3].split() == ["2", "cold_lead", "1", "3", "100.0%"]
    assert lines[6].split() == ["5", "ambassador", "1", "1", "100.0%"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_classify_writes_one_row_per_contact(
    files: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    events, contacts = files
    out = tmp_path / f"stages{suffix}"
    argv = ["classify", str(events), "--funnel", "sales", "--contacts", str(contacts)]
    argv += ["--as-of", "2026-11-03", "--out", str(out), "--partitions", "2", "--no-pseudonymize"]
    assert main(argv) == 0
    df = pl.read_csv(out, try_parse_dates=True) if suffix == ".csv" else pl.read_parquet(out)
    assert df.columns == [
        "contact_id",
        "stage",
        "stage_rank",
        "raw_contact_at",
        "lead_at",
        "prospect_at",
        "qualified_prospect_at",
        "client_at",
        "last_activity_at",
    ]
    assert df.select("contact_id", "stage", "stage_rank").rows() == [
        ("c1", "lead", 2),
        ("c2", "raw_contact", 1),
        ("c9", "raw_contact", 1),
    ]
    assert df.schema["lead_at"] == pl.Datetime("us", "UTC")
    assert df.schema["stage"] == pl.String  # plain text in the file, not the Enum of classify
    if suffix == ".parquet":  # read by anything as text, not as a dictionary or an extension
        import duckdb
        import pyarrow.parquet as pq

        assert str(pq.read_schema(out).field("stage").type) in ("string", "large_string")
        got = duckdb.sql(f"SELECT typeof(stage), stage FROM '{out}' ORDER BY contact_id").fetchall()
        assert got == [("VARCHAR", "lead"), ("VARCHAR", "raw_contact"), ("VARCHAR", "raw_contact")]
    if suffix == ".csv":  # ISO 8601, UTC, as short as exact
        first = out.read_text().splitlines()[1]
        assert first.endswith("Z") and "T" in first and "+0000" not in first


@pytest.mark.parametrize("flag", [[], ["--pseudonymize"]])
def test_classify_pseudonymizes_exported_ids_by_default(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    monkeypatch.setenv("FUNNELKIT_PSEUDONYM_KEY", "a test key of some length")
    events, _ = files
    out = tmp_path / "stages.csv"
    argv = ["classify", str(events), "--funnel", "sales", "--out", str(out), *flag]
    assert main(argv) == 0
    ids = pl.read_csv(out)["contact_id"].to_list()
    assert len(ids) == 3 and all(i.startswith("p_") for i in ids)
    assert not {"c1", "c2", "c9"} & set(ids)


def test_classify_errors(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = files
    assert main(["classify", str(events), "--funnel", "inbond"]) == 2
    assert "Did you mean 'inbound'?" in capsys.readouterr().err
    assert main(["classify", str(events), "--funnel", "sales", "--out", "x.xlsx"]) == 2
    out, err = capsys.readouterr()
    assert "--out x.xlsx: write .csv or .parquet" in err and "read" not in err
    assert main(["classify", str(events), "--funnel", "sales", "--as-of", "soon"]) == 2
    assert "--as-of='soon' is not a date" in capsys.readouterr().err


def test_classify_partitions_auto_or_a_number(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, _ = files
    assert main(["classify", str(events), "--funnel", "sales", "--partitions", "auto"]) == 0
    assert "funnel sales (all events): 3 contacts" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        main(["classify", str(events), "--funnel", "sales", "--partitions", "four"])
    assert stopped.value.code == 2
    assert "give auto or a whole number, not 'four'" in capsys.readouterr().err
    assert main(["classify", str(events), "--funnel", "sales", "--partitions", "0"]) == 2
    assert "error: --partitions=0: give a whole number, 1 or more" in capsys.readouterr().err
