"""The ``redis+sentinel://`` URL: what it names, and a clear error for each way to get it wrong;
the warning when replicas fall behind the WAIT it asks for."""

from __future__ import annotations

import logging

import pytest

from common import bus
from common.config import has_password
from common.errors import ConfigError
from common.sentinel import DEFAULT_FAILOVER_WAIT, SentinelURL, ShortfallLog, WaitForReplicas, parse_url


def test_sentinels_service_and_db():
    assert parse_url("redis+sentinel://s1:26380,s2,10.0.0.3:5000/mymaster/2") == SentinelURL(
        sentinels=(("s1", 26380), ("s2", 26379), ("10.0.0.3", 5000)), service="mymaster", db=2)


def test_db_defaults_to_0_and_a_trailing_slash_is_allowed():
    assert parse_url("redis+sentinel://s1/mymaster").db == 0
    assert parse_url("redis+sentinel://s1/mymaster/").db == 0


def test_credentials_of_the_master_and_of_the_sentinels():
    url = parse_url("redis+sentinel://app:p%40ss%3Aword@s1:26379/mymaster/0"
                    "?sentinel_password=s%26cret&sentinel_username=watcher&failover_wait=12.5")
    assert (url.username, url.password) == ("app", "p@ss:word")
    assert (url.sentinel_username, url.sentinel_password) == ("watcher", "s&cret")
    assert url.failover_wait == 12.5
    assert "p@ss" not in repr(url) and "s&cret" not in repr(url)


def test_wait_for_replicas():
    url = parse_url("redis+sentinel://s1/mymaster?wait_replicas=1&wait_timeout_ms=250")
    assert url.wait == WaitForReplicas(1, 250)
    assert parse_url("redis+sentinel://s1/mymaster?wait_replicas=2").wait == WaitForReplicas(2, 100)
    assert parse_url("redis+sentinel://s1/mymaster?wait_replicas=0").wait is None
    assert parse_url("redis+sentinel://s1/mymaster").wait is None


def test_password_only():
    url = parse_url("redis+sentinel://:secret@s1/mymaster")
    assert (url.username, url.password, url.failover_wait) == (None, "secret", DEFAULT_FAILOVER_WAIT)


def test_ipv6_sentinels():
    assert parse_url("redis+sentinel://[::1]:26380,[fe80::2]/m").sentinels == (("::1", 26380), ("fe80::2", 26379))


@pytest.mark.parametrize("url, message", [
    ("redis+sentinel:///mymaster", "name each sentinel"),
    ("redis+sentinel://s1,,s2/mymaster", "name each sentinel"),
    ("redis+sentinel://s1:port/mymaster", "has no valid port"),
    ("redis+sentinel://s1:0/mymaster", "has no valid port"),
    ("redis+sentinel://s1:70000/mymaster", "has no valid port"),
    ("redis+sentinel://::1:26379/mymaster", "IPv6 address goes in []"),
    ("redis+sentinel://[::1/mymaster", "not [IPv6 address]:port"),
    ("redis+sentinel://[::1]26379/mymaster", "not [IPv6 address]:port"),
    ("redis+sentinel://s1:26379", "name the master's Sentinel service"),
    ("redis+sentinel://s1:26379/", "name the master's Sentinel service"),
    ("redis+sentinel://s1/mymaster/zero", "database 'zero' is not a number"),
    ("redis+sentinel://s1/mymaster/0/extra", "not 3 path parts"),
    ("redis+sentinel://s1/mymaster?failover_wait=0", "failover_wait '0' is not a positive number"),
    ("redis+sentinel://s1/mymaster?failover_wait=soon", "failover_wait 'soon' is not a positive number"),
    ("redis+sentinel://s1/mymaster?failover_wait=inf", "is not a positive number"),
    ("redis+sentinel://s1/mymaster?wait_replicas=-1", "wait_replicas '-1' is not a number of replicas"),
    ("redis+sentinel://s1/mymaster?wait_replicas=one", "wait_replicas 'one' is not a number of replicas"),
    ("redis+sentinel://s1/mymaster?wait_timeout_ms=0", "wait_timeout_ms '0' is not a number of ms from 1 to 2000"),
    ("redis+sentinel://s1/mymaster?wait_timeout_ms=5000", "is not a number of ms from 1 to 2000"),
    ("redis+sentinel://s1/mymaster?ssl=true", "unknown option 'ssl'"),
    ("redis+sentinel://s1/mymaster?failover_wait=1&failover_wait=2", "given twice"),
    ("redis+sentinel://s1/mymaster?failover_wait", "not name=value pairs"),
    ("redis+sentinel://s1/mymaster#frag", "no #fragment"),
    ("rediss+sentinel://s1/mymaster", "TLS) is not supported"),
])
def test_malformed_urls_say_what_is_wrong(url, message):
    with pytest.raises(ConfigError, match="^Redis URL: ") as caught:
        parse_url(url)
    assert message in str(caught.value)


