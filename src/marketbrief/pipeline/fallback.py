"""Providers tried in order: the first non-empty answer wins, every failure is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from marketbrief.errors import ProviderError

T = TypeVar("T")
P = TypeVar("P", bound="Named")


class Named(Protocol):
    """A provider: anything with a name to record failures under."""

    name: str


@dataclass(frozen=True, slots=True)
class FirstAnswer(Generic[T]):
    """The winning provider's items (empty if none had any), and what the others said."""

    items: list[T]
    provider: str | None
    failures: list[dict[str, str]] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


async def first_non_empty(
    providers: Sequence[P],
    ask: Callable[[P], Awaitable[list[T]]],
    symbol: str,
    *,
    timeout: float,
) -> FirstAnswer[T]:
    """Ask each provider under `timeout` until one answers with items."""
    failures: list[dict[str, str]] = []
    empty: list[str] = []
    for provider in providers:
        try:
            async with asyncio.timeout(timeout):
                items = await ask(provider)
        except TimeoutError:
            reason = f"timed out after {timeout:g}s"
        except ProviderError as exc:
            reason = str(exc)
        except Exception as exc:  # a provider bug must cost that provider, not the run
            reason = f"unexpected {type(exc).__name__}: {exc}"
        else:
            if items:
                return FirstAnswer(items, provider.name, failures, empty)
            empty.append(provider.name)
            continue
        failures.append({"provider": provider.name, "symbol": symbol, "reason": reason})
    return FirstAnswer([], None, failures, empty)
