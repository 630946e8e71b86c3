"""The guarded HTTP client used for webhooks and lookups refuses targets that point back
into the server's own network (SSRF), checking every address a host resolves to."""

from __future__ import annotations

import pytest

from config import task_names, tasking
from config.outbound_http import OutboundFailed, OutboundRefused, address_is_public, request, target_resolve


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1",
])
def test_private_loopback_and_link_local_addresses_are_not_public(address):
    assert not address_is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_are_public(address):
    assert address_is_public(address)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook", "https://169.254.169.254/latest",
    "https://10.0.0.5:8443/x", "https://0x7f000001/x",
])
def test_private_targets_are_refused_unless_allowed(url):
    with pytest.raises(OutboundRefused) as refused:
        target_resolve(url, allow_private=False, require_https=True)
    assert refused.value.code in ("private_address", "bad_url")


def test_http_is_refused_when_https_is_required():
    with pytest.raises(OutboundRefused) as refused:
        target_resolve("http://example.com/hook", allow_private=True, require_https=True)
    assert refused.value.code == "https_required"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "https://user:pw@example.com/",
                                 "not a url", "https:///nohost"])
def test_odd_urls_are_refused(url):
    with pytest.raises(OutboundRefused):
        target_resolve(url, allow_private=True, require_https=False)


def test_an_oversized_answer_fails_without_reading_it_all(receiver):
    receiver.script(200, b"x" * (2 * 1024 * 1024))
    with pytest.raises(OutboundFailed) as failed:
        request("GET", f"{receiver.url}/big", max_bytes=100_000, allow_private=True, require_https=False)
    assert failed.value.code == "too_large"


def test_an_unreachable_port_fails_as_a_connection_error():
    with pytest.raises(OutboundFailed) as failed:
        request("GET", "http://127.0.0.1:9/", timeout=2, allow_private=True, require_https=False)
    assert failed.value.code == "connection"


def test_in_thread_mode_webhook_deliveries_do_not_share_the_pool_of_bot_and_delivery_tasks():
    outbound = tasking._thread_pool(task_names.WEBHOOK_DELIVER)
    assert outbound is tasking._thread_pool(task_names.WEBHOOK_DELIVER)
    for name in (task_names.BOT_TURN, task_names.MESSAGE_DELIVER, task_names.QUEUE_DRAIN):
        assert tasking._thread_pool(name) is not outbound
