"""Opaque, signed cursors bound to their listing, and page-size checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from memio.errors import InvalidRequestError
from memio.pagination import (
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    encode_cursor,
    int_position,
    use_cursor_secret,
)

SCOPE = {"user_id": "alice", "filters": {"kind": "note", "n": {"gte": 1}}}


def test_round_trip():
    cursor = encode_cursor({"after": 41, "key": "abc"}, scope=SCOPE)
    assert decode_cursor(cursor, scope=SCOPE) == {"after": 41, "key": "abc"}


def test_cursor_is_url_safe_text():
    cursor = encode_cursor({"after": "x" * 50 + "?&/+"}, scope=SCOPE)
    assert isinstance(cursor, str)
    assert not set(cursor) & set("+/=?&")


def test_scope_key_order_does_not_matter():
    cursor = encode_cursor({"after": 1}, scope={"a": 1, "b": {"y": 2, "x": 1}})
    assert decode_cursor(cursor, scope={"b": {"x": 1, "y": 2}, "a": 1}) == {"after": 1}


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor):
    assert decode_cursor(cursor, scope=SCOPE) is None


@pytest.mark.parametrize(
    "other",
    [
        {"user_id": "bob", "filters": SCOPE["filters"]},
        {"user_id": "alice", "filters": None},
        {"user_id": "alice", "filters": {"kind": "note"}},
        {"user_id": "alice"},
        {},
    ],
)
def test_cursor_replayed_in_another_scope_is_rejected(other):
    cursor = encode_cursor({"after": 1}, scope=SCOPE)
    with pytest.raises(InvalidRequestError) as exc:
        decode_cursor(cursor, scope=other)
    assert exc.value.field == "cursor"


def _b64(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%%",
        _b64(b"not json"),
        _b64(b"[1, 2]"),
        _b64(json.dumps({"p": {"after": 1}}).encode()),
        _b64(json.dumps({"s": "abc"}).encode()),
        _b64(json.dumps({"p": [1], "s": "abc"}).encode()),
        _b64(b"\xff\xfe"),
    ],
)
def test_garbage_is_rejected(cursor):
    with pytest.raises(InvalidRequestError) as exc:
        decode_cursor(cursor, scope=SCOPE)
    assert exc.value.field == "cursor"


def test_forged_position_with_wrong_fingerprint_is_rejected():
    forged = _b64(json.dumps({"p": {"after": 0}, "s": "000000000000"}).encode())
    with pytest.raises(InvalidRequestError):
        decode_cursor(forged, scope=SCOPE)


def test_custom_field_name():
    with pytest.raises(InvalidRequestError) as exc:
        decode_cursor("garbage", scope=SCOPE, field="page_token")
    assert exc.value.field == "page_token"


@pytest.mark.parametrize("limit", [1, 10, MAX_LIMIT])
def test_check_limit_accepts(limit):
    assert check_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, True, False, 1.0, 10.5, "10", None])
def test_check_limit_rejects(limit):
    with pytest.raises(InvalidRequestError) as exc:
        check_limit(limit)
    assert exc.value.field == "limit"


def test_check_limit_custom_field_and_maximum():
    assert check_limit(5, field="depth", maximum=5) == 5
    with pytest.raises(InvalidRequestError) as exc:
        check_limit(6, field="depth", maximum=5)
    assert exc.value.field == "depth"
    assert "5" in exc.value.reason


def test_int_position_reads_a_keyset_position():
    assert int_position(None) == -1
    assert int_position(None, "offset", first=0) == 0
    assert int_position({"after": 41}) == 41
    assert int_position({"offset": 0}, "offset", first=0) == 0


@pytest.mark.parametrize(
    "position", [{}, {"after": "3"}, {"after": True}, {"after": 1.5}, {"after": -2}]
)
def test_int_position_rejects_what_memio_never_issued(position):
    with pytest.raises(InvalidRequestError) as info:
        int_position(position)
    assert info.value.field == "cursor"


def _payload(cursor: str) -> dict:
    body = cursor.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_an_unsigned_cursor_is_refused_even_with_the_right_fingerprint():
    issued = encode_cursor({"after": 1}, scope=SCOPE)
    unsigned = _b64(json.dumps(_payload(issued)).encode())
    with pytest.raises(InvalidRequestError) as exc:
        decode_cursor(unsigned, scope=SCOPE)
    assert (exc.value.field, exc.value.reason) == ("cursor", "not a cursor this server issued")


def test_a_changed_position_breaks_the_signature():
    issued = encode_cursor({"after": 1}, scope=SCOPE)
    payload = _payload(issued)
    payload["p"]["after"] = 10**30
    forged = _b64(json.dumps(payload, separators=(",", ":")).encode()) + "." + issued.split(".")[1]
    with pytest.raises(InvalidRequestError, match="not a cursor this server issued"):
        decode_cursor(forged, scope=SCOPE)


def test_a_cursor_signed_with_another_secret_is_refused():
    raw = json.dumps(_payload(encode_cursor({"after": 1}, scope=SCOPE))).encode()
    tag = hmac.new(b"some other key", raw, hashlib.sha256).digest()[:16]
    with pytest.raises(InvalidRequestError, match="not a cursor this server issued"):
        decode_cursor(f"{_b64(raw)}.{_b64(tag)}", scope=SCOPE)


def test_the_same_secret_gives_cursors_every_holder_accepts():
    """Two replicas with one secret: a cursor one signs, the other accepts (the key is derived
    from the secret alone); earlier keys of this process stay accepted."""
    use_cursor_secret("replica secret " * 2)
    issued = encode_cursor({"after": 7}, scope=SCOPE)
    use_cursor_secret("a later app's secret")
    assert decode_cursor(issued, scope=SCOPE) == {"after": 7}
    raw, tag = issued.split(".")
    key = hashlib.sha256(b"memio cursor key\0" + ("replica secret " * 2).encode()).digest()
    body = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    assert _b64(hmac.new(key, body, hashlib.sha256).digest()[:16]) == tag
