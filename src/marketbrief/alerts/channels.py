"""Notification channels by URL, through Apprise: one channel per configured URL.

Apprise speaks every channel's protocol (`json://` and `jsons://` post a JSON body, `mailto://`
sends mail over SMTP, `slack://`, and the rest it supports); marketbrief writes no client of its
own, but for one request: a report delivered to a JSON channel is the API's envelope as the raw
body, which Apprise's JSON schema cannot carry (`alerts/webhook.py`). Each channel is sent to on
its own, so one that is down never hides another's result. A channel is named by its position
and its URL with secrets masked, never by its full URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from marketbrief.alerts.webhook import post_envelope

if TYPE_CHECKING:
    import apprise

log = logging.getLogger(__name__)


MAIL_SCHEMES = frozenset({"mailto", "mailtos"})
JSON_SCHEMES = frozenset({"json", "jsons"})


@dataclass(frozen=True, slots=True)
class Message:
    """What one notification says: a title line and a plain-text body.

    A report delivery also carries `html` (what mail channels send, as HTML with a plain-text
    alternative), `data` (the JSON text webhook channels receive as the raw body), `key` (the
    delivery's idempotency key, sent with it) and `on_result`, which the sender calls with the
    channel's number and whether it took the message, once it did or was given up."""

    title: str
    body: str
    html: str | None = None
    data: str | None = None
    key: str | None = None
    on_result: Callable[[int, bool], None] | None = field(default=None, compare=False)


class Channel:
    """One notification URL; `send` blocks for at most the channel's own timeouts."""

    def __init__(self, url: str, number: int) -> None:
        self.number = number
        self.url = url
        self.scheme = urlsplit(url).scheme
        # Imported only when a channel is configured: the library takes a while to load.
        import apprise

        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise ValueError(f"channel {number} ({self.scheme}://) is not a notification URL")
        # Apprise leaves url() unannotated; it returns the URL with secrets masked.
        self.shown = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
        self._apprise: apprise.Apprise = apprise.Apprise()
        self._apprise.add(plugin)

    @property
    def label(self) -> str:
        """The channel's name in metrics: its position, a closed set fixed at start-up."""
        return str(self.number)

    def send(self, message: Message) -> bool:
        """Deliver one message; False when the channel refused it or could not be reached."""
        # Imported here for the same reason as in __init__.
        from apprise import NotifyFormat

        if message.data is not None and self.scheme in JSON_SCHEMES:
            return post_envelope(self.url, message.data, message.key)
        body, body_format = message.body, NotifyFormat.TEXT
        if message.html is not None and self.scheme in MAIL_SCHEMES:
            body, body_format = message.html, NotifyFormat.HTML
        try:
            return bool(
                self._apprise.notify(title=message.title, body=body, body_format=body_format)
            )
        except Exception:  # a plugin's own bug must not take the sender down with it
            log.exception("notification channel %s raised", self.shown)
            return False

    async def send_async(self, message: Message) -> bool:
        """`send` in a worker thread."""
        return await anyio.to_thread.run_sync(self.send, message)


def channels_from(urls: tuple[str, ...]) -> list[Channel]:
    """The channels of the configured URLs, numbered from 1."""
    return [Channel(url, number) for number, url in enumerate(urls, 1)]


async def send_to_each(channels: list[Channel], message: Message) -> list[tuple[Channel, bool]]:
    """Send one message to every channel at once; each channel's result, in order."""
    results: dict[int, bool] = {}

    async def one(channel: Channel) -> None:
        results[channel.number] = await channel.send_async(message)

    async with anyio.create_task_group() as group:
        for channel in channels:
            group.start_soon(one, channel)
    return [(channel, results[channel.number]) for channel in channels]
