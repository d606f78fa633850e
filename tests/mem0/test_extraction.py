"""Fact extraction for ``infer: true``: `ExtractionLLM` against the local fake OpenAI-compatible
server, then a real memio-server configured with it (the SDK's add stores what the LLM
extracted; an LLM failure is a 502 naming the provider and the operation)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memio.config import config_from_dict
from memio.errors import ProviderError
from memio.server.mem0_api.extraction import OPERATION, PROVIDER, ExtractionLLM, parse_facts
from tests.mem0.conftest import ADMIN_KEY, APP_KEY, server_config
from tests.support.openai_fake import FakeOpenAI
from tests.support.server_process import free_port

LLM_KEY = "sk-extraction-test-key"


def extract_user_lines(request: dict[str, Any]) -> str:
    """The fake LLM: one fact per user line of the conversation it is shown."""
    conversation = request["messages"][-1]["content"]
    facts = [
        f"Said: {line.split(':', 1)[1].strip()}"
        for line in conversation.splitlines()
        if line.startswith("user:")
    ]
    return json.dumps({"facts": facts})


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chat_handler=extract_user_lines) as server:
        yield server


@pytest.fixture
def fake_llm(llm_server: FakeOpenAI) -> FakeOpenAI:
    """The module's fake LLM, with no recorded requests, no failure and the default handler."""
    llm_server.reset()
    llm_server.chat_handler = extract_user_lines
    return llm_server


# -- the client on its own -------------------------------------------------------------------


async def test_extract_sends_the_conversation_and_parses_the_facts(fake_llm: FakeOpenAI) -> None:
    llm = ExtractionLLM(base_url=fake_llm.base_url, model="tiny", api_key=LLM_KEY)
    facts = await llm.extract(
        [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "I live in Lyon"},
            {"role": "assistant", "content": "Nice city!"},
            {"role": "user", "content": "I am vegetarian"},
        ]
    )
    assert facts == ["Said: I live in Lyon", "Said: I am vegetarian"]
    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {LLM_KEY}"
    assert request.json["model"] == "tiny"
    assert request.json["response_format"] == {"type": "json_object"}
    system, user = request.json["messages"]
    assert system["role"] == "system" and '{"facts": [' in system["content"]
    assert "be nice" not in user["content"]
    assert "assistant: Nice city!" in user["content"]


async def test_a_custom_prompt_replaces_the_instructions(fake_llm: FakeOpenAI) -> None:
    llm = ExtractionLLM(base_url=fake_llm.base_url + "/", model="tiny")
    await llm.extract([{"role": "user", "content": "hi"}], prompt="Only food facts.")
    request = fake_llm.requests[-1]
    assert request.json["messages"][0]["content"] == "Only food facts."
    assert "authorization" not in request.headers


async def test_nothing_to_extract_makes_no_call(fake_llm: FakeOpenAI) -> None:
    llm = ExtractionLLM(base_url=fake_llm.base_url, model="tiny")
    assert await llm.extract([{"role": "system", "content": "rules"}]) == []
    assert fake_llm.count() == 0


@pytest.mark.parametrize(
    ("answer", "facts"),
    [
        ('{"facts": ["a", "b"]}', ["a", "b"]),
        ('```json\n{"facts": ["a"]}\n```', ["a"]),
        ('{"memory": [{"id": "0", "text": "a"}, {"id": "1", "text": "b"}]}', ["a", "b"]),
        ('{"memories": [{"fact": "a"}]}', ["a"]),
        ('["a", " a ", "", "b"]', ["a", "b"]),
        ('{"facts": []}', []),
    ],
)
def test_parse_facts_accepts_the_usual_shapes(answer: str, facts: list[str]) -> None:
    assert parse_facts(answer) == facts


