"""An Embedder for any OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, LiteLLM...).

Only used when a user configures a remote embedder; memio's default stays offline. Vectors are
re-normalised here because not every compatible server returns unit vectors, and the dimension
is checked because a wrong one would corrupt a vector index silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from memio.errors import ProviderError
from memio.http_retry import send_with_retries

__all__ = ["OpenAIEmbedder"]

PROVIDER = "openai-embedder"


class OpenAIEmbedder:
    """POSTs `{"model", "input": [...]}` to `{base_url}/embeddings`, `batch_size` texts a request.

    Connection failures are retried by the transport; 408/409/429/5xx answers up to `max_retries`
    times, waiting as the server's Retry-After says or else with jittered exponential backoff
    (`memio.http_retry`). Every other failure is a
    `ProviderError(provider="openai-embedder", operation="embed")`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        dimensions: int,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 256,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        if dimensions < 1 or batch_size < 1 or max_retries < 0:
            raise ValueError("dimensions and batch_size must be >= 1, max_retries >= 0")
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=httpx.AsyncHTTPTransport(retries=max_retries),
        )

    def _error(self, message: str, cause: BaseException | None = None) -> ProviderError:
        return ProviderError(message, provider=PROVIDER, operation="embed", cause=cause)

    async def _post(self, batch: list[str]) -> dict[str, Any]:
        def send() -> Any:
            return self._client.post("embeddings", json={"model": self.model, "input": batch})

        try:
            response = await send_with_retries(
                send, max_retries=self.max_retries, backoff=self.retry_backoff
            )
        except httpx.HTTPError as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", exc) from exc
        if response.is_error:
            body = response.text[:300]
            raise self._error(f"HTTP {response.status_code} from {response.url}: {body}")
        try:
            return response.json()
        except ValueError as exc:
            raise self._error("response is not JSON", exc) from exc

    def _parse(self, payload: dict[str, Any], expected: int) -> np.ndarray:
        try:
            items = sorted(payload["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(f"malformed embeddings response: {exc!r}", exc) from exc
        if vectors.ndim != 2 or vectors.shape[0] != expected:
            raise self._error(f"asked for {expected} embeddings, got shape {vectors.shape}")
        if vectors.shape[1] != self.dimensions:
            raise self._error(
                f"model {self.model!r} returned {vectors.shape[1]} dimensions, "
                f"configured {self.dimensions}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dimensions), unit rows, in input order."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not a single str")
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = self._parse(await self._post(batch), len(batch))
        return out

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()
