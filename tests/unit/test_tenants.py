"""Tenants without I/O: the keys file's lines, what a key may do, and call ids named per tenant.

Tenants on real gateways (follows across tenants, limits per key, SIGHUP) are in tests/e2e/test_tenants.py.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from common.errors import ConfigError
from gateway.core.tenant import Tenants
from gateway.http.status import StatusOptions
from gateway.doors import ROUTES
from gateway.outputs.follow import FailedLookups, FollowOptions, _Refusal, _tenant
from gateway.outputs.transcript_log import call_key, finals_fields, log_key
from gateway.outputs.webhook import signature
from gateway.policy.keyfile import ANONYMOUS, DOORS, OPEN, ApiKey, bare_key, key_id, parse_keys
from gateway.policy.tenant import TenantPolicy
from gateway.policy.webhook import Destination, signing_secret
from gateway.security.auth import ApiKeys
from gateway.security.gate import AccessOptions, Allowances
from gateway.security.limits import FOLLOWERS, PENDING, SESSION, STATUS, Limit

SOURCE = "keys.txt"

FILE = """\
# streamscribe API keys
plain-key-1
acme-key-2   tenant=acme perms=stream,follow doors=native,twilio sessions=50 followers=10 status=2  # acme's
assist-key-3 tenant=assist perms=follow follow_tenants=acme,globex followers=200
ops-key-4    tenant=ops perms=admin