@pytest.mark.parametrize("url", [
    "redis+sentinel://:hunter2@s1:bad/mymaster",
    "redis+sentinel://:hun/ter2@s1/mymaster",  # "/" not percent-encoded: "hun" is the host part
    "redis+sentinel://:hunter2@s1/mymaster/ter2",
    "redis+sentinel://:hun?ter2=1@s1/mymaster",
])
def test_errors_never_show_any_part_of_a_url_with_credentials(url):
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    assert "hun" not in str(caught.value) and "ter2" not in str(caught.value), caught.value


def test_connect_refuses_a_malformed_url_before_any_connection():
    with pytest.raises(ConfigError, match="name the master's Sentinel service"):
        bus.connect("redis+sentinel://127.0.0.1:1")


async def test_connect_builds_a_master_client_without_connecting():
    client = bus.connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/3?failover_wait=5",
                         client_name="streamscribe-test")
    try:
        pool = client.connection_pool
        assert (pool.service_name, pool.is_master, pool.max_connections) == ("mymaster", True, bus.MAX_CONNECTIONS)
        assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["failover_wait"] == 5
        assert pool.connection_kwargs["client_name"] == "streamscribe-test"
        assert client.wait_for_replicas is None and bus.wait_for_replicas(client) is None
        assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                for s in pool.sentinel_manager.sentinels] == [("127.0.0.1", 1), ("127.0.0.1", 2)]
    finally:
        await client.aclose()


async def test_the_client_carries_the_wait_for_replicas():
    client = bus.connect("redis+sentinel://127.0.0.1:1/mymaster?wait_replicas=1&wait_timeout_ms=50")
    try:
        assert bus.wait_for_replicas(client) == WaitForReplicas(1, 50)
    finally:
        await client.aclose()
    plain = bus.connect("redis://127.0.0.1:1/0")
    try:
        assert bus.wait_for_replicas(plain) is None
    finally:
        await plain.aclose()


def test_a_shortfall_warns_at_most_every_interval(caplog):
    shortfalls = ShortfallLog(WaitForReplicas(1, 10), what="vad commits")
    with caplog.at_level(logging.WARNING, logger="common.sentinel"):
        for acknowledged in (0, 0, 1, RuntimeError("WAIT failed")):
            shortfalls.check(acknowledged)
    assert [r.getMessage() for r in caplog.records] == [
        "1 batch(es) of vad commits not acknowledged by 1 replica(s) within 10 ms (last: 0); "
        "a failover now could lose them"]


def test_a_sentinel_password_makes_the_url_a_secret():
    """Like a password in the URL: kept out of ``--help`` and off the command line."""
    assert has_password("redis+sentinel://s1,s2/mymaster?sentinel_password=hunter2")
    assert has_password("redis+sentinel://:pw@s1/mymaster")
    assert not has_password("redis+sentinel://s1,s2/mymaster?failover_wait=10")
