"""Models: flat metadata validation, the score mapping, timestamps and Page."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from pydantic import ValidationError

from memio.errors import InvalidRequestError
from memio.models import (
    MAX_METADATA_BYTES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_LIST_ITEMS,
    MAX_METADATA_LIST_LENGTH,
    MAX_METADATA_STRING_LENGTH,
    Document,
    DocumentInput,
    Fact,
    FactEvent,
    FactInput,
    GraphResult,
    Message,
    Page,
    Triple,
    check_text,
    cosine_score,
    utcnow,
    validate_metadata,
)

# --- validate_metadata ----------------------------------------------------------------------


def test_flat_metadata_is_accepted():
    metadata = {
        "s": "x",
        "empty": "",
        "i": -3,
        "f": 2.5,
        "yes": True,
        "no": False,
        "tags": ["a", 1, 2.5, False],
        "nothing": [],
    }
    assert validate_metadata(metadata) == metadata


def test_none_is_empty_metadata():
    assert validate_metadata(None) == {}


def test_result_is_a_copy():
    tags = ["a"]
    clean = validate_metadata({"tags": tags})
    tags.append("b")
    assert clean == {"tags": ["a"]}


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"ok": 1, "nested": {"a": 1}}, "metadata.nested"),
        ({"null": None}, "metadata.null"),
        ({"nan": math.nan}, "metadata.nan"),
        ({"inf": math.inf}, "metadata.inf"),
        ({"ninf": -math.inf}, "metadata.ninf"),
        ({"list": ["a", {"b": 1}]}, "metadata.list"),
        ({"list": [1, None]}, "metadata.list"),
        ({"list": [1.0, math.nan]}, "metadata.list"),
        ({"list": [[1, 2]]}, "metadata.list"),
        ({"tuple": (1, 2)}, "metadata.tuple"),
        ({"bytes": b"x"}, "metadata.bytes"),
        ({"set": {1}}, "metadata.set"),
        ({"": 1}, "metadata"),
        ({1: "x"}, "metadata"),
    ],
)
def test_invalid_metadata_names_the_key(metadata, field):
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata(metadata)
    assert exc.value.field == field


def test_reason_names_the_offending_kind():
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata({"a": None})
    assert "null" in exc.value.reason
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata({"a": {"b": 1}})
    assert "dict" in exc.value.reason


@pytest.mark.parametrize("metadata", ["text", ["a"], 3])
def test_metadata_must_be_an_object(metadata):
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata(metadata)
    assert exc.value.field == "metadata"


def test_custom_field_prefix():
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata({"a": None}, field="documents[2].metadata")
    assert exc.value.field == "documents[2].metadata.a"


@pytest.mark.parametrize(
    "build",
    [
        lambda md: Fact(id="f", content="x", metadata=md),
        lambda md: FactInput(content="x", metadata=md),
        lambda md: Document(id="d", content="x", metadata=md),
        lambda md: DocumentInput(content="x", metadata=md),
        lambda md: Message(role="user", content="x", metadata=md),
        lambda md: Triple(subject="a", predicate="b", object="c", metadata=md),
    ],
    ids=["Fact", "FactInput", "Document", "DocumentInput", "Message", "Triple"],
)
def test_models_validate_metadata(build):
    assert build(None).metadata == {}
    assert build({"a": [1, "b"]}).metadata == {"a": [1, "b"]}
    for bad, field in (
        ({"deep": {"x": 1}}, "metadata.deep"),
        ({"gone": None}, "metadata.gone"),
        ({"nan": math.nan}, "metadata.nan"),
    ):
        with pytest.raises(InvalidRequestError) as exc:
            build(bad)
        assert exc.value.field == field


def test_models_forbid_unknown_fields():
    with pytest.raises(ValidationError):
        Fact(id="f", content="x", bogus=1)
    with pytest.raises(ValidationError):
        Message.model_validate({"role": "user", "content": "x", "extra": True})
    with pytest.raises(ValidationError):
        GraphResult(triples=[], edges=[])


def test_message_content_must_be_text():
    with pytest.raises(ValidationError):
        Message.model_validate({"role": "user", "content": 5})
    assert Message(role="user", content="").content == ""


# --- scores, timestamps, Page ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("similarity", "score"),
    [
        (-1.0, 0.0),
        (-0.2, 0.0),
        (0.0, 0.0),
        (0.3, 0.3),
        (1.0, 1.0),
        (1.0000002, 1.0),
        (math.nan, 0.0),
    ],
)
def test_cosine_score_clips_to_unit_interval(similarity, score):
    result = cosine_score(similarity)
    assert isinstance(result, float)
    assert result == pytest.approx(score)


def test_utcnow_is_timezone_aware_utc():
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_page_is_a_list_with_a_cursor():
    page = Page([1, 2, 3], next_cursor="abc")
    assert isinstance(page, list)
    assert page == [1, 2, 3]
    assert page.next_cursor == "abc"
    assert Page().next_cursor is None
    assert list(Page(iter("ab"))) == ["a", "b"]
    assert "next_cursor='abc'" in repr(page)


def test_graph_result_defaults():
    result = GraphResult()
    assert (result.triples, result.nodes, result.scores, result.next_cursor) == ([], [], [], None)


# --- NUL, the metadata caps, the write outcome (decisions D2, D6, D7) --------------------------


def test_nul_is_refused_in_text_and_metadata():
    with pytest.raises(InvalidRequestError) as exc:
        check_text("a\x00b", field="content")
    assert exc.value.field == "content" and "NUL" in exc.value.reason
    check_text("", field="content")  # emptiness is the caller's rule, not check_text's
    for metadata, field in (({"k": "a\x00"}, "metadata.k"), ({"k\x00": 1}, "metadata.k\x00")):
        with pytest.raises(InvalidRequestError) as exc:
            validate_metadata(metadata)
        assert exc.value.field == field


@pytest.mark.parametrize(
    ("metadata", "field", "limit"),
    [
        ({f"k{i}": i for i in range(MAX_METADATA_KEYS + 1)}, "metadata", MAX_METADATA_KEYS),
        ({"k" * 300: 1}, "metadata." + "k" * 64 + "...", MAX_METADATA_KEY_LENGTH),
        ({"s": "x" * 9000}, "metadata.s", MAX_METADATA_STRING_LENGTH),
        ({"l": ["ok", "x" * 9000]}, "metadata.l", MAX_METADATA_STRING_LENGTH),
        ({"l": [0] * 1001}, "metadata.l", MAX_METADATA_LIST_LENGTH),
        ({"a": [0] * 1000, "b": [0] * 1000, "c": [0]}, "metadata", MAX_METADATA_LIST_ITEMS),
        ({f"s{i}": "é" * 4000 for i in range(9)}, "metadata", MAX_METADATA_BYTES),
    ],
    ids=["keys", "key-length", "string", "list-item", "list-length", "list-items", "bytes"],
)
def test_metadata_caps_name_the_field_and_the_limit(metadata, field, limit):
    with pytest.raises(InvalidRequestError) as exc:
        validate_metadata(metadata)
    assert exc.value.field == field
    assert str(limit) in exc.value.reason
    # What a store already holds is never refused on the way out.
    assert validate_metadata(metadata, write=False) == metadata


def test_size_counts_utf8_bytes_of_compact_json():
    # 8 strings of 4,000 "é" (2 bytes each in UTF-8, 1 character): 64,000 bytes of text fits,
    # 9 do not (the "bytes" case above).
    fits = {f"s{i}": "é" * 4000 for i in range(8)}
    assert validate_metadata(fits) == fits
    huge_int = {"n": 10**5000}  # str() refuses it; the size is estimated from its bit length
    validate_metadata(huge_int)
    with pytest.raises(InvalidRequestError):
        validate_metadata({f"n{i}": 10**5000 for i in range(14)})


def test_records_read_back_skip_the_write_checks():
    stored = {f"k{i}": "x\x00" for i in range(MAX_METADATA_KEYS + 1)}
    assert Fact(id="f", content="x", metadata=stored).metadata == stored
    assert Document(id="d", content="x", metadata=stored).metadata == stored
    with pytest.raises(InvalidRequestError):
        FactInput(content="x", metadata=stored)
    with pytest.raises(InvalidRequestError):
        DocumentInput(content="x", metadata=stored)


def test_fact_event_is_neither_serialized_nor_compared():
    added = Fact(id="f", content="x", event="ADD")
    stored = Fact(id="f", content="x")
    assert added == stored and added.event == "ADD" and stored.event is None
    assert "event" not in added.model_dump() and "event" not in added.model_dump_json()
    assert added != Fact(id="f", content="y", event="ADD")
    with pytest.raises(ValidationError):
        Fact(id="f", content="x", event="DELETE")


def test_fact_event_names_the_scope():
    event = FactEvent(
        id="e", fact_id="f", event="DELETE", user_id="alice", app_id="app", created_at=utcnow()
    )
    assert (event.user_id, event.agent_id, event.app_id, event.run_id) == (
        "alice",
        None,
        "app",
        None,
    )
