"""The text of a definition file, in its own module: names reach funnelkit.definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

import funnelkit.definition_files as definition_files
import funnelkit.definitions as definitions
from funnelkit.errors import DefinitionError


def test_the_file_limits_are_the_same_objects_in_definitions() -> None:
    assert definitions.MAX_FILE_BYTES is definition_files.MAX_FILE_BYTES == 256 * 1024
    assert definitions.MAX_NESTING is definition_files.MAX_NESTING == 32


def test_read_definition_reads_at_most_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (definition_files.MAX_FILE_BYTES + 1))
    with pytest.raises(
        DefinitionError, match=r"big\.toml: more than the 262,144 bytes \(256 KiB\)"
    ):
        definition_files.read_definition(path)


def test_check_nesting_names_the_line() -> None:
    text = "a = 1\nb = " + "[" * 40 + "]" * 40 + "\n"
    with pytest.raises(DefinitionError, match=r"^x\.toml: line 2: nested more than 32 levels deep"):
        definition_files.check_nesting(text, "x.toml")


def test_toml_values_read_back() -> None:
    import tomllib

    line = "v = " + definition_files.inline_table(
        [("a b", 'say "hi"\n'), ("n", 2.0), ("big", 2.0**60), ("ok", True)]
    )
    assert tomllib.loads(line)["v"] == {"a b": 'say "hi"\n', "n": 2, "big": 2.0**60, "ok": True}
