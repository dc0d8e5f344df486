"""The command line and environment of one `marketbrief serve` (or any server of ours)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from harness import BIN

MARKETBRIEF = str(BIN / "marketbrief")
PREFIX = "MARKETBRIEF_"


def settings(**values: str) -> dict[str, str]:
    """MARKETBRIEF_* variables from lower-case names: `settings(cache_url=U)` sets ..._CACHE_URL."""
    return {f"{PREFIX}{name.upper()}": value for name, value in values.items()}


def server_env(variables: Mapping[str, str]) -> dict[str, str]:
    """os.environ minus any MARKETBRIEF_* setting, unbuffered, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def serve_command(port: int, *options: str) -> list[str]:
    """`marketbrief serve [options] --port P`, from this interpreter's environment."""
    return [MARKETBRIEF, "serve", *options, "--port", str(port)]