acme-key-5   tenant=acme
"""


def test_a_keys_file_gives_each_key_its_settings():
    keys = parse_keys(FILE, source=SOURCE)
    assert list(keys) == ["plain-key-1", "acme-key-2", "assist-key-3", "ops-key-4", "acme-key-5"]
    assert keys["plain-key-1"] == bare_key("plain-key-1") == ApiKey(
        key_id=key_id("plain-key-1"), tenant=f"key-{key_id('plain-key-1')}",
        permissions=frozenset({"stream", "follow"}))
    assert keys["acme-key-2"] == ApiKey(
        key_id=key_id("acme-key-2"), tenant="acme", permissions=frozenset({"stream", "follow"}),
        doors=frozenset({"native", "twilio"}), sessions=50, followers=10, status=2)
    assert keys["assist-key-3"].follow_tenants == ("acme", "globex")
    assert keys["assist-key-3"].permissions == frozenset({"follow"}) and keys["assist-key-3"].followers == 200
    assert keys["ops-key-4"].admin and keys["ops-key-4"].tenant == "ops"
    assert keys["acme-key-5"].tenant == "acme" and keys["acme-key-5"].sessions is None  # the gateway's default


def test_the_one_key_a_line_file_keeps_its_meaning():
    keys = parse_keys("# old file\nk1\n  k2   # a comment\n\n", source=SOURCE)
    assert keys == {"k1": bare_key("k1"), "k2": bare_key("k2")}
    assert keys["k1"].tenant != keys["k2"].tenant  # each key its own tenant


@pytest.mark.parametrize("line, why", [
    ("secret-key tenant=acme tenant=other", "tenant is set twice"),
    ("secret-key colour=blue", "word 1 after the key is not a setting"),
    ("secret-key secret-continued", "word 1 after the key is not a setting"),
    ("secret-key tenant=", "tenant has no value"),
    ("secret-key perms=stream,root", "perms may list stream, follow, admin, settings; not root"),
    ("secret-key perms=stream,,follow", "perms has an empty item"),
    ("secret-key doors=native,skype", "not skype"),
    ("secret-key sessions=0", "sessions must be a whole number from 1 to 999999999"),
    ("secret-key followers=-3", "followers must be a whole number"),
    ("secret-key status=²", "status must be a whole number"),
    ("secret-key sessions=" + "9" * 5000, "sessions must be a whole number"),
    ("secret-key tenant=a/b", "is not a tenant name"),
    ("secret-key tenant=" + "a" * 65, "is not a tenant name"),
    ("secret-key tenant=anonymous", "the tenant of a gateway without keys"),
    ("secret-key follow_tenants=acme perms=stream", "follow_tenants needs the follow permission"),
    ("secret-key follow_tenants=acme,{x}", "is not a tenant name"),
    ("secret,key", "cannot contain spaces or commas"),
    ("tenant=acme secret-key", "the line starts with a setting (tenant=); the key comes first"),
])
def test_every_error_names_its_line_and_never_the_key(line, why):
    text = f"# keys\nfirst-key\n\n{line}\n"
    with pytest.raises(ConfigError) as error:
        parse_keys(text, source=SOURCE)
    message = str(error.value)
    assert message.startswith(f"{SOURCE}:4: ") and why in message, message
    assert "secret-key" not in message and "secret-continued" not in message and "first-key" not in message, message


def test_a_key_twice_names_both_lines():
    with pytest.raises(ConfigError, match=rf"^{SOURCE}:3: the same key as line 1$"):
        parse_keys("k1 tenant=a\nk2\nk1 tenant=b\n", source=SOURCE)


def test_doors_are_the_gateways_door_names():
    assert set(DOORS) == {"native", "deepgram", "flux", "twilio", "audiohook", "rnnt", "whisper_stream"}


def test_what_a_key_may_do():
    keys = parse_keys(FILE, source=SOURCE)
    acme, assist, ops, plain = keys["acme-key-2"], keys["assist-key-3"], keys["ops-key-4"], keys["plain-key-1"]
    assert acme.may_stream("native") and acme.may_stream("twilio") and not acme.may_stream("deepgram")
    assert all(plain.may_stream(door) for door in DOORS) and plain.may_follow and not plain.admin
    assert not assist.may_stream("native") and assist.may_follow
    assert not ops.may_stream("native") and not ops.may_follow and ops.admin
    # Where a follow looks: its own tenant, then the granted ones; a tenant named must be one of them.
    assert acme.followable() == ("acme",)
    assert assist.followable() == ("assist", "acme", "globex")
    assert assist.followable("globex") == ("globex",)
    assert acme.followable("assist") == () and acme.followable("globex") == ()
    assert ops.followable() == () and ops.followable("ops") == ()
    # Without keys: one anonymous tenant that may do everything, as before tenants.
    assert OPEN.tenant == ANONYMOUS and OPEN.admin and OPEN.may_follow and all(OPEN.may_stream(d) for d in DOORS)
    assert OPEN.followable() == (ANONYMOUS,)


def test_the_keys_file_names_every_door_and_only_doors():
    """The keys file is plain data below the doors: it names them, and here the names meet the doors."""
    assert DOORS == tuple(sorted({door.name for door in ROUTES.values()}))


def test_flag_keys_are_bare_and_the_file_sets_a_key_given_both_ways(tmp_path):
    path = tmp_path / "keys"
    path.write_text("file-key tenant=acme\nboth-key tenant=shared perms=follow\n")
    keys = ApiKeys(["flag-key", "both-key"], keys_file=path)
    assert len(keys) == 3 and keys.tenants == 3
    assert keys.identify("flag-key") == bare_key("flag-key")
    assert keys.identify("file-key").tenant == "acme"
    assert keys.identify("both-key").tenant == "shared" and not keys.identify("both-key").may_stream("native")
    assert keys.identify("nobody") is None and keys.identify("") is None and keys.identify(None) is None
    assert keys.find(key_id("file-key")) == keys.identify("file-key") and keys.find(key_id("nobody")) is None


def test_a_keys_limits_are_its_settings_in_the_file_else_the_flags(tmp_path):
    path = tmp_path / "keys"
    path.write_text("own-key sessions=4 followers=7 status=2\nbare-key\n")

    def limits(key: str, **access) -> list[Limit]:
        allowances = Allowances(AccessOptions(api_keys=ApiKeys(keys_file=path), **access),
                                followers=FollowOptions().max_followers_per_key,
                                status=StatusOptions().max_watchers_per_key)
        return [allowances(kind, key_id(key)) for kind in (SESSION, PENDING, FOLLOWERS, STATUS, "other")]

    assert limits("own-key", max_sessions_per_key=3) == [
        Limit(4, "sessions=4 in the API keys file"), Limit(4, "sessions=4 in the API keys file"),
        Limit(7, "followers=7 in the API keys file"), Limit(2, "status=2 in the API keys file"), Limit(0)]
    assert limits("bare-key", max_sessions_per_key=3) == [
        Limit(3, "max-sessions-per-key 3"), Limit(3, "max-pending-per-key 3"),
        Limit(100, "max-followers-per-key 100"), Limit(5, "max-status-per-key 5"), Limit(0)]
    # Pending connections have their own allowance when the flag sets one, whatever the file says.
    assert limits("own-key", max_pending_per_key=9)[1] == Limit(9, "max-pending-per-key 9")
    assert limits("bare-key")[:2] == [Limit(0, "max-sessions-per-key 0"), Limit(0, "max-pending-per-key 0")]


async def test_a_bad_file_on_reload_keeps_the_keys_in_use_and_names_the_line(tmp_path, caplog):
    path = tmp_path / "keys"
    path.write_text("k1 tenant=acme\n")
    keys = ApiKeys(keys_file=path)
    path.write_text("k1 tenant=acme\nk2 tenant=acme perms=fly\n")
    assert not await keys.reload()
    assert keys.identify("k1").tenant == "acme" and keys.identify("k2") is None
    assert f"{path}:2: perms may list" in caplog.text
    path.write_text("k2 tenant=globex\n")
    assert await keys.reload()
    assert keys.identify("k1") is None and keys.identify("k2").tenant == "globex"


def test_call_ids_are_named_per_tenant():
    assert call_key("acme", "MZ1") == "ss:call:{acme/MZ1}" and log_key("acme", "MZ1") == "ss:call:{acme/MZ1}:log"
    # The same id in two tenants: two calls, whose keys share no hash tag.
    assert call_key("acme", "MZ1") != call_key("globex", "MZ1")
    assert call_key(ANONYMOUS, "MZ1") == "ss:call:{anonymous/MZ1}"
    message = {"call_id": "MZ1", "channel": 0, "party": None, "session_id": "s", "utterance_id": "s-0",
               "text": "hi", "start_ms": 0, "end_ms": 100, "language": "en", "is_speech_final": True}
    assert finals_fields(message, tenant="acme", protocol="twilio", gateway="gw")["tenant"] == "acme"


def test_a_follow_names_at_most_one_tenant():
    assert _tenant([("from_seq", "3")]) is None
    assert _tenant([("tenant", "acme")]) == "acme"
    with pytest.raises(_Refusal, match="once"):
        _tenant([("tenant", "acme"), ("tenant", "globex")])


def test_failed_follows_are_counted_per_key_and_per_address():
    assert FailedLookups.counters(None, "10.0.0.1") == ["ss:lookups:addr:10.0.0.1"]
    assert FailedLookups.counters("abc", "::1") == ["ss:lookups:addr:::1", "ss:lookups:key:abc"]


def test_tenants_are_made_once_each():
    tenants = Tenants()
    acme = tenants["acme"]
    acme.sessions["twilio"] += 2
    assert tenants["acme"] is acme and tenants["acme"].sessions["twilio"] == 2
    assert tenants["globex"] is not acme and tenants["globex"].sessions["twilio"] == 0


# -- tenants' own webhooks ----------------------------------------------------------------------

def test_a_tenant_may_have_its_own_signed_webhook():
    found = parse_keys("k1 tenant=acme webhook=https://hooks.acme.example/finals webhook_secret=0123456789abcdef\n"
                       "k2 tenant=acme webhook=https://hooks.acme.example/finals webhook_secret=0123456789abcdef\n"
                       "k3 tenant=globex webhook=http://10.0.0.7:8080/\n"
                       "k4\n", source=SOURCE)
    assert found["k1"].webhook == Destination("https://hooks.acme.example/finals", b"0123456789abcdef")
    assert found["k3"].webhook == Destination("http://10.0.0.7:8080/")
    assert found["k4"].webhook is None


@pytest.mark.parametrize("lines, why", [
    ("k1 webhook=ftp://hooks.example/", "webhook: 'ftp://hooks.example/' is not an http:// or https:// URL"),
    ("k1 webhook=https://h.example/" + "a" * 2000, "longer than 2000 characters"),
    ("k1 webhook=https://h.example/ webhook_secret=tooshort", "webhook_secret: a signing secret has at least 16"),
    ("k1 webhook_secret=0123456789abcdef", "webhook_secret needs a webhook=URL"),
    ("k1 tenant=acme webhook=https://a.example/\nk2 tenant=acme webhook=https://b.example/",
     "tenant acme has another webhook or webhook_secret on line 1"),
    ("k1 tenant=acme webhook=https://a.example/ webhook_secret=0123456789abcdef\n"
     "k2 tenant=acme webhook=https://a.example/ webhook_secret=fedcba9876543210",
     "tenant acme has another webhook or webhook_secret on line 1"),
])
def test_a_bad_webhook_names_its_line_and_never_the_secret(lines, why):
    with pytest.raises(ConfigError) as error:
        parse_keys(lines, source=SOURCE)
    message = str(error.value)
    assert why in message, message
    assert "tooshort" not in message and "0123456789abcdef" not in message, message


async def test_a_tenants_policy_follows_the_keys_file_and_is_resolved_once(tmp_path):
    path = tmp_path / "keys"
    path.write_text("k1 tenant=acme webhook=https://a.example/ redact=pci analytics=on\nk2 tenant=acme redact=ssn\n"
                    "k3 tenant=globex\n")
    keys = ApiKeys(keys_file=path)
    acme = keys.policy_of("acme")
    assert acme == TenantPolicy(tenant="acme", redact=("pci", "ssn"), analytics=acme.analytics,
                                webhook=Destination("https://a.example/"))
    assert acme.analytics.enabled
    assert keys.policy_of("globex") == TenantPolicy(tenant="globex")
    assert keys.policy_of("nobody") == TenantPolicy(tenant="nobody")
    # A reload changes the policy of what is admitted next; what was admitted keeps its own (a value).
    path.write_text("k1 tenant=acme\n")
    assert await keys.reload()
    assert keys.policy_of("acme") == TenantPolicy(tenant="acme") and acme.webhook is not None


def test_a_delivery_signature_is_the_hmac_of_its_time_and_body():
    body = b'{"type": "final"}'
    expected = hmac.new(b"0123456789abcdef", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"0123456789abcdef", body, timestamp=1700000000) == f"t=1700000000,v1={expected}"
    with pytest.raises(ValueError, match="at least 16 characters"):
        signing_secret("  short  ")
    assert signing_secret(" 0123456789abcdef\n") == b"0123456789abcdef"