@pytest.mark.parametrize(
    ("answer", "mentions"),
    [
        ("Sure! Here are the facts: tea", "not JSON"),
        ('{"answer": "tea"}', 'expected {"facts": [...]}'),
        ('{"facts": [1, 2]}', "facts must be strings"),
        ('{"facts": "tea"}', "expected"),
    ],
)
def test_parse_facts_rejects_other_answers(answer: str, mentions: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_facts(answer)
    assert (caught.value.provider, caught.value.operation) == (PROVIDER, OPERATION)
    assert mentions in caught.value.message


async def test_llm_failures_are_provider_errors(fake_llm: FakeOpenAI) -> None:
    llm = ExtractionLLM(base_url=fake_llm.base_url, model="tiny", retry_backoff=0.0)
    messages = [{"role": "user", "content": "hello"}]

    fake_llm.fail(503, message="overloaded", times=None)
    with pytest.raises(ProviderError, match="HTTP 503: overloaded") as caught:
        await llm.extract(messages)
    assert (caught.value.provider, caught.value.operation) == ("extraction-llm", "extract")
    assert fake_llm.count() == 3  # the first try and two retries
    fake_llm.recover()

    unreachable = ExtractionLLM(base_url=f"http://127.0.0.1:{free_port()}/v1", model="tiny")
    with pytest.raises(ProviderError, match="cannot reach"):
        await unreachable.extract(messages)

    fake_llm.chat_handler = lambda request: "not json at all"
    with pytest.raises(ProviderError, match="not JSON"):
        await llm.extract(messages)
    await llm.aclose()
    await unreachable.aclose()


async def test_llm_retries_throttling_over_one_connection(fake_llm: FakeOpenAI) -> None:
    """A 429 with Retry-After is waited out and retried; every call of one ExtractionLLM goes
    over the same HTTP connection (one client per process, not one per call)."""
    fake_llm.chat_handler = lambda request: '{"facts": ["Likes tea"]}'
    llm = ExtractionLLM(base_url=fake_llm.base_url, model="tiny", api_key="sk-x")
    messages = [{"role": "user", "content": "I like tea"}]
    fake_llm.fail(429, retry_after="0.3")
    assert await llm.extract(messages) == ["Likes tea"]
    assert await llm.extract(messages) == ["Likes tea"]
    first, retried, again = fake_llm.requests
    assert retried.received_at - first.received_at >= 0.3  # the server's Retry-After
    assert first.peer == retried.peer == again.peer
    assert again.headers["authorization"] == "Bearer sk-x"
    await llm.aclose()
    await llm.aclose()  # idempotent
    assert await llm.extract(messages) == ["Likes tea"]  # a closed one opens a new client
    assert fake_llm.requests[-1].peer != first.peer
    await llm.aclose()

    def slow(request: dict[str, Any]) -> str:
        time.sleep(1.0)
        return '{"facts": []}'

    fake_llm.chat_handler = slow
    impatient = ExtractionLLM(base_url=fake_llm.base_url, model="tiny", timeout=0.1)
    with pytest.raises(ProviderError, match="no answer"):
        await impatient.extract(messages)


def test_from_config() -> None:
    assert ExtractionLLM.from_config(config_from_dict({}, env={})) is None
    config = config_from_dict(
        {"extraction": {"llm": {"base_url": "${LLM_URL}", "model": "m", "api_key": "${LLM_KEY}"}}},
        env={"LLM_URL": "http://127.0.0.1:9/v1", "LLM_KEY": "sk-x"},
    )
    llm = ExtractionLLM.from_config(config)
    assert (llm.base_url, llm.model, llm.api_key, llm.timeout) == (
        "http://127.0.0.1:9/v1",
        "m",
        "sk-x",
        60.0,
    )
    assert llm.url == "http://127.0.0.1:9/v1/chat/completions"


# -- through a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def extraction_server(
    llm_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from tests.support.server_process import run_server

    config = server_config(
        {"provider": "memory"},
        tmp_path_factory.mktemp("mem0-extraction"),
        extraction={"llm": {"base_url": llm_server.base_url, "model": "tiny", "api_key": LLM_KEY}},
    )
    with run_server(config) as proc:
        yield proc.base_url


@pytest.fixture
def server(extraction_server: str, fake_llm: FakeOpenAI) -> str:
    return extraction_server


def test_sdk_add_stores_the_extracted_facts(server: str, fake_llm: FakeOpenAI) -> None:
    from mem0 import MemoryClient

    client = MemoryClient(api_key=APP_KEY, host=server)
    try:
        answer = client.add(
            [
                {"role": "user", "content": "I moved to Lyon last year"},
                {"role": "assistant", "content": "How do you like it?"},
                {"role": "user", "content": "I love the food"},
            ],
            user_id="alice",
        )
        assert answer["memio_infer"] == "extracted"
        assert [r["memory"] for r in answer["results"]] == [
            "Said: I moved to Lyon last year",
            "Said: I love the food",
        ]
        assert [r["event"] for r in answer["results"]] == ["ADD", "ADD"]
        stored = client.get_all(filters={"user_id": "alice"})
        assert [m["memory"] for m in stored["results"]] == [r["memory"] for r in answer["results"]]
        assert fake_llm.count("/v1/chat/completions") == 1
        assert fake_llm.requests[-1].headers["authorization"] == f"Bearer {LLM_KEY}"

        raw = client.add("I have a dog", user_id="alice", infer=False)
        assert raw["memio_infer"] == "off"
        assert [r["memory"] for r in raw["results"]] == ["I have a dog"]
        assert fake_llm.count("/v1/chat/completions") == 1  # infer false: no LLM call

        fake_llm.chat_handler = lambda request: '{"facts": []}'
        nothing = client.add("hello there", user_id="alice")
        assert nothing["results"] == [] and nothing["memio_infer"] == "extracted"
        assert client.get_all(filters={"user_id": "alice"})["count"] == 3
    finally:
        client.client.close()


def test_selfhosted_add_extracts_with_the_given_prompt(server: str, fake_llm: FakeOpenAI) -> None:
    response = httpx.post(
        f"{server}/memories",
        headers={"X-API-Key": APP_KEY},
        json={
            "messages": [{"role": "user", "content": "my sister is called Ana"}],
            "agent_id": "bot",
            "prompt": "Extract family facts.",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-memio-infer"] == "extracted"
    assert [r["memory"] for r in response.json()["results"]] == ["Said: my sister is called Ana"]
    assert fake_llm.requests[-1].json["messages"][0]["content"] == "Extract family facts."


def test_platform_custom_instructions_are_the_extraction_prompt(
    server: str, fake_llm: FakeOpenAI
) -> None:
    from mem0 import MemoryClient

    client = MemoryClient(api_key=APP_KEY, host=server)
    try:
        client.add("my cat is Tom", user_id="cara", custom_instructions="Extract pet facts.")
    finally:
        client.client.close()
    assert fake_llm.requests[-1].json["messages"][0]["content"] == "Extract pet facts."


def test_llm_failure_answers_502_naming_provider_and_operation(
    server: str, fake_llm: FakeOpenAI
) -> None:
    from mem0 import MemoryClient
    from mem0.exceptions import NetworkError

    fake_llm.fail(500, times=None, message="model crashed")
    response = httpx.post(
        f"{server}/v3/memories/add/",
        headers={"Authorization": f"Token {APP_KEY}"},
        json={"messages": [{"role": "user", "content": "I like tea"}], "user_id": "bob"},
    )
    assert response.status_code == 502
    body = response.json()
    assert (body["provider"], body["operation"]) == ("extraction-llm", "extract")
    assert "HTTP 500: model crashed" in body["detail"]

    client = MemoryClient(api_key=APP_KEY, host=server)
    try:
        with pytest.raises(NetworkError, match=r"extraction-llm\.extract failed") as caught:
            client.add("I like tea", user_id="bob")
        assert caught.value.debug_info["status_code"] == 502
        fake_llm.recover()
        fake_llm.chat_handler = lambda request: "I could not find any facts, sorry."
        with pytest.raises(NetworkError, match="not JSON"):
            client.add("I like tea", user_id="bob")
        assert client.get_all(filters={"user_id": "bob"})["count"] == 0  # nothing half-stored
    finally:
        client.client.close()


def test_configure_shows_the_llm_but_not_its_key(server: str, fake_llm: FakeOpenAI) -> None:
    shown = httpx.get(f"{server}/configure", headers={"X-API-Key": ADMIN_KEY})
    llm = shown.json()["extraction"]["llm"]
    assert llm["base_url"] == fake_llm.base_url and llm["model"] == "tiny"
    assert llm["api_key"] == "***"
    assert LLM_KEY not in shown.text
