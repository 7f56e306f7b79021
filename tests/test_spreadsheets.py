"""CSV cells a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import polars as pl

from funnelkit.spreadsheets import spreadsheet_safe


def test_formulas_get_a_quote_and_plain_numbers_stay() -> None:
    frame = pl.DataFrame(
        {
            "e": ['=HYPERLINK("http://x.example","y")', "+SUM(1)", "-3", "+33,5", "@x", "ok"],
            "n": [1, 2, 3, 4, 5, 6],
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["e"].to_list() == [
        '\'=HYPERLINK("http://x.example","y")',
        "'+SUM(1)",
        "-3",
        "+33,5",
        "'@x",
        "ok",
    ]
    assert safe["n"].to_list() == frame["n"].to_list()


def test_stage_columns_held_as_enums_are_made_safe_too() -> None:
    frame = pl.DataFrame(
        {"stage": ["=1+1", "lead"], "kind": ["-x", "y"]},
        schema={"stage": pl.Enum(["=1+1", "lead"]), "kind": pl.Categorical},
    )
    assert spreadsheet_safe(frame).rows() == [("'=1+1", "'-x"), ("lead", "y")]


def test_a_table_without_text_is_returned_as_it_is() -> None:
    frame = pl.DataFrame({"n": [-1, 2]})
    assert spreadsheet_safe(frame).equals(frame)


def test_the_command_line_still_offers_it() -> None:
    from funnelkit import cli

    assert cli.spreadsheet_safe is spreadsheet_safe
