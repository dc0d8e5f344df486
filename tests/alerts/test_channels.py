"""Channels by URL through Apprise: `notify test` against a real webhook and SMTP server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.config import Settings
from marketbrief.errors import ConfigError
from tests.support.api_fixtures import closed_port
from tests.support.receivers import Mailbox, Webhook, text_of


def _notify_test(urls: list[str], *args: str) -> tuple[int, str]:
    env = {"MARKETBRIEF_NOTIFY": ",".join(urls)}
    result = CliRunner().invoke(main, ["notify", "test", *args], env=env)
    return result.exit_code, result.output


def test_notify_test_reaches_a_webhook_and_a_mailbox_and_exits_zero(
    webhook: Webhook, smtp: Mailbox
) -> None:
    code, output = _notify_test([webhook.url(), smtp.url()])
    assert code == 0, output
    [posted] = webhook.wait_for(1)
    [mail] = smtp.wait_for(1)
    assert posted["title"] == "[marketbrief] test notification"
    assert "receives alerts" in posted["message"]
    assert mail["Subject"] == "[marketbrief] test notification"
    assert mail["To"] == "ops@example.com"
    assert "receives alerts" in text_of(mail)
    assert output.count("ok ") == 2


def test_notify_test_names_the_channel_that_failed_and_exits_one(webhook: Webhook) -> None:
    down = f"json://127.0.0.1:{closed_port()}/hook"
    code, output = _notify_test([webhook.url(), down], "--json")
    assert code == 1
    results = json.loads(output)
    assert [(r["channel"], r["ok"]) for r in results] == [(1, True), (2, False)]
    assert webhook.wait_for(1)[0]["title"] == "[marketbrief] test notification"


def test_a_channel_url_apprise_cannot_send_to_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^MARKETBRIEF_NOTIFY is invalid: channel 2") as caught:
        Settings.from_env(
            {"MARKETBRIEF_NOTIFY": "json://127.0.0.1:9/hook, nosuch://user:hunter2@host/x"}
        )
    assert "hunter2" not in str(caught.value)  # a URL's credentials are never echoed
    result = CliRunner().invoke(
        main, ["notify", "test"], env={"MARKETBRIEF_NOTIFY": "nosuch://user:hunter2@host"}
    )
    assert result.exit_code == 2
    assert "MARKETBRIEF_NOTIFY" in result.output
    assert "hunter2" not in result.output


def test_notify_test_without_channels_says_so_and_exits_two() -> None:
    result = CliRunner().invoke(main, ["notify", "test"], env={"MARKETBRIEF_NOTIFY": ""})
    assert result.exit_code == 2
    assert "MARKETBRIEF_NOTIFY names no channel" in result.output


def test_the_repeat_interval_and_public_url_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {"MARKETBRIEF_NOTIFY_REPEAT_MINUTES": "5", "MARKETBRIEF_PUBLIC_URL": "https://mb.test/"}
    )
    assert (settings.alerting.repeat_minutes, settings.public_url) == (5, "https://mb.test")
    with pytest.raises(ConfigError, match="MARKETBRIEF_NOTIFY_REPEAT_MINUTES='0'"):
        Settings.from_env({"MARKETBRIEF_NOTIFY_REPEAT_MINUTES": "0"})
    with pytest.raises(ConfigError, match="MARKETBRIEF_PUBLIC_URL"):
        Settings.from_env({"MARKETBRIEF_PUBLIC_URL": "mb.test"})
