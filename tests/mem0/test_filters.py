"""mem0's v2 filter language -> memio's portable filters (`memio.server.mem0_api.filters`).

Two kinds of checks: the translation's shape (which entity ids become store scope, what the error
names), and its meaning: every translated filter is evaluated with memio's own `parse_filters` /
`matches` over a small table of facts, exactly as a provider would, and must select the facts
mem0's semantics select.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from memio.errors import InvalidRequestError
from memio.filters import matches, parse_filters
from memio.models import Fact
from memio.providers.shared import FACT_FIELDS, TIMESTAMP_FIELDS
from memio.server.mem0_api.filters import Translation, merge_ids, translate


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 7, day, hour, tzinfo=timezone.utc)


FACTS = [
    Fact(id="a1", content="likes tea", user_id="alice", metadata={"topic": "food", "n": 1},
         created_at=_at(1), updated_at=_at(1)),
    Fact(id="a2", content="plays chess", user_id="alice", agent_id="coach",
         metadata={"topic": "games", "categories": ["hobbies", "sports"], "n": 2},
         created_at=_at(15), updated_at=_at(20)),
    Fact(id="a3", content="lives in Lyon", user_id="alice", app_id="maps", run_id="r1",
         metadata={"categories": ["Personal"], "flag": True},
         created_at=_at(31, 23), updated_at=_at(31, 23)),
    Fact(id="b1", content="likes coffee", user_id="bob", agent_id="coach",
         metadata={"topic": "food", "n": 3.5},
         created_at=datetime(2024, 8, 1, 0, 0, tzinfo=timezone.utc),
         updated_at=datetime(2024, 8, 1, 0, 0, tzinfo=timezone.utc)),
    Fact(id="x1", content="agent note", agent_id="helper", metadata={"topic": ["x", "y"]},
         created_at=_at(10), updated_at=_at(10)),
]  # fmt: skip


def select(translation: Translation) -> list[str]:
    """The ids a store would return for this translation: exact scope, then the filter."""
    tree = parse_filters(translation.filters, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
    out = []
    for fact in FACTS:
        if any(getattr(fact, name) != value for name, value in translation.scope.items()):
            continue
        if matches(tree, fact.model_dump(exclude={"score"})):
            out.append(fact.id)
    return out


# (mem0 filter, ids it selects)
MEANING: list[tuple[dict[str, Any], list[str]]] = [
    ({"user_id": "alice"}, ["a1", "a2", "a3"]),
    ({"AND": [{"user_id": "alice"}]}, ["a1", "a2", "a3"]),
    ({"user_id": "alice", "agent_id": "coach"}, ["a2"]),
    ({"AND": [{"user_id": "alice"}, {"agent_id": "coach"}]}, ["a2"]),
    ({"OR": [{"user_id": "bob"}, {"agent_id": "helper"}]}, ["b1", "x1"]),
    ({"or": [{"user_id": "bob"}, {"agent_id": "helper"}]}, ["b1", "x1"]),
    ({"$or": [{"user_id": "bob"}, {"agent_id": "helper"}]}, ["b1", "x1"]),
    ({"user_id": {"in": ["bob", "carol"]}}, ["b1"]),
    ({"user_id": {"eq": "bob"}}, ["b1"]),
    ({"AND": [{"user_id": "alice"}, {"agent_id": {"ne": "coach"}}]}, ["a1", "a3"]),
    ({"AND": [{"user_id": "alice"}, {"agent_id": {"nin": ["coach"]}}]}, ["a1", "a3"]),
    ({"user_id": "*"}, ["a1", "a2", "a3", "b1"]),
    ({"AND": [{"agent_id": "*"}, {"NOT": {"user_id": "*"}}]}, ["x1"]),
    ({"AND": [{"user_id": "alice"}, {"NOT": {"agent_id": "coach"}}]}, ["a1", "a3"]),
    ({"AND": [{"user_id": "alice"}, {"NOT": [{"agent_id": "coach"}]}]}, ["a1", "a3"]),
    ({"OR": [{"user_id": "*"}, {"agent_id": "*"}, {"app_id": "*"}, {"run_id": "*"}]},
     ["a1", "a2", "a3", "b1", "x1"]),
    # timestamps: bare dates are whole days (UTC)
    ({"AND": [{"user_id": "alice"}, {"created_at": {"gte": "2024-07-01", "lte": "2024-07-31"}}]},
     ["a1", "a2", "a3"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lte": "2024-07-31"}}]}, ["a1", "a2", "a3"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lt": "2024-07-31"}}]}, ["a1", "a2"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gt": "2024-07-31"}}]}, ["b1"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gte": "2024-07-31"}}]}, ["a3", "b1"]),
    ({"AND": [{"user_id": "*"}, {"created_at": "2024-07-15"}]}, ["a2"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gt": "2024-07-15T12:00:00Z"}}]}, ["a3", "b1"]),
    ({"AND": [{"user_id": "*"}, {"updated_at": {"gte": "2024-07-20T00:00:00+00:00"}}]},
     ["a2", "a3", "b1"]),
    # metadata
    ({"user_id": "*", "metadata": {"topic": "food"}}, ["a1", "b1"]),
    ({"user_id": "*", "metadata": {"n": {"gte": 2}}}, ["a2", "b1"]),
    ({"user_id": "*", "metadata": {"topic": {"in": ["games", "food"]}}}, ["a1", "a2", "b1"]),
    ({"user_id": "*", "metadata": {"topic": {"ne": "food"}}}, ["a2", "a3"]),
    ({"user_id": "*", "metadata": {"topic": {"icontains": "FOO"}}}, ["a1", "b1"]),
    ({"user_id": "*", "metadata": {"flag": True}}, ["a3"]),
    ({"user_id": "*", "metadata": {"topic": "*"}}, ["a1", "a2", "b1"]),
    ({"user_id": "*", "metadata": {"n": "*", "topic": "food"}}, ["a1", "b1"]),
    ({"user_id": "*", "metadata": {"flag": "*"}}, ["a3"]),
    ({"user_id": "*", "metadata": {"topic": {"ne": "*"}}}, ["a3"]),
    # categories (kept in the "categories" metadata key)
    ({"user_id": "alice", "categories": {"in": ["sports", "personal", "Personal"]}}, ["a2", "a3"]),
    ({"user_id": "alice", "categories": {"contains": "hobbies"}}, ["a2"]),
    ({"user_id": "alice", "categories": {"icontains": "personal"}}, ["a3"]),
    ({"user_id": "alice", "categories": ["sports"]}, ["a2"]),
    ({"user_id": "alice", "categories": "hobbies"}, ["a2"]),
    ({"user_id": "alice", "categories": {"ne": "hobbies"}}, ["a1", "a3"]),
    # ids
    ({"user_id": "alice", "memory_ids": ["a1", "a3", "b1"]}, ["a1", "a3"]),
    ({"user_id": "*", "memory_ids": {"in": ["b1"]}}, ["b1"]),
    # nesting
    ({"OR": [{"AND": [{"user_id": "alice"}, {"metadata": {"topic": "games"}}]},
             {"AND": [{"user_id": "bob"}, {"NOT": {"metadata": {"topic": "games"}}}]}]},
     ["a2", "b1"]),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), MEANING, ids=[str(i) for i in range(len(MEANING))])
def test_translation_selects_what_mem0_selects(raw: dict[str, Any], expected: list[str]) -> None:
    translation = translate(raw)
    assert translation.names_entity
    assert select(translation) == expected


def test_no_filter() -> None:
    for raw in (None, {}):
        translation = translate(raw)
        assert translation == Translation()
        assert not translation.names_entity
        assert translation.store_args() == {"filters": None}


def test_top_level_entity_equalities_become_store_scope() -> None:
    translation = translate({"AND": [{"user_id": "alice"}, {"AND": [{"run_id": "r1"}]}]})
    assert translation.scope == {"user_id": "alice", "run_id": "r1"}
    assert translation.filters is None
    assert translation.store_args() == {"user_id": "alice", "run_id": "r1", "filters": None}


def test_a_second_value_for_the_same_entity_stays_a_filter() -> None:
    translation = translate({"AND": [{"user_id": "alice"}, {"user_id": "bob"}]})
    assert translation.scope == {"user_id": "alice"}
    assert translation.filters == {"user_id": {"eq": "bob"}}
    assert select(translation) == []


def test_entities_under_not_or_ne_do_not_count_as_named() -> None:
    assert not translate({"NOT": {"user_id": "alice"}}).names_entity
    assert not translate({"user_id": {"ne": "alice"}}).names_entity
    assert not translate({"metadata": {"topic": "food"}}).names_entity
    assert translate({"OR": [{"user_id": "a"}, {"metadata": {"topic": "x"}}]}).names_entity
    assert translate({"NOT": {"NOT": {"user_id": "alice"}}}).names_entity


def test_merge_ids_adds_top_level_ids() -> None:
    merged = merge_ids(translate({"metadata": {"topic": "food"}}), {"user_id": "alice"})
    assert merged.scope == {"user_id": "alice"}
    assert select(merged) == ["a1"]
    clash = merge_ids(translate({"user_id": "alice"}), {"user_id": "bob", "agent_id": None})
    assert clash.scope == {"user_id": "alice"}
    assert select(clash) == []
    same = merge_ids(translate({"user_id": "alice"}), {"user_id": "alice"})
    assert same.filters is None


@pytest.mark.parametrize(
    ("raw", "field", "mentions"),
    [
        ({"keywords": "tea"}, "filters.keywords", "unsupported filter field 'keywords'"),
        ({"AND": [{"user_id": "a"}, {"text": "x"}]}, "filters.AND[1].text", "'text'"),
        ({"OR": [{"user_id": "a"}, {"NOT": {"foo": 1}}]}, "filters.OR[1].NOT.foo", "'foo'"),
        ({"user_id": {"gt": "a"}}, "filters.user_id.gt", "unsupported operator 'gt'"),
        ({"user_id": {"regex": "a.*"}}, "filters.user_id.regex", "'regex'"),
        ({"user_id": {}}, "filters.user_id", "must not be empty"),
        ({"user_id": ""}, "filters.user_id", "non-empty"),
        ({"user_id": 3}, "filters.user_id.eq", "non-empty strings"),
        ({"user_id": {"in": []}}, "filters.user_id.in", "non-empty list"),
        ({"AND": []}, "filters.AND", "non-empty list"),
        ({"OR": {"user_id": "a"}}, "filters.OR", "non-empty list"),
        ({"AND": [{"user_id": "a"}, "x"]}, "filters.AND[1]", "JSON object"),
        ({"created_at": {"gte": "July 1st"}}, "filters.created_at.gte", "ISO 8601"),
        ({"created_at": {"gte": "2024-02-30"}}, "filters.created_at.gte", "valid date"),
        ({"created_at": {"gte": 20240701}}, "filters.created_at.gte", "ISO 8601"),
        (
            {"created_at": {"gte": "9999-12-31T23:59:59-23:59"}},
            "filters.created_at.gte",
            "outside the range",
        ),
        ({"updated_at": "0001-01-01T00:00:00+01:00"}, "filters.updated_at.eq", "outside the range"),
        ({"created_at": {"contains": "2024"}}, "filters.created_at.contains", "'contains'"),
        ({"metadata": "food"}, "filters.metadata", "object of metadata keys"),
        ({"metadata": {"topic": {"regex": "f"}}}, "filters.metadata.topic.regex", "'regex'"),
        ({"metadata": {"topic": None}}, "filters.metadata.topic", "null"),
        ({"metadata": {"topic": {"gt": "*"}}}, "filters.metadata.topic.gt", "eq and ne"),
        ({"categories": {"in": "food"}}, "filters.categories.in", "non-empty list"),
        ({"categories": {"gte": "a"}}, "filters.categories.gte", "'gte'"),
        ({"memory_ids": []}, "filters.memory_ids", "non-empty list"),
        ({"memory_ids": {"eq": "x"}}, "filters.memory_ids", "list of ids"),
    ],
)
def test_unsupported_filters_name_the_offending_key(
    raw: dict[str, Any], field: str, mentions: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate(raw)
    assert caught.value.field == field
    assert mentions in str(caught.value)


def test_root_must_be_an_object() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate(["user_id", "alice"])
    assert caught.value.field == "filters"


def test_translated_filters_parse_as_memio_filters() -> None:
    """Every translation is valid input for memio's parser (what the stores run)."""
    for raw, _ in MEANING:
        filters = translate(raw).filters
        parse_filters(filters, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)


