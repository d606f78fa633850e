"""The portable filter language: parser trees, error paths, and the evaluator over the shared
conformance table."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from memio.errors import InvalidRequestError
from memio.filters import COMPARISON_OPS, And, Condition, Not, Or, matches, parse_filters
from memio.providers.shared import DOCUMENT_FIELDS, FACT_FIELDS, TIMESTAMP_FIELDS
from tests.conformance.filter_cases import CASES, ITEMS, MALFORMED, record, timestamp_cases

UTC = timezone.utc


def parse(raw, **kwargs):
    kwargs.setdefault("fields", FACT_FIELDS)
    kwargs.setdefault("datetime_fields", TIMESTAMP_FIELDS)
    return parse_filters(raw, **kwargs)


def meta(key: str, op: str, value) -> Condition:
    return Condition(("metadata", key), op, value)


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, {}])
def test_no_filter(raw):
    assert parse(raw) is None


def test_equality_shorthand():
    assert parse({"kind": "note"}) == meta("kind", "eq", "note")
    assert parse({"n": 1.5}) == meta("n", "eq", 1.5)
    assert parse({"flag": False}) == meta("flag", "eq", False)
    assert parse({"tags": ["a", 1]}) == meta("tags", "eq", ("a", 1))


OPERANDS = {
    "eq": "x",
    "ne": 3,
    "in": ["a", 2],
    "nin": [True],
    "gt": 1,
    "gte": 1.5,
    "lt": "m",
    "lte": -2,
    "contains": "sub",
    "icontains": "SUB",
}


def test_operand_table_covers_every_operator():
    assert set(OPERANDS) == COMPARISON_OPS


@pytest.mark.parametrize("prefix", ["", "$"], ids=["plain", "dollar"])
@pytest.mark.parametrize("op", sorted(COMPARISON_OPS))
def test_every_operator_in_both_spellings(op, prefix):
    operand = OPERANDS[op]
    expected = tuple(operand) if isinstance(operand, list) else operand
    assert parse({"k": {prefix + op: operand}}) == meta("k", op, expected)


def test_several_operators_on_one_field_are_anded():
    assert parse({"n": {"gte": 1, "$lt": 5}}) == And((meta("n", "gte", 1), meta("n", "lt", 5)))


def test_several_keys_are_anded():
    assert parse({"a": 1, "b": {"ne": 2}}) == And((meta("a", "eq", 1), meta("b", "ne", 2)))


def test_top_level_fields_and_metadata_paths():
    assert parse({"user_id": "u1"}) == Condition(("user_id",), "eq", "u1")
    assert parse({"content": {"icontains": "x"}}) == Condition(("content",), "icontains", "x")
    assert parse({"metadata.user_id": "u1"}) == meta("user_id", "eq", "u1")
    assert parse({"metadata.a.b": 1}) == meta("a.b", "eq", 1)
    # agent_id is a fact field, not a document field
    assert parse({"agent_id": "x"}) == Condition(("agent_id",), "eq", "x")
    assert parse({"agent_id": "x"}, fields=DOCUMENT_FIELDS) == meta("agent_id", "eq", "x")
    # without declared fields everything is metadata
    assert parse_filters({"user_id": "u1"}) == meta("user_id", "eq", "u1")


@pytest.mark.parametrize("key", ["$and", "and", "AND", "$And"])
def test_and_spellings(key):
    assert parse({key: [{"a": 1}, {"b": 2}]}) == And((meta("a", "eq", 1), meta("b", "eq", 2)))


@pytest.mark.parametrize("key", ["$or", "or", "OR", "$Or"])
def test_or_spellings(key):
    assert parse({key: [{"a": 1}, {"b": 2}]}) == Or((meta("a", "eq", 1), meta("b", "eq", 2)))


@pytest.mark.parametrize("key", ["$not", "not", "NOT"])
def test_not_spellings(key):
    assert parse({key: {"a": 1}}) == Not(meta("a", "eq", 1))


def test_nesting():
    raw = {
        "$or": [
            {"and": [{"kind": "note"}, {"$not": {"user_id": "u1"}}]},
            {"NOT": {"$or": [{"n": {"$gte": 7}}, {"tags": {"contains": "x"}}]}},
        ],
        "flag": True,
    }
    assert parse(raw) == And(
        (
            Or(
                (
                    And((meta("kind", "eq", "note"), Not(Condition(("user_id",), "eq", "u1")))),
                    Not(Or((meta("n", "gte", 7), meta("tags", "contains", "x")))),
                )
            ),
            meta("flag", "eq", True),
        )
    )


def test_single_item_logic_keeps_its_node():
    assert parse({"$and": [{"a": 1}]}) == And((meta("a", "eq", 1),))
    assert parse({"$or": [{"a": 1}]}) == Or((meta("a", "eq", 1),))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:30:00+00:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12, 30, tzinfo=UTC), datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (date(2024, 5, 1), datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_operands(value, expected):
    node = parse({"created_at": {"gte": value}})
    assert node == Condition(("created_at",), "gte", expected)
    assert node.value.tzinfo is not None


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_timestamp_outside_the_calendar_in_utc_names_its_field(value):
    with pytest.raises(InvalidRequestError) as exc:
        parse({"$and": [{"created_at": {"gte": "2024-01-01"}}, {"updated_at": {"lt": value}}]})
    assert exc.value.field == "filters.$and[1].updated_at.lt"
    assert "outside the range" in exc.value.reason


def test_timestamp_lists_and_equality():
    node = parse({"updated_at": {"in": ["2024-01-01", "2024-01-02T00:00:00Z"]}})
    assert node.value == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    assert parse({"created_at": "2024-01-01"}).value == datetime(2024, 1, 1, tzinfo=UTC)
    # a metadata key named like a timestamp field is not a timestamp
    assert parse({"metadata.created_at": "2024-01-01"}) == meta("created_at", "eq", "2024-01-01")


@pytest.mark.parametrize(("name", "filters", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_filters_name_the_field(name, filters, field):
    with pytest.raises(InvalidRequestError) as exc:
        parse(filters, fields=DOCUMENT_FIELDS)
    assert exc.value.field == field
    assert exc.value.reason
    assert str(exc.value).startswith(f"{field}: ")


def test_where_prefixes_the_field():
    with pytest.raises(InvalidRequestError) as exc:
        parse({"$or": [{"n": {"gt": None}}]}, where="body.filters")
    assert exc.value.field == "body.filters.$or[0].n.gt"


def test_unknown_operator_lists_the_known_ones():
    with pytest.raises(InvalidRequestError) as exc:
        parse({"n": {"$between": [1, 2]}})
    for op in COMPARISON_OPS:
        assert op in exc.value.reason


# --- evaluation -----------------------------------------------------------------------------

RECORDS = {item.label: record(item) for item in ITEMS}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_conformance_table_through_matches(case):
    tree = parse(case.filters, fields=DOCUMENT_FIELDS)
    got = {label for label, rec in RECORDS.items() if matches(tree, rec)}
    assert got == set(case.expected)


def test_timestamp_cases_through_matches():
    base = datetime(2024, 1, 1, tzinfo=UTC)
    created = {item.label: base + timedelta(seconds=i // 2) for i, item in enumerate(ITEMS)}
    updated = {label: ts + timedelta(minutes=1) for label, ts in created.items()}
    records = {
        item.label: {
            **record(item),
            "created_at": created[item.label],
            "updated_at": updated[item.label],
        }
        for item in ITEMS
    }
    cases = timestamp_cases(created, updated)
    assert any(0 < len(case.expected) < len(ITEMS) for case in cases)
    for case in cases:
        tree = parse(case.filters, fields=DOCUMENT_FIELDS)
        got = {label for label, rec in records.items() if matches(tree, rec)}
        assert got == set(case.expected), case.name


def test_no_filter_matches_everything():
    assert matches(None, {})
    assert matches(None, {"metadata": {"a": 1}})


def test_timestamps_never_match_other_types():
    tree = parse({"created_at": {"gt": "2000-01-01"}})
    assert matches(tree, {"created_at": datetime(2024, 1, 1, tzinfo=UTC), "metadata": {}})
    assert not matches(tree, {"created_at": "2024-01-01", "metadata": {}})
    assert not matches(tree, {"metadata": {}})
    assert matches(parse({"created_at": {"ne": "2000-01-01"}}), {"metadata": {}})
