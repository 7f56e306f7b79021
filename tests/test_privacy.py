"""Keyed pseudonymisation of contact ids."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelkit.errors import ParameterError
from funnelkit.privacy import (
    KEY_ENV,
    KEY_FILE_ENV,
    default_key_file,
    load_key,
    pseudonym,
    pseudonymize,
    pseudonymize_columns,
)

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
