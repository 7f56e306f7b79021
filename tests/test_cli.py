"""The command line: shared reading options and the validate command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from funnelkit.cli import main

CSV = """user,ts,event
c1,2026-11-02T09:00:00Z,page_view
c1,2026-11-02T09:00:00Z,page_view
,2026-11-02T10:00:00Z,like
c2,someday,like
"""


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    return path


def events_csv(tmp_path: Path, text: str) -> Path:
    """Write ``text`` as the events file ``e.csv`` of a test; return its path."""
    path = tmp_path / "e.csv"
    path.write_text(text)
    return path


def test_validate_reports_set_aside_rows_on_stderr(
    messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "read 4 rows, kept 1, set aside 3" in err
    assert "duplicate" in err and "bad_timestamp" in err and "null_contact_id" in err
    assert "3 rows set aside" in out


def test_validate_clean_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event\nc1,2026-11-02,like\n")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "none set aside" in err and "all rows usable" in out


def test_validate_writes_set_aside_rows_ids_pseudonymised(messy: Path, tmp_path: Path) -> None:
    from funnelkit.privacy import load_key, pseudonym

    out = tmp_path / "aside.parquet"
    mapped = ["--columns", "user=contact_id,ts=occurred_at", "--out", str(out)]
    assert main(["validate", str(messy), *mapped]) == 1
    df = pl.read_parquet(out).sort("row")
    assert sorted(df["reason"].to_list()) == ["bad_timestamp", "duplicate", "null_contact_id"]
    assert main(["validate", str(messy), *mapped, "--no-pseudonymize"]) == 1
    raw = pl.read_parquet(out).sort("row")
    assert raw.drop("contact_id").equals(df.drop("contact_id"))
    ids = raw["contact_id"].to_list()
    key = load_key()
    assert None in ids
    assert df["contact_id"].to_list() == [i and pseudonym(i, key=key) for i in ids]


def test_errors_are_one_line_on_stderr_with_exit_2(
    messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(messy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("funnelkit validate: error: ")
    assert "'contact_id'" in err and "--columns" in err
    assert "Traceback" not in err


def test_strict_mode_fails_naming_rows(messy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at", "--strict"])
    assert code == 2
    assert "row 4 ('someday')" in capsys.readouterr().err


def test_bad_mapping_option(messy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(messy), "--columns", "user"]) == 2
    assert "--columns: 'user'" in capsys.readouterr().err


def test_console_script_runs_as_a_real_process(messy: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "funnelkit.cli", "validate", str(messy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


DAY_FIRST = """contact_id;occurred_at;event
c1;06/07/2026 01:10;form_fill
c2;13/07/2026 14:05;meeting
"""


def test_unreadable_timestamps_get_a_format_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day_first.csv"
    path.write_text(DAY_FIRST)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "hint: timestamps such as '06/07/2026 01:10' (row 1)" in err
    assert "--timestamp-format '%d/%m/%Y %H:%M'" in err
    # With the format, everything is kept.
    assert main(["validate", str(path), "--timestamp-format", "%d/%m/%Y %H:%M"]) == 0


def test_a_date_the_given_format_cannot_read_is_not_told_to_give_a_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day_first.csv"
    path.write_text(DAY_FIRST + "c3;31/11/2026 08:00;meeting\n")  # no 31 November
    assert main(["validate", str(path), "--timestamp-format", "%d/%m/%Y %H:%M"]) == 1
    err = capsys.readouterr().err
    assert "timestamps such as '31/11/2026 08:00' (row 3) do not match" in err
    assert "--timestamp-format '%d/%m/%Y %H:%M'" in err and "each date exists" in err
    assert "give their format" not in err


@pytest.mark.parametrize("command", [["classify", "--funnel", "sales"], ["funnel", "--steps", "a"]])
def test_no_usable_row_is_an_error_not_an_empty_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = tmp_path / "day_first.csv"
    path.write_text(DAY_FIRST)
    assert main([command[0], str(path), *command[1:]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"funnelkit {command[0]}: error: {path}: none of the 2 rows is usable")
    assert "(2 bad_timestamp)" in last and "--timestamp-format '%d/%m/%Y %H:%M'" in last


def test_misspelt_event_names_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(
        tmp_path,
        "contact_id,occurred_at,event\nc1,2026-11-02,page_view\nc1,2026-11-03,ebook_download\n",
    )
    assert main(["funnel", str(path), "--steps", "page_view,ebok_download|nope"]) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: step 2 reads the event 'ebok_download', which {path} never holds; "
        "it counts nothing. Did you mean 'ebook_download'?"
    ) in err
    assert "'nope'" in err and "'page_view'" not in err
    # printed once: the library's UnknownEventWarning of the same name is not shown again
    assert err.count("'ebok_download'") == 1 and "UnknownEventWarning" not in err


def test_as_of_outside_the_events_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event,amount\nc1,2026-11-02,form_fill,\n")
    assert main(["classify", str(path), "--funnel", "sales", "--as-of", "2030-01-01"]) == 0
    err = capsys.readouterr().err
    assert "--as-of 2030-01-01 is 1,156 days after the last event (2026-11-02 00:00 UTC)" in err
    assert main(["classify", str(path), "--funnel", "sales", "--as-of", "2020-01-01"]) == 0
    err = capsys.readouterr().err
    assert "warning: --as-of 2020-01-01 is before the first event (2026-11-02 00:00 UTC)" in err
    assert main(["classify", str(path), "--funnel", "sales", "--as-of", "2026-11-02"]) == 0
    assert "--as-of" not in capsys.readouterr().err
    # every command reading --as-of warns alike
    paths = ["paths", str(path), "--funnel", "inbound", "--as-of", "2020-01-01"]
    assert main(paths) == 0
    assert "warning: --as-of 2020-01-01 is before the first event" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["funnel", "drivers", "paths"])
def test_a_span_without_any_event_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = events_csv(
        tmp_path, "contact_id,occurred_at,event\nc1,2026-11-02,page_view\nc1,2026-11-03,purchase\n"
    )
    steps = [command, str(path), "--steps", "page_view,purchase"]
    empty = 2 if command == "drivers" else 0  # drivers: "no leak to explain" (one line)
    assert main([*steps, "--since", "2030-01-01"]) == empty
    err = capsys.readouterr().err
    assert "warning: --since 2030-01-01 is after the last event (2026-11-03 00:00 UTC)" in err
    assert main([*steps, "--until", "2026-11-02"]) == empty
    err = capsys.readouterr().err
    assert "warning: --until 2026-11-02 is not after the first event (2026-11-02 00:00 UTC)" in err
    main([*steps, "--since", "2026-11-02", "--until", "2026-11-03T12:00"])
    assert "warning" not in capsys.readouterr().err


def test_an_empty_amount_column_read_as_text_still_classifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event,amount\nc1,2026-11-02,purchase,\n")
    assert main(["classify", str(path), "--funnel", "sales"]) == 0
    out = capsys.readouterr().out
    assert "1 contacts" in out


def test_text_in_a_number_column_names_the_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(
        tmp_path,
        "contact_id,occurred_at,event,amount\n"
        "c1,2026-11-02T10:00:00Z,purchase,12.5\n"
        "c2,2026-11-03T11:30:00Z,purchase,n/a\n"
        "c3,2026-11-04T09:00:00Z,purchase,\n",
    )
    for command in (["classify", "--funnel", "sales"], ["funnel", "--funnel", "sales"]):
        assert main([command[0], str(path), *command[1:]]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last == (
            f"funnelkit {command[0]}: error: funnel 'sales' compares column 'amount' with "
            "numbers, but 1 of its values is not a number: 'n/a' (contact c2, 2026-11-03 11:30)."
            " Clean them in the export (decimals with a point, no thousands separator, unknown "
            "amounts left empty) and read the events again."
        )


def test_an_empty_parquet_file_is_refused_not_a_list_of_misspelt_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.parquet"
    schema = {"contact_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"), "event": pl.String}
    pl.DataFrame(schema=schema).write_parquet(path)
    assert main(["funnel", str(path), "--steps", "page_view,purchase"]) == 2
    err = capsys.readouterr().err
    assert "e.parquet: the events have column names but no rows" in err
    assert "warning" not in err and len(err.strip().splitlines()) == 1


def test_a_definition_warns_about_likely_typos_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from funnelkit.definitions import load_funnel

    text = load_funnel("inbound").to_toml().replace('"ebook_download"', '"ebook_downlaod"')
    mine = tmp_path / "mine.toml"
    mine.write_text(text)
    path = events_csv(
        tmp_path,
        "contact_id,occurred_at,event,amount\nc1,2026-11-02,page_view,\nc1,2026-11-03,ebook_download,\n",
    )
    assert main(["classify", str(path), "--funnel", str(mine)]) == 0
    err = capsys.readouterr().err
    assert "reads the event 'ebook_downlaod'" in err and "Did you mean 'ebook_download'?" in err
    assert "'purchase'" not in err  # absent from this log, but no typo of anything in it


def test_an_alternative_event_of_the_same_definition_is_no_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event,amount\nc1,2026-11-02,purchase,5\n")
    assert main(["classify", str(path), "--funnel", "sales"]) == 0
    assert "repeat_purchase" not in capsys.readouterr().err


def test_out_that_cannot_be_written_is_one_line_naming_it(
    messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("mine\n")
    target = blocker / "aside.csv"
    args = ["validate", str(messy), "--columns", "user=contact_id,ts=occurred_at"]
    assert main([*args, "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("funnelkit validate: error: --out ") and str(target) in err
    assert blocker.read_text() == "mine\n"
    assert main([*args, "--out", str(tmp_path / "aside.txt")]) == 2  # refused before reading
    assert "write .csv or .parquet" in capsys.readouterr().err


FORMULAS = ('=HYPERLINK("http://x.example","y")', "+SUM(1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)")


def test_csv_exports_neutralise_spreadsheet_formulas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    path = tmp_path / "e.csv"
    rows = [("c1", "2026-11-02T09:00:00Z", f, "-3") for f in FORMULAS]
    rows.append(("-3", "someday", FORMULAS[0], "-3"))  # set aside: bad timestamp
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("contact_id", "occurred_at", "event", "channel"), *rows])
    assert main(["funnel", str(path), "--steps", "+SUM(1),@SUM(1)", "--format", "csv"]) == 0
    aside = tmp_path / "aside.csv"
    assert main(["validate", str(path), "--out", str(aside), "--no-pseudonymize"]) == 1
    for text in (capsys.readouterr().out, aside.read_text()):
        cells = [cell for row in csv.reader(text.splitlines()) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@") or c.startswith("-2+")], cells
    assert "'=HYPERLINK(" in aside.read_text() and ",-3," in aside.read_text()  # numbers stay


def test_an_error_naming_a_file_with_control_characters_stays_one_inert_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x\nfunnelkit validate: all rows usable\x1b[2K.csv"
    path.write_text("a,b\n1,2\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("funnelkit validate: error: ")
    assert "\x1b" not in err and "\\n" in err and "\\x1b" in err


@pytest.mark.parametrize("command", [["funnels"], ["classify", "e.csv", "--funnel", "sales"]])
def test_an_unknown_language_is_refused_not_ignored(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--lang", "xx"])
    assert info.value.code == 2
    assert "--lang: invalid choice: 'xx'" in capsys.readouterr().err


def test_the_text_table_writes_control_characters_of_the_data_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.csv"
    rows = [f'c{i},2026-11-02T09:00:00Z,like,"\x1b[2J\x1b]0;owned\x07"' for i in range(40)]
    path.write_text("contact_id,occurred_at,event,channel\n" + "\n".join(rows) + "\n")
    assert main(["funnel", str(path), "--steps", "like", "--by", "channel"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out


def _sub_commands() -> dict[str, argparse.ArgumentParser]:
    from funnelkit.cli import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_sub_commands()))
def test_every_help_prints_percent_signs_once(name: str) -> None:
    # argparse formats option help with %, never a description: '%%' there prints as is.
    text = _sub_commands()[name].format_help()
    assert "%%" not in text
    assert "%(" not in text


def test_the_order_help_names_every_choice() -> None:
    funnel = _sub_commands()["funnel"]
    (order,) = (a for a in funnel._actions if "--order" in a.option_strings)
    for choice in order.choices:
        assert f"{choice}:" in order.help


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["funnel", "--steps", "a,b", "--since", "yesterday"], "--since"),
        (["drivers", "--steps", "a,b", "--until", "tomorrow"], "--until"),
        (["paths", "--steps", "a,b", "--as-of", "today"], "--as-of"),
        (["classify", "--funnel", "sales", "--as-of", "today"], "--as-of"),
    ],
)
def test_an_unreadable_time_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], option: str
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event\nc1,2026-11-02,a\n")
    assert main([command[0], str(path), *command[1:]]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"funnelkit {command[0]}: error: {option}")
    assert "read 1 row" not in err  # refused before the events are read


def test_one_row_is_one_row_not_one_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.csv"
    one.write_text("contact_id,occurred_at,event,amount\nc1,2026-11-02T09:00:00Z,purchase,9\n")
    assert main(["validate", str(one)]) == 0
    assert f"{one}: read 1 row, none set aside" in capsys.readouterr().err
    out = tmp_path / "stages.csv"
    argv = ["classify", str(one), "--funnel", "sales", "--out", str(out), "--no-pseudonymize"]
    assert main(argv) == 0
    assert f"wrote 1 row to {out}" in capsys.readouterr().err
    aside = tmp_path / "aside.csv"
    aside.write_text("contact_id,occurred_at,event\n,2026-11-02T09:00:00Z,purchase\n")
    assert main(["validate", str(aside)]) == 1
    printed, err = capsys.readouterr()
    assert printed == "1 row set aside\n"
    assert f"{aside}: read 1 row, kept 0, set aside 1" in err
    assert "1 null_contact_id (no contact id): row 1" in err


@pytest.mark.parametrize(
    ("command", "option", "message"),
    [
        ("drivers", ["--alpha", "2"], "--alpha: must be between 0 and 1 (exclusive), got 2.0"),
        ("paths", ["--min-size", "-1"], "--min-size: expected a whole number >= 0, got -1"),
        ("drivers", ["--min-size", "0"], "--min-size: expected a whole number >= 1, got 0"),
        ("drivers", ["--max-values", "0"], "--max-values: expected a whole number >= 1, got 0"),
        ("funnel", ["--top", "-2"], "--top: expected a whole number >= 0, got -2"),
        ("funnel", ["--since", "someday"], "--since"),
    ],
)
def test_bad_options_are_refused_before_the_events_are_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    option: list[str],
    message: str,
) -> None:
    missing = tmp_path / "never-read.csv"  # reading it would be the error
    assert main([command, str(missing), "--steps", "a,b", *option]) == 2
    err = capsys.readouterr().err
    assert message in err and "never-read" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["drivers", "paths"])
def test_a_step_of_digits_that_are_no_number_is_a_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event\nc1,2026-11-02,a\n")
    assert main([command, str(path), "--steps", "a,b", "--step", "\u00b2"]) == 2
    err = capsys.readouterr().err
    assert "--step: '\u00b2' is not a step of this funnel (a, b)" in err


def test_validate_out_leaves_a_rows_other_fields_out_unless_ids_stay_raw(
    tmp_path: Path,
) -> None:
    path = events_csv(
        tmp_path, "contact_id,occurred_at,event,email\nc1,2026-11-02,like,a@x.com\nc2,2026-11-02\n"
    )
    out = tmp_path / "aside.csv"
    assert main(["validate", str(path), "--out", str(out)]) == 1
    text = out.read_text()
    assert "wrong_field_count" in text and "other_fields" not in text and "c2" not in text
    assert main(["validate", str(path), "--out", str(out), "--no-pseudonymize"]) == 1
    assert "other_fields" in out.read_text() and "c2" in out.read_text()


def test_a_stage_id_given_as_an_event_says_which_definition_has_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_csv(tmp_path, "contact_id,occurred_at,event\nc1,2026-11-02,page_view\n")
    assert main(["funnel", str(path), "--steps", "page_view,warm_lead"]) == 0
    err = capsys.readouterr().err
    assert (
        "step 2 reads the event 'warm_lead', which " in err
        and "'warm_lead' is a stage id of the preset 'inbound': read stages from its "
        "definition (--funnel inbound; in Python load_funnel('inbound'), or definition=)."
        in err
    )
