"""Griffe extension of the funnelkit site: Sphinx roles in docstrings become links.

Docstrings keep the roles that read well in ``help()`` and a notebook tooltip
(``:func:`funnel```, ``:class:`~funnelkit.events.EventLog```). When the site is
built (mkdocstrings loads the package with this extension, named in
``mkdocs.yml``), each role becomes an autorefs cross-reference,
``[`funnel`][funnelkit.conversion.funnel]``, so it renders as a link to the
object's API page:

- a name is resolved as Python would, from the scope of the object whose
  docstring holds it (its module's imports included): ``:func:`classify``` in
  ``funnelkit.stages`` is ``funnelkit.stages.classify``;
- ``~`` shows the last part of the name only, as Sphinx does;
- a name outside funnelkit (``datetime.timedelta``, ``ValueError``) stays code:
  the site has no page to link to; so does a funnelkit object that exists but
  that no API page shows (a private helper, a module or constant without a
  page or a docstring);
- any other name is linked as written: it names nothing in funnelkit (a typo,
  a removed function), so autorefs warns and the strict build fails.

The last line of a docstring, ``See the concept page: docs/concepts/<page>.md``,
becomes a link to that page too (mkdocs checks it like any other link).
"""

from __future__ import annotations

import builtins
import importlib.util
import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")
SEE = re.compile(
    r"^(?P<lead>See the (?:concept page|guide)): (?P<path>docs/(?P<page>[\w./-]+\.md))$", re.M
)
# every API page is docs/reference/api/<module>.md
FROM_API_PAGE = "../../"
ROOT = Path(__file__).resolve().parents[2]


def _is_external(name: str) -> bool:
    root = name.split(".")[0]
    if hasattr(builtins, root):
        return True
    try:
        return root != "funnelkit" and importlib.util.find_spec(root) is not None
    except (ImportError, ValueError):
        return False


def api_modules(root: Path = ROOT) -> list[str]:
    """Return the modules that have an API page (``::: funnelkit.x`` in ``docs/reference/api``)."""
    found: set[str] = set()
    for page in (root / "docs" / "reference" / "api").glob("*.md"):
        found.update(re.findall(r"^::: (\S+)\s*$", page.read_text(encoding="utf-8"), re.M))
    return sorted(found)


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    try:
        return obj.final_target if obj.is_alias else obj  # type: ignore[union-attr,return-value]
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def shown_paths(pkg: griffe.Module, modules: list[str]) -> dict[str, str]:
    """Map each path the API pages show to its canonical path, as mkdocstrings shows them.

    A module's members are shown when public, with a docstring, and (for a name
    imported from elsewhere) listed in the module's ``__all__``; each is
    reachable by its path on the page and by its canonical path.
    """
    shown: dict[str, str] = {}

    def walk(obj: griffe.Object, path: str) -> None:
        exports = set(obj.exports or ()) if obj.is_module else set()
        for name, member in obj.members.items():
            if name.startswith("_") or (member.is_alias and obj.is_module and name not in exports):
                continue
            target = _target(member)
            if target is None or target.is_module or not target.docstring:
                continue
            if not target.path.startswith("funnelkit"):
                continue
            shown[f"{path}.{name}"] = shown[target.path] = target.path
            if target.is_class:
                walk(target, f"{path}.{name}")

    for module in modules:
        found = _find(pkg, module)
        if found is not None and found.is_module:
            shown[module] = module
            walk(found, module)
    return shown


def _find(pkg: griffe.Module, path: str) -> griffe.Object | None:
    """Return the object at ``path`` in the package, or ``None`` when it does not exist."""
    head, *parts = path.split(".")
    if head != pkg.name:
        return None
    obj: griffe.Object | None = pkg
    for part in parts:
        members = (
            obj.all_members if obj is not None and obj.is_class else getattr(obj, "members", {})
        )
        if part not in members:
            return None
        obj = _target(members[part])
    return obj


def resolve(scope: griffe.Object, target: str, shown: dict[str, str] | None = None) -> str | None:
    """Return the full path ``target`` names from ``scope``, or ``None`` outside funnelkit.

    As Python reads a name in ``scope`` (a class's inherited members included);
    failing that, the one object the API pages show under that name (a figure
    function naming another one that its module does not import).  A name found
    nowhere comes back as written.
    """
    target = target.removesuffix("()")
    if target.startswith("funnelkit"):
        return target
    head, _, rest = target.partition(".")
    owner = scope if scope.is_class else scope.parent
    try:
        if owner is not None and owner.is_class and head in owner.all_members:
            found = f"{owner.path}.{head}"
        else:
            found = scope.resolve(head)
    except griffe.NameResolutionError:
        if _is_external(target):
            return None
        known = shown or {}
        same = sorted(p for p in known if p.endswith(f".{target}"))
        if len({known[p] for p in same}) != 1:
            return target
        return min(same, key=lambda p: (p == known[p], p))  # the path as its page shows it
    path = f"{found}.{rest}" if rest else found
    return path if path.split(".")[0] == "funnelkit" else None


def link_roles(
    text: str, scope: griffe.Object, shown: dict[str, str], pkg: griffe.Module | None = None
) -> str:
    """Turn the Sphinx roles of ``text`` into autorefs links resolved from ``scope``.

    ``shown`` holds the paths the API pages show (:func:`shown_paths`); a role
    naming an object of ``pkg`` that they do not show stays code.
    """

    def replace(match: re.Match[str]) -> str:
        target = match["target"]
        label = target.removesuffix("()").split(".")[-1] if match["tilde"] else target
        path = resolve(scope, target, shown)
        if path is None or (path not in shown and pkg is not None and _find(pkg, path)):
            return f"``{label}``"
        return f"[`{label}`][{path}]"

    text = ROLE.sub(replace, text)
    return SEE.sub(lambda m: f"{m['lead']}: [{m['path']}]({FROM_API_PAGE}{m['page']})", text)


class SphinxRoles(griffe.Extension):
    """Rewrite the docstrings of the loaded package with :func:`link_roles`."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every docstring of ``pkg`` once it is loaded."""
        self._walk(pkg, pkg, shown_paths(pkg, api_modules()), set())

    def _walk(
        self, obj: griffe.Object, pkg: griffe.Module, shown: set[str], seen: set[str]
    ) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = link_roles(obj.docstring.value, obj, shown, pkg)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, pkg, shown, seen)  # type: ignore[arg-type]