ALL_USERS = ["a1", "a2", "a3", "b1"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"created_at": "9999-12-31"}, []),
        ({"created_at": {"lte": "9999-12-31"}}, ALL_USERS),
        ({"created_at": {"gt": "9999-12-31"}}, []),
        ({"created_at": {"gte": "9999-12-31"}}, []),
        ({"created_at": {"lt": "0001-01-01"}}, []),
        ({"created_at": {"gte": "0001-01-01"}}, ALL_USERS),
        ({"created_at": {"lte": "9999-12-31T23:59:59.999999Z"}}, ALL_USERS),
    ],
)
def test_the_last_and_first_days_of_the_calendar(raw: dict[str, Any], expected: list[str]) -> None:
    """A whole-day filter on 9999-12-31 ends at the calendar's last instant (there is no next
    midnight to stop before)."""
    translation = translate({"AND": [{"user_id": "*"}, raw]})
    parse_filters(translation.filters, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
    assert select(translation) == expected


# mem0's self-hosted server: flat keys are metadata keys (`translate(..., flat_metadata=True)`)
FLAT: list[tuple[dict[str, Any], list[str]]] = [
    ({"user_id": "*", "topic": "food"}, ["a1", "b1"]),
    ({"user_id": "alice", "topic": "food"}, ["a1"]),
    ({"user_id": "*", "topic": "food", "n": 3.5}, ["b1"]),
    ({"user_id": "*", "n": {"gte": 2}}, ["a2", "b1"]),
    ({"user_id": "*", "flag": "*"}, ["a3"]),
    ({"OR": [{"user_id": "bob"}, {"AND": [{"user_id": "alice"}, {"topic": "games"}]}]},
     ["a2", "b1"]),
    # known fields keep their meaning
    ({"user_id": "alice", "categories": "hobbies"}, ["a2"]),
    ({"user_id": "*", "metadata": {"topic": "games"}}, ["a2"]),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), FLAT, ids=[str(i) for i in range(len(FLAT))])
def test_flat_keys_are_metadata_in_the_self_hosted_dialect(
    raw: dict[str, Any], expected: list[str]
) -> None:
    assert select(translate(raw, flat_metadata=True)) == expected


def test_flat_metadata_keys_still_name_what_is_wrong() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate({"topic": None}, flat_metadata=True)
    assert caught.value.field == "filters.topic"
    with pytest.raises(InvalidRequestError) as caught:
        translate({"AND": [{"topic": {"regex": "f"}}]}, flat_metadata=True)
    assert caught.value.field == "filters.AND[0].topic.regex"
