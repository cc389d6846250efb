"""The rules of webhooks (which URLs and addresses, which events, signatures, retry times) and
of the SMTP connection."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from bot.delivery.email import SmtpServer
from bot.delivery.rules import EVENTS, WebhookRuleError, address_allowed, check_url, parse_events, retry_delay, sign


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "not-an-address",
    ],
)
def test_private_local_and_special_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address, allow_private=False)
    assert address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address, allow_private=False)


def test_urls_need_https_unless_private_is_allowed() -> None:
    assert check_url("https://hooks.example.com/x", False) == "hooks.example.com"
    with pytest.raises(WebhookRuleError, match="https"):
        check_url("http://hooks.example.com/x", False)
    assert check_url("http://127.0.0.1:8080/x", True) == "127.0.0.1"
    for bad in ("https://", "https://u:p@example.com/", "https://exa mple.com/", "https://example.com:99999/"):
        with pytest.raises(WebhookRuleError):
            check_url(bad, True)
    with pytest.raises(WebhookRuleError, match="too long"):
        check_url("https://example.com/" + "x" * 600, False)


def test_events_default_to_all_and_unknown_ones_are_named() -> None:
    assert parse_events(None) == EVENTS and parse_events("  ") == EVENTS
    assert parse_events("idea.created, digest.posted idea.created") == ("idea.created", "digest.posted")
    with pytest.raises(WebhookRuleError, match=r"idea\.deleted"):
        parse_events("idea.created idea.deleted")


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"event":"idea.created"}'
    assert sign("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_retries_back_off_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert retry_delay(30) == timedelta(hours=1)


def test_smtp_passwords_only_travel_encrypted_except_to_this_machine() -> None:
    remote = SmtpServer.from_url("smtp://digest:p%40ss@mail.example.com:587")
    assert (remote.hostname, remote.port, remote.username, remote.password) == (
        "mail.example.com",
        587,
        "digest",
        "p@ss",
    )
    assert remote.start_tls is True and not remote.use_tls
    assert SmtpServer.from_url("smtps://digest:pw@mail.example.com").start_tls is False
    assert SmtpServer.from_url("smtps://digest:pw@mail.example.com").port == 465
    assert SmtpServer.from_url("smtp://mail.example.com").start_tls is None  # no password: opportunistic
    assert SmtpServer.from_url("smtp://digest:pw@127.0.0.1:2525").start_tls is None
