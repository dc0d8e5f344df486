"""`marketbrief serve --port P` as the scenarios run it: its environment, restartable by id."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.probes import free_port
from harness.process import HttpServer
from harness.serve import serve_command, server_env, settings

from resilience.inputs import SYMBOLS

API_KEY = "resilience-suite-key-0123456789"
# A graceful shutdown lets background runs drain: uvicorn's own grace is 30 s.
STOP_GRACE_SECONDS = 40.0


def marketbrief_env(
    *,
    database_url: str,
    outbox_dir: Path,
    news: Path,
    prices: Path,
    api_key: str | None = API_KEY,
    **extra: str,
) -> dict[str, str]:
    """The environment of one `marketbrief serve`: MARKETBRIEF_* only from here."""
    variables = settings(
        database_url=database_url,
        outbox_dir=str(outbox_dir),
        news=f"dir:{news}",
        prices=f"dir:{prices}",
        symbols=",".join(SYMBOLS),
        scheduler="off",
        trigger_rate="1000",
        trigger_burst="1000",
    )
    if api_key is not None:
        variables.update(settings(api_key=api_key))
    variables.update(settings(**extra))
    return server_env(variables)


class Server(HttpServer):
    """`marketbrief serve --port P` as its own process group, logging to <logs>/<name>.log."""

    def __init__(self, name: str, env: Mapping[str, str], logs: Path) -> None:
        port = free_port()
        super().__init__(
            name,
            serve_command(port),
            port=port,
            env=env,
            log=logs / f"{name}.log",
            grace=STOP_GRACE_SECONDS,
        )

    def start(self, **env_changes: str) -> None:
        """Launch (again, on the same port), with optional MARKETBRIEF_* changes."""
        assert self.env is not None
        self.env.update(settings(**env_changes))
        super().start()
