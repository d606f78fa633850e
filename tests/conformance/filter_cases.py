"""The portable filter table: one dataset, the filters to run over it and the items each must match.

The facts and documents suites store `ITEMS` (labels map to whatever ids the store assigns) and
run every case through `get_all` and `search`; `tests/test_filters.py` runs the same table through
`memio.filters.matches`, so the table, the reference evaluator and every provider agree.
The top-level fields used here (`content`, `user_id`, `created_at`, `updated_at`) exist on both
facts and documents. `MALFORMED` lists filters that must be rejected, with the exact field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from memio.errors import InvalidRequestError


@dataclass(frozen=True)
class Item:
    label: str
    content: str
    user_id: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class FilterCase:
    name: str
    filters: Any
    expected: frozenset[str]


ITEMS: tuple[Item, ...] = (
    Item(
        "a",
        "Alpha note about hiking trails",
        "u1",
        {"kind": "note", "n": 1, "weight": 0.5, "flag": True, "tags": ["x", "y"], "name": "alpha"},
    ),
    Item(
        "b",
        "Beta task about grocery shopping",
        "u1",
        {"kind": "task", "n": 2, "weight": 1.5, "flag": False, "tags": ["y"], "name": "beta"},
    ),
    Item(
        "c",
        "Gamma note on the stock market",
        "u2",
        {"kind": "note", "n": 1.0, "weight": 2.25, "flag": False, "tags": ["Z"], "name": "Gamma"},
    ),
    Item(
        "d",
        "Delta reminder to call mom",
        "u2",
        # n is a string, flag the integer 1, and a metadata key that shadows a top-level field.
        {"kind": "reminder", "n": "3", "flag": 1, "name": "delta", "user_id": "meta"},
    ),
    Item("e", "Epsilon without any metadata", None, {}),
    Item(
        "f",
        "Zeta idea for a birthday party",
        "u1",
        {"kind": "idea", "n": 7, "weight": -1.0, "name": "zeta"},
    ),
)

LABELS = frozenset(item.label for item in ITEMS)


def _case(name: str, filters: Any, expected: str) -> FilterCase:
    return FilterCase(name, filters, frozenset(expected))


CASES: tuple[FilterCase, ...] = (
    # equality: str / int / float / bool, 1 == 1.0, True != 1, strings never equal numbers
    _case("eq-str", {"kind": "note"}, "ac"),
    _case("eq-str-op", {"kind": {"eq": "note"}}, "ac"),
    _case("eq-str-dollar-op", {"kind": {"$eq": "note"}}, "ac"),
    _case("eq-int", {"n": 2}, "b"),
    _case("eq-int-matches-float", {"n": 1}, "ac"),
    _case("eq-float-matches-int", {"n": 1.0}, "ac"),
    _case("eq-float", {"weight": 2.25}, "c"),
    _case("eq-bool-true-not-int", {"flag": True}, "a"),
    _case("eq-bool-false", {"flag": False}, "bc"),
    _case("eq-int-not-bool", {"flag": 1}, "d"),
    _case("eq-int-vs-str", {"n": 3}, ""),
    _case("eq-str-vs-int", {"n": "3"}, "d"),
    _case("eq-list-whole", {"tags": ["x", "y"]}, "a"),
    _case("eq-list-order-matters", {"tags": ["y", "x"]}, ""),
    _case("eq-scalar-vs-list", {"tags": "y"}, ""),
    _case("eq-missing-key", {"nope": "x"}, ""),
    # ne / nin also match items that lack the field
    _case("ne-matches-missing", {"kind": {"ne": "note"}}, "bdef"),
    _case("ne-bool-dollar", {"flag": {"$ne": True}}, "bcdef"),
    _case("ne-missing-key", {"nope": {"ne": "x"}}, "abcdef"),
    _case("in", {"kind": {"in": ["note", "reminder"]}}, "acd"),
    _case("in-mixed-types", {"n": {"$in": [2, "3"]}}, "bd"),
    _case("in-int-matches-float", {"n": {"in": [1]}}, "ac"),
    _case("nin-matches-missing", {"kind": {"nin": ["note", "task"]}}, "def"),
    _case("nin-bool-dollar", {"flag": {"$nin": [False]}}, "adef"),
    # ordering: numbers with numbers, strings with strings; other pairs never match
    _case("gt-int", {"n": {"gt": 1}}, "bf"),
    _case("gte-int", {"n": {"gte": 1}}, "abcf"),
    _case("lt-int", {"n": {"lt": 2}}, "ac"),
    _case("lte-int-dollar", {"n": {"$lte": 2}}, "abc"),
    _case("range-two-ops", {"n": {"gt": 1, "lte": 7}}, "bf"),
    _case("range-half-open", {"n": {"$gte": 1, "$lt": 2}}, "ac"),
    _case("gt-float", {"weight": {"gt": 0.5}}, "bc"),
    _case("lte-float", {"weight": {"lte": 0.5}}, "af"),
    _case("lt-float-vs-int", {"weight": {"lt": 1}}, "af"),
    _case("gt-str", {"name": {"gt": "beta"}}, "df"),
    _case("lte-str-codepoint-order", {"name": {"lte": "beta"}}, "abc"),
    _case("gt-str-skips-numbers", {"n": {"gt": "2"}}, "d"),
    _case("gt-num-skips-strings", {"name": {"gt": 0}}, ""),
    # contains / icontains: substring of a string, element of a list
    _case("contains-str", {"name": {"contains": "amm"}}, "c"),
    _case("contains-str-case-sensitive", {"name": {"contains": "GAM"}}, ""),
    _case("icontains-str", {"name": {"icontains": "GAM"}}, "c"),
    _case("contains-list", {"tags": {"contains": "y"}}, "ab"),
    _case("contains-list-case-sensitive", {"tags": {"$contains": "z"}}, ""),
    _case("icontains-list", {"tags": {"$icontains": "z"}}, "c"),
    _case("contains-number-field", {"n": {"contains": "1"}}, ""),
    # top-level fields vs metadata
    _case("content-icontains", {"content": {"icontains": "NOTE"}}, "ac"),
    _case("user-id", {"user_id": "u2"}, "cd"),
    _case("user-id-ne-matches-unset", {"user_id": {"ne": "u1"}}, "cde"),
    _case("user-id-in", {"user_id": {"$in": ["u1"]}}, "abf"),
    _case("metadata-explicit-path", {"metadata.kind": "note"}, "ac"),
    _case("metadata-shadowing-top-level", {"metadata.user_id": "meta"}, "d"),
    _case("top-level-is-not-metadata", {"user_id": "meta"}, ""),
    # logic
    _case("and-of-keys", {"kind": "note", "flag": False}, "c"),
    _case("and", {"$and": [{"kind": "note"}, {"n": 1}]}, "ac"),
    _case("and-plain", {"and": [{"user_id": "u1"}, {"n": {"gte": 2}}]}, "bf"),
    _case("or", {"$or": [{"kind": "task"}, {"kind": "idea"}]}, "bf"),
    _case("or-upper", {"OR": [{"name": "alpha"}, {"weight": {"lt": 0}}]}, "af"),
    _case("not", {"$not": {"kind": "note"}}, "bdef"),
    _case("not-plain", {"not": {"user_id": "u1"}}, "cde"),
    _case("not-of-or", {"$not": {"$or": [{"flag": True}, {"flag": False}]}}, "def"),
    _case(
        "nested",
        {"$or": [{"$and": [{"kind": "note"}, {"$not": {"user_id": "u1"}}]}, {"n": {"$gte": 7}}]},
        "cf",
    ),
    _case("empty-filter", {}, "abcdef"),
)


def timestamp_cases(
    created: Mapping[str, datetime], updated: Mapping[str, datetime]
) -> list[FilterCase]:
    """created_at / updated_at cases, expected sets computed from the timestamps the store
    returned (so equal timestamps cannot make the table flaky). Filters use ISO 8601 strings."""
    labels = sorted(created, key=lambda label: (created[label], label))
    mid = created[labels[len(labels) // 2]]
    mid_updated = updated[labels[len(labels) // 2]]
    iso = mid.isoformat()
    zulu = mid.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

    def where(test) -> frozenset[str]:
        return frozenset(label for label in created if test(label))

    return [
        FilterCase(
            "created-gte-iso", {"created_at": {"gte": iso}}, where(lambda x: created[x] >= mid)
        ),
        FilterCase(
            "created-lt-iso", {"created_at": {"$lt": iso}}, where(lambda x: created[x] < mid)
        ),
        FilterCase(
            "created-gt-zulu", {"created_at": {"gt": zulu}}, where(lambda x: created[x] > mid)
        ),
        FilterCase("created-eq-iso", {"created_at": iso}, where(lambda x: created[x] == mid)),
        FilterCase(
            "updated-lte-iso",
            {"updated_at": {"lte": mid_updated.isoformat()}},
            where(lambda x: updated[x] <= mid_updated),
        ),
        FilterCase("created-gt-date", {"created_at": {"gt": "2000-01-01"}}, frozenset(created)),
        FilterCase(
            "created-lt-old", {"created_at": {"lt": "2000-01-01T00:00:00+00:00"}}, frozenset()
        ),
        FilterCase(
            "created-and-metadata",
            {"$and": [{"created_at": {"gte": iso}}, {"kind": "note"}]},
            where(lambda x: created[x] >= mid and x in {"a", "c"}),
        ),
    ]


# (name, filters, field of the InvalidRequestError)
MALFORMED: tuple[tuple[str, Any, str], ...] = (
    ("not-an-object", "kind=note", "filters"),
    ("list-not-object", [{"kind": "note"}], "filters"),
    ("empty-key", {"": 1}, "filters"),
    ("non-string-key", {1: "x"}, "filters"),
    ("and-not-list", {"$and": {"kind": "note"}}, "filters.$and"),
    ("and-empty", {"$and": []}, "filters.$and"),
    ("or-item-not-object", {"$or": [{"kind": "note"}, "x"]}, "filters.$or[1]"),
    ("or-item-empty", {"or": [{"kind": "note"}, {}]}, "filters.or[1]"),
    ("not-empty", {"$not": {}}, "filters.$not"),
    ("not-list", {"NOT": [{"kind": "note"}]}, "filters.NOT"),
    ("empty-operator-object", {"kind": {}}, "filters.kind"),
    ("null-value", {"kind": None}, "filters.kind"),
    ("unknown-operator", {"kind": {"$regex": "no.*"}}, "filters.kind.$regex"),
    ("unknown-plain-operator", {"kind": {"like": "no%"}}, "filters.kind.like"),
    ("in-not-list", {"kind": {"in": "note"}}, "filters.kind.in"),
    ("nin-empty", {"kind": {"$nin": []}}, "filters.kind.$nin"),
    ("in-null-item", {"kind": {"in": ["note", None]}}, "filters.kind.in[1]"),
    ("eq-object", {"kind": {"eq": {"x": 1}}}, "filters.kind.eq"),
    ("eq-list-null-item", {"tags": {"eq": ["x", None]}}, "filters.tags.eq[1]"),
    ("gt-bool", {"n": {"gt": True}}, "filters.n.gt"),
    ("gte-list", {"n": {"$gte": [1]}}, "filters.n.$gte"),
    ("icontains-number", {"name": {"icontains": 1}}, "filters.name.icontains"),
    ("metadata-dot-no-key", {"metadata.": "x"}, "filters.metadata."),
    ("timestamp-not-iso", {"created_at": {"gt": "yesterday"}}, "filters.created_at.gt"),
    ("timestamp-number", {"updated_at": {"lt": 5}}, "filters.updated_at.lt"),
    ("timestamp-icontains", {"created_at": {"icontains": "2024"}}, "filters.created_at.icontains"),
    ("timestamp-contains", {"created_at": {"$contains": "2024"}}, "filters.created_at.$contains"),
    (
        "timestamp-in-item",
        {"created_at": {"in": ["2024-01-01", "soon"]}},
        "filters.created_at.in[1]",
    ),
    (
        "deeply-nested",
        {"$and": [{"kind": "note"}, {"$or": [{"n": {"lt": {"a": 1}}}]}]},
        "filters.$and[1].$or[0].n.lt",
    ),
    ("second-key-bad", {"kind": "note", "n": {"between": [1, 2]}}, "filters.n.between"),
)


def record(item: Item, *, created_at: datetime | None = None) -> dict[str, Any]:
    """An ITEMS entry as the record `memio.filters.matches` sees (top-level fields + metadata)."""
    return {
        "id": item.label,
        "content": item.content,
        "user_id": item.user_id,
        "created_at": created_at,
        "updated_at": created_at,
        "metadata": dict(item.metadata),
    }


async def filter_table_failures(store: Any, stored: Mapping[str, Any]) -> list[str]:
    """Run every case through `store.get_all` and `store.search` (facts or documents).

    `stored` maps each ITEMS label to what `store.add` returned for it. Returns the mismatches.
    """
    labels = {record.id: label for label, record in stored.items()}
    creation = [item.label for item in ITEMS]
    cases = [
        *CASES,
        *timestamp_cases(
            {label: record.created_at for label, record in stored.items()},
            {label: record.updated_at for label, record in stored.items()},
        ),
    ]
    failures = []
    for case in cases:
        listed = await store.get_all(filters=case.filters, limit=100)
        found = await store.search(query="a note", filters=case.filters, limit=100)
        for how, results in (("get_all", listed), ("search", found)):
            got = {labels[r.id] for r in results}
            if got != case.expected or len(results) != len(got):
                failures.append(
                    f"{case.name} via {how}: got {sorted(got)}, want {sorted(case.expected)}"
                )
        order = [labels[r.id] for r in listed]
        if order != sorted(order, key=creation.index):
            failures.append(f"{case.name} via get_all: {order} is not in creation order")
    return failures


async def malformed_failures(store: Any) -> list[str]:
    """Every MALFORMED filter must be an InvalidRequestError naming its field, in both calls."""
    failures = []
    for name, filters, field in MALFORMED:
        for how, call in (
            ("get_all", lambda f=filters: store.get_all(filters=f)),
            ("search", lambda f=filters: store.search(query="x", filters=f)),
        ):
            try:
                await call()
            except InvalidRequestError as exc:
                if exc.field != field:
                    failures.append(f"{name} via {how}: field {exc.field!r}, want {field!r}")
            else:
                failures.append(f"{name} via {how}: accepted")
    return failures
