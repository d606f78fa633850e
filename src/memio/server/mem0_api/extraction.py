"""Fact extraction for the mem0 dialects' ``infer: true``, with an OpenAI-compatible LLM.

Configured in memio-server.yaml (nothing is called unless it is)::

    extraction:
      llm:
        base_url: http://127.0.0.1:11434/v1   # any OpenAI-compatible /chat/completions
        model: llama3.1
        api_key: ${OPENAI_API_KEY:-}
        timeout: 60

One chat-completions call per add (one HTTP client per server process, closed at shutdown;
429/5xx answers retried by `memio.http_retry`): the conversation goes in, a JSON object comes out,
``{"facts": ["...", ...]}``. Also accepted, because models and mem0 prompts vary: a bare list, or
``{"memory"|"memories"|"facts": [...]}`` whose items are strings or objects with
``text``/``fact``/``memory``. Any failure (unreachable, an HTTP error, an answer that is not such
JSON) is a ProviderError naming ``extraction-llm`` and ``extract`` (the server answers 502).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import httpx

from memio.errors import ProviderError
from memio.http_retry import send_with_retries

__all__ = ["OPERATION", "PROVIDER", "SYSTEM_PROMPT", "ExtractionLLM", "parse_facts"]

PROVIDER = "extraction-llm"
OPERATION = "extract"

SYSTEM_PROMPT = """\
You extract durable facts about the user (and the agent) from a conversation, for a memory store.
Keep what is worth remembering later: preferences, personal details, plans, relationships,
decisions, constraints. Write each fact as one short, self-contained sentence in the language of
the conversation ("Is vegetarian", "Lives in Lyon", "Prefers short answers"). Skip greetings,
small talk and anything only true for this moment. Today is {today}.
Answer with JSON only, exactly this shape: {{"facts": ["fact one", "fact two"]}}.
Answer {{"facts": []}} when there is nothing worth keeping."""

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_LIST_KEYS = ("facts", "memory", "memories")
_TEXT_KEYS = ("text", "fact", "memory", "content")


class ExtractionLLM:
    """An OpenAI-compatible chat-completions endpoint used to extract facts, over one HTTP client
    (its connections reused across calls; opened on first use, released by `aclose`)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=self.timeout, headers=headers)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent; a later call opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @classmethod
    def from_config(cls, config: Any) -> ExtractionLLM | None:
        """From the server config's ``extraction.llm`` section (None when it is absent)."""
        llm = getattr(getattr(config, "extraction", None), "llm", None)
        if llm is None:
            return None
        key = llm.api_key.get_secret_value() if llm.api_key is not None else None
        return cls(base_url=llm.base_url, model=llm.model, api_key=key or None, timeout=llm.timeout)

    @staticmethod
    def summary(config: Any) -> str:
        """What mem0 adds with ``infer`` do under `config`, for the start-up log and --check."""
        llm = getattr(getattr(config, "extraction", None), "llm", None)
        if llm is None:
            return "none (mem0 adds with infer store the user's messages as they are)"
        return f"{llm.model} at {llm.base_url}"

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"

    async def extract(
        self, messages: Sequence[Mapping[str, str]], *, prompt: str | None = None
    ) -> list[str]:
        """The facts the LLM finds in `messages` (``{"role", "content"}`` dicts; system messages
        are left out). `prompt` replaces the default instructions."""
        transcript = "\n".join(
            f"{m['role']}: {m['content']}" for m in messages if m.get("role") != "system"
        )
        if not transcript.strip():
            return []
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prompt or SYSTEM_PROMPT.format(today=date.today())},
                {"role": "user", "content": f"Conversation:\n{transcript}"},
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        client = self._http()
        try:
            response = await send_with_retries(
                lambda: client.post(self.url, json=body),
                max_retries=self.max_retries,
                backoff=self.retry_backoff,
            )
        except httpx.TimeoutException as exc:
            raise _error(f"no answer from {self.url} within {self.timeout:g} s", exc) from exc
        except httpx.HTTPError as exc:
            raise _error(f"cannot reach {self.url} ({type(exc).__name__})", exc) from exc
        if response.status_code >= 400:
            raise _error(f"{self.url} answered HTTP {response.status_code}: {_reason(response)}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _error("the answer is not a chat completion", exc) from exc
        return parse_facts(content)


def parse_facts(content: Any) -> list[str]:
    """The facts in an LLM answer (see the module docstring for the accepted shapes)."""
    if not isinstance(content, str):
        raise _error("the answer has no text content")
    fenced = _FENCE.match(content)
    text = fenced.group(1) if fenced else content
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _error(f"the answer is not JSON: {_clip(content)!r}", exc) from exc
    if isinstance(data, Mapping):
        items = next((data[key] for key in _LIST_KEYS if key in data), None)
    else:
        items = data
    if not isinstance(items, list):
        raise _error(f'expected {{"facts": [...]}}, got {_clip(text)!r}')
    facts: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            item = next((item[key] for key in _TEXT_KEYS if isinstance(item.get(key), str)), None)
        if not isinstance(item, str):
            raise _error(f"facts must be strings, got {_clip(json.dumps(item))!r}")
        if item.strip() and item.strip() not in facts:
            facts.append(item.strip())
    return facts


def _error(message: str, cause: BaseException | None = None) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, operation=OPERATION, cause=cause)


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, Mapping) else error
    except (ValueError, AttributeError):
        message = None
    return _clip(str(message) if message else response.text or response.reason_phrase)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."
