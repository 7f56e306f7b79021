"""Every public function and class reads well in ``help()`` and in a notebook tooltip.

The names checked are those of ``funnelkit.__all__`` and the public functions of
the modules that have an API page (``docs/reference/api/*.md``). Each docstring
has, in this order:

- a one-line summary, then a short paragraph (at most ``MAX_PARAGRAPH`` lines:
  long specifications belong on the concept pages);
- ``Parameters`` naming every parameter of the signature (``Attributes`` for
  a dataclass's fields);
- ``Returns`` (functions that return something);
- ``Raises``, naming funnelkit errors (or built-in ones) and when; a function
  that raises nothing of its own is listed in ``RAISES_NOTHING``;
- ``Examples`` with a doctest (``tests/test_docstrings.py`` runs them);
- a last line ``See the concept page: docs/concepts/<page>.md`` (or ``See the
  guide: docs/guides/<page>.md``) naming a page that exists.

The sections are read as numpydoc lays them out (a title underlined with
dashes), with no dependency beyond ``inspect``.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import funnelkit
import funnelkit.errors

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = ROOT / "docs" / "reference" / "api"
MAX_PARAGRAPH = 8
SEE = re.compile(r"^See the (?:concept page|guide): (docs/(?:concepts|guides)/[\w.-]+\.md)$")
SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)
ORDER = ["Parameters", "Returns", "Raises", "Examples"]

# Functions whose module is being changed elsewhere right now: their docstrings
# are rewritten by whoever changes them, and leave this set when they are merged
# (a strict xfail: a pending name that already has the right shape fails, so the
# set cannot go stale).
PENDING: set[str] = set()

# Functions that take nothing a caller can get wrong and raise no error of
# their own: they need no ``Raises`` section.
RAISES_NOTHING = {
    "funnelkit.conversion.finish_funnel",
    "funnelkit.steps.warn_unknown_events",
    "funnelkit.steps.step_ids",
    "funnelkit.core.counts.funnel_counts",
    "funnelkit.definition_rules.duration_text",
    "funnelkit.definition_rules.number_columns",
    "funnelkit.definitions.list_presets",
    "funnelkit.stats.biggest_leak",
    "funnelkit.drivers.format_ratio",
    "funnelkit.drivers.signal_text",
    "funnelkit.entry.entry_value_column",
    "funnelkit.errors.did_you_mean",
    "funnelkit.errors.message_in",
    "funnelkit.timestamps.timestamp_shape",
    "funnelkit.figure_style.format_table",
    "funnelkit.figure_style.register_template",
    "funnelkit.figure_style.stage_colour",
    "funnelkit.figure_style.text_width",
    "funnelkit.frames.engine_of",
    "funnelkit.logs.timestamp_hint",
    "funnelkit.logs.unknown_events",
    "funnelkit.markup.escape",
    "funnelkit.markup.format_html",
    "funnelkit.markup.join_html",
    "funnelkit.markup.plot_text",
    "funnelkit.paths.biggest_leak_step",
    "funnelkit.paths.path_frames",
    "funnelkit.privacy.default_key_file",
    "funnelkit.privacy.judge_breakdown",
    "funnelkit.privacy.judge_column",
    "funnelkit.privacy.mask",
    "funnelkit.privacy.name_tokens",
    "funnelkit.privacy.pseudonym",
    "funnelkit.report.contact_options",
    "funnelkit.report.event_options",
    "funnelkit.report_display.setup_notebook",
    "funnelkit.report_folder.tidy_out_dir",
    "funnelkit.spreadsheets.spreadsheet_safe",
    "funnelkit.stages.in_french",
    "funnelkit.stats.erfc_expr",
    "funnelkit.steps.bin_width",
    "funnelkit.steps.event_names_of",
    "funnelkit.steps.transitions",
    "funnelkit.stats.too_few_expr",
    "funnelkit.stats.two_proportion_p_value",
    "funnelkit.timeutil.fmt_time",
    "funnelkit.timeutil.instant_before",
    "funnelkit.trends.trend_counts",
    "funnelkit.weekly_results.stalled_stage",
    "funnelkit.weekly_results.target_stage",
}


def _api_modules() -> list[str]:
    found: list[str] = []
    for page in sorted(API_PAGES.glob("*.md")):
        found += re.findall(r"^::: (funnelkit[\w.]*)\s*$", page.read_text(encoding="utf-8"), re.M)
    return sorted(set(found))


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def public_objects() -> dict[str, Any]:
    """Map the qualified name of every checked function and class to the object."""
    found: dict[str, Any] = {}
    for name in funnelkit.__all__:
        obj = getattr(funnelkit, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            found[_qualified(obj)] = obj
    for module_name in _api_modules():
        if module_name == "funnelkit":
            continue
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        names = exported if exported is not None else [n for n in vars(module) if n[0] != "_"]
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and (exported is not None or obj.__module__ == module_name):
                found[_qualified(obj)] = obj
    return dict(sorted(found.items()))


OBJECTS = public_objects()


def sections(doc: str) -> dict[str, str]:
    """Split a numpy docstring into its head (``""``) and its titled sections."""
    parts = SECTION.split(doc)
    found = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        found[title] = body
    return found


def entries(body: str) -> list[str]:
    """Return the names a section lists (its lines at no indent, before `` : ``)."""
    names: list[str] = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            names += [n.strip() for n in line.split(" : ")[0].split(",")]
    return names


def _parameters(obj: Callable[..., Any]) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    own = vars(obj) if inspect.isclass(obj) else {}
    if inspect.isclass(obj) and "__init__" not in own and "__dataclass_fields__" not in own:
        return []
    signature = inspect.signature(target)
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [
        ("*" if p.kind == p.VAR_POSITIONAL else "**" if p.kind == p.VAR_KEYWORD else "") + p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and not (p.kind in kinds and inspect.isclass(obj))
    ]


def _returns_something(obj: Callable[..., Any]) -> bool:
    if inspect.isclass(obj):
        return False
    annotation = inspect.signature(obj).return_annotation
    return annotation not in ("None", None, inspect.Signature.empty)


def _raises_on_purpose(obj: Any) -> bool:
    if inspect.isclass(obj):
        own = vars(obj)  # a dataclass's generated __init__ checks nothing
        return "__post_init__" in own or ("__init__" in own and "__dataclass_fields__" not in own)
    return True


def shape_problems(name: str, obj: Any) -> list[str]:
    """Return what the docstring of ``obj`` lacks, one sentence each."""
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return ["no docstring"]
    problems: list[str] = []
    parts = sections(doc)
    present = [title for title in parts if title in ORDER]
    head = parts[""].strip().splitlines()
    if not head or not head[0].strip().endswith("."):
        problems.append("no one-line summary ending with a full stop")
    elif len(head) > 1 and head[1].strip():
        problems.append("the summary runs over one line (leave a blank line after it)")
    paragraph = [line for line in head[2:] if line.strip()]
    if not paragraph:
        problems.append("no short paragraph after the summary")
    elif len(paragraph) > MAX_PARAGRAPH:
        problems.append(
            f"a paragraph of {len(paragraph)} lines (at most {MAX_PARAGRAPH}: move the "
            "specification to its concept page)"
        )
    wanted = ["Parameters"] if _parameters(obj) else []
    wanted += ["Returns"] if _returns_something(obj) else []
    wanted += ["Raises"] if _raises_on_purpose(obj) and name not in RAISES_NOTHING else []
    wanted += ["Examples"]
    if inspect.isclass(obj) and "Attributes" in parts and "Parameters" in wanted:
        wanted.remove("Parameters")  # a dataclass documents its fields as attributes
        parts["Parameters"] = parts["Attributes"]
    problems += [f"no {title!r} section" for title in wanted if title not in parts]
    if present != sorted(present, key=ORDER.index):
        problems.append(f"sections out of order: {present} (numpy order is {ORDER})")
    if "Parameters" in parts:
        documented = set(entries(parts["Parameters"]))
        missing = [
            p for p in _parameters(obj) if p not in documented and p.lstrip("*") not in documented
        ]
        if missing:
            problems.append(f"parameters not documented: {missing}")
    if "Raises" in parts:
        for error in entries(parts["Raises"]):
            if not hasattr(funnelkit.errors, error) and not hasattr(builtins, error):
                problems.append(
                    f"'Raises' names {error!r}: neither a funnelkit error nor a built-in"
                )
    if "Examples" in parts and ">>> " not in parts["Examples"]:
        problems.append("'Examples' holds no doctest")
    last = doc.strip().splitlines()[-1].strip()
    see = SEE.match(last)
    if see is None:
        problems.append(
            "the last line is not 'See the concept page: docs/concepts/<page>.md' "
            "(or 'See the guide: docs/guides/<page>.md')"
        )
    elif not (ROOT / see.group(1)).is_file():
        problems.append(f"the page {see.group(1)} does not exist")
    return problems


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason="rewritten where it changes", strict=True))
        if n in PENDING
        else n
        for n in OBJECTS
    ],
)
def test_docstring_has_the_shape_help_needs(name: str) -> None:
    problems = shape_problems(name, OBJECTS[name])
    assert not problems, f"{name}: " + "; ".join(problems)


def test_the_pending_and_exempt_names_exist() -> None:
    stale = sorted((PENDING | RAISES_NOTHING) - set(OBJECTS))
    assert not stale, f"no longer public (remove them from the sets): {stale}"


def test_a_docstring_missing_a_section_is_named() -> None:
    def sample_function(events: int, *, window: str = "7d") -> int:
        """Count something.

        A paragraph.

        Parameters
        ----------
        events
            The events.

        Examples
        --------
        >>> sample_function(1)
        1

        See the concept page: docs/concepts/no-such-page.md
        """
        return events

    problems = shape_problems("sample_function", sample_function)
    assert "no 'Returns' section" in problems
    assert "no 'Raises' section" in problems
    assert "parameters not documented: ['window']" in problems
    assert "the page docs/concepts/no-such-page.md does not exist" in problems


def test_the_site_turns_roles_into_links_and_refuses_unknown_names() -> None:
    griffe = pytest.importorskip("griffe")
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import griffe_roles
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    pkg = griffe.load("funnelkit", search_paths=[str(ROOT)])
    shown = griffe_roles.shown_paths(pkg, griffe_roles.api_modules(ROOT))
    scope = pkg["durations"].members["format_duration"]

    def link(text: str) -> str:
        return str(griffe_roles.link_roles(text, scope, shown, pkg))

    # a documented name becomes a link to its API page, "~" shortens its label
    assert (
        link(":func:`parse_duration`") == "[`parse_duration`][funnelkit.durations.parse_duration]"
    )
    assert link(":class:`~funnelkit.events.EventLog`") == "[`EventLog`][funnelkit.events.EventLog]"
    # names outside funnelkit, and funnelkit objects no page shows, stay code
    assert link(":class:`~datetime.timedelta`") == "``timedelta``"
    assert link(":func:`funnelkit.durations._too_long`") == "``funnelkit.durations._too_long``"
    # a name that exists nowhere stays a link, which autorefs cannot resolve: the build fails
    assert link(":func:`parse_duratoin`") == "[`parse_duratoin`][parse_duratoin]"
    assert link("See the concept page: docs/concepts/chain-rule.md") == (
        "See the concept page: [docs/concepts/chain-rule.md](../../concepts/chain-rule.md)"
    )
