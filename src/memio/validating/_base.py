"""What every validating store shares."""

from __future__ import annotations

from typing import Any

from memio.closing import Closing

__all__ = ["Validating"]


class Validating(Closing):
    """What every validating store shares: the provider below it, closing, forwarding."""

    def __init__(self, provider: Any) -> None:
        self.adapter = provider

    @property
    def provider(self) -> str:
        return self.adapter.provider

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: a provider's own extras.
        return getattr(self.__dict__["adapter"], name)

    async def count(self) -> int:
        return await self.adapter.count()

    async def ping(self) -> None:
        await self.adapter.ping()

    async def aclose(self) -> None:
        await self.adapter.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.adapter!r})"
