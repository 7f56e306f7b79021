"""The errors' messages: English as raised, and the French a widget shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelkit.definitions import load_funnel
from funnelkit.errors import (
    DefinitionError,
    FunnelkitError,
    MissingColumnError,
    ParameterError,
    message_in,
)
from funnelkit.exercise import place_journey
from tests.french import BAD_DEFINITIONS, not_french

WHERE = 'name = "w"\n[[stages]]\nid = "a"\n[[stages]]\nid = "b"\nevents = ["like"]\n'


def _raised(path: Path) -> FunnelkitError:
    with pytest.raises(FunnelkitError) as caught:
        load_funnel(path)
    return caught.value


@pytest.mark.parametrize("name", [*BAD_DEFINITIONS, "missing", "folder"])
def test_every_definition_mistake_a_widget_shows_reads_in_french(name: str, tmp_path: Path) -> None:
    path = tmp_path / "my_funnel.toml"
    if name == "folder":
        path.mkdir()
    elif name != "missing":
        path.write_text(BAD_DEFINITIONS[name])
    error = _raised(path)
    assert isinstance(error, DefinitionError)
    assert message_in(error) == message_in(error, "en") == str(error)  # English as raised
    french = message_in(error, "fr")
    assert french.startswith(f"{path}\u00a0: ")  # the file first, then what is wrong
    assert "anglais" not in french, french
    assert not_french(french.replace(str(path), "")) == []


def test_a_stage_and_its_key_are_named_in_french(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(BAD_DEFINITIONS["typo"])
    french = message_in(_raised(path), "fr").replace("\u00a0", " ")
    assert french == (
        f"{path} : stade 'b' (n° 2) : la clé 'evnts' n'est pas une clé de stade. "
        "Vouliez-vous dire 'events' ? (clés possibles : id, labels, description, events, "
        "min_count, where, points, threshold, half_life, when, lapse_after, lapse_to)"
    )


def test_a_rule_on_a_column_the_events_lack_reads_in_french(tmp_path: Path) -> None:
    path = tmp_path / "where.toml"
    path.write_text(WHERE + "where = \"channel == 'ads'\"\n")
    with pytest.raises(MissingColumnError) as caught:
        place_journey(["like"], [load_funnel(path)])
    french = message_in(caught.value, "fr").replace("\u00a0", " ")
    assert french.endswith(
        "stade 'b' : clé 'where' (channel == 'ads') : les événements n'ont pas de colonne "
        "'channel'. Faites-lui correspondre une de vos colonnes (columns={'la_vôtre': "
        "'channel'} ; --columns la_vôtre=channel), ou prenez une définition sans ce filtre."
    )


def test_a_message_without_a_french_rendering_says_it_is_in_english() -> None:
    error = ParameterError("window: expected a duration such as '14d', got 'soon'")
    french = message_in(error, "fr").replace("\u00a0", " ")
    assert french == (
        "message en anglais : « window: expected a duration such as '14d', got 'soon' »"
    )


def test_a_french_rendering_is_only_given_to_its_kind_of_error() -> None:
    # the same words raised as another kind of error are not the same fault
    error = ParameterError("my.toml: no such funnel definition file")
    assert "anglais" in message_in(error, "fr")
