"""Provider lists as the settings spell them: `dir:PATH,rss:URL,yahoo` (news), `dir:PATH,stooq`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from marketbrief.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One entry of a provider list: `dir:PATH` is kind `dir` with argument `PATH`."""

    text: str
    kind: str
    arg: str

    def directory(self, what: str) -> Path:
        """The argument as an existing directory (`dir:PATH`), or ConfigError."""
        if not Path(self.arg).is_dir():
            raise ConfigError(f"{what} provider {self.text!r}: {self.arg} is not a directory")
        return Path(self.arg)


def parse_providers(spec: str, what: str) -> list[ProviderSpec]:
    """The entries of a comma-separated provider list, in order; ConfigError if it names none."""
    entries = []
    for raw in spec.split(","):
        text = raw.strip()
        if text:
            kind, _, arg = text.partition(":")
            entries.append(ProviderSpec(text, kind, arg))
    if not entries:
        raise ConfigError(f"{what} provider list {spec!r} names no provider")
    return entries
