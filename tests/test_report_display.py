"""The display helpers stay reachable where the template and users call them.

The template calls ``funnelkit.report.section(...)`` and the other display
helpers of :mod:`funnelkit.report_display`; :mod:`funnelkit.report` re-exports
them, and the output folder's public tools of :mod:`funnelkit.report_folder`.
The two import neither :mod:`funnelkit.report` nor each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

import funnelkit.report as report
import funnelkit.report_contacts as report_contacts
import funnelkit.report_display as report_display
import funnelkit.report_drivers as report_drivers
import funnelkit.report_folder as report_folder

TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "weekly_report.ipynb"
PACKAGE = Path(report.__file__).resolve().parent


def _imported(module: str) -> set[str]:
    """Return the modules ``funnelkit/<module>.py`` imports, at its top or in a function."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return found | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize(
    ("module", "other"), [("report_display", "report_folder"), ("report_folder", "report_display")]
)
def test_the_report_modules_import_one_way(module: str, other: str) -> None:
    # report_display, report_folder <- report (orchestration) <- cli
    assert not {"funnelkit.report", f"funnelkit.{other}"} & _imported(module)


def _template_calls() -> set[str]:
    """Return the names the template reads as ``report.<name>``."""
    names = set()
    for cell in nbformat.read(TEMPLATE, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "report"
            ):
                names.add(node.attr)
    return names


@pytest.mark.parametrize("name", sorted(_template_calls()))
def test_every_name_the_template_calls_is_in_funnelkit_report(name: str) -> None:
    assert name in report.__all__
    assert callable(getattr(report, name))


@pytest.mark.parametrize(
    ("module", "name"),
    # lazy_module, check_lang and NOTES serve the report's own modules, not its readers
    [
        (report_display, n)
        for n in report_display.__all__
        if n not in {"lazy_module", "check_lang", "NOTES"}
    ]
    + [(report_contacts, n) for n in report_contacts.__all__]
    + [(report_drivers, n) for n in report_drivers.__all__]
    + [(report_folder, n) for n in ("tidy_out_dir", "write_index")],
)
def test_the_public_names_moved_out_of_report_are_the_same_objects_there(
    module: object, name: str
) -> None:
    assert name in report.__all__
    assert getattr(report, name) is getattr(module, name)


@pytest.mark.parametrize(
    "name",
    [
        "FAILED_DIR",
        "HTML_FILE",
        "INDEX_FILE",
        "KEEP_FAILED",
        "METRICS_FILE",
        "NOTEBOOK_FILE",
        "ROOT_MANIFEST",
        "STALE_AFTER",
        "WEEK_FILES",
        "WEEK_MANIFEST",
        "WORK_MARKER",
    ],
)
def test_the_output_folder_constants_are_still_read_from_funnelkit_report(name: str) -> None:
    assert getattr(report, name) == getattr(report_folder, name)


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "Set aside: no contact id (null_contact_id)"),
        ("fr", "Écartées : sans identifiant de contact (null_contact_id)"),
    ],
)
def test_the_quality_table_says_why_rows_were_set_aside_in_words(lang: str, said: str) -> None:
    from types import SimpleNamespace

    from funnelkit.weekly_results import DataQuality

    quality = DataQuality("e.csv", 12, 10, {"null_contact_id": 1, "bad_timestamp": 1}, 8, 2, 0)
    html = report_display.quality_table(SimpleNamespace(quality=quality), lang).data
    assert said in html.replace("\u00a0", " ")
    assert "(bad_timestamp)" in html


def test_every_set_aside_reason_has_its_french_words() -> None:
    from funnelkit.logs import REASON_TEXT

    assert set(report_display._REASON_FR) == set(REASON_TEXT)
