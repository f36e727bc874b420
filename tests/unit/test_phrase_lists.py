"""gateway/http/phrases.py: a PUT's body, checked before a tenant's phrase list is stored; keyfile's settings perm.

The route itself, Redis and the gate together are tested end to end (tests/e2e/test_phrase_lists.py).
"""

from __future__ import annotations

import json

import pytest

from common.errors import ConfigError
from gateway.policy.analytics import MAX_PHRASES
from gateway.http.phrases import parse_body
from gateway.policy.keyfile import is_tenant_name, parse_keys


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_a_list_is_stored_as_sent_trimmed_and_without_repeats() -> None:
    assert parse_body(_body({"phrases": [" cancel my account", "speak to a manager", "cancel my account"]})) == (
        "cancel my account", "speak to a manager")


@pytest.mark.parametrize("body, message", [
    (b"cancel my account", "the body is not JSON"),
    (b"\xff\xfe", "the body is not JSON"),
    (_body(["cancel my account"]), 'a JSON object with "phrases"'),
    (_body({"list": ["x"]}), 'a JSON object with "phrases"'),
    (_body({"phrases": ["x"], "alerts": {}}), "unknown field(s) alerts"),
    (_body({"phrases": []}), "phrases is empty; send DELETE"),
    (_body({"phrases": "cancel my account"}), "must be a list of phrases"),
    (_body({"phrases": [f"phrase {i}" for i in range(MAX_PHRASES + 1)]}), f"at most {MAX_PHRASES}"),
    (_body({"phrases": ["x" * 101]}), "phrases[0] has 101 characters; at most 100"),
    (_body({"phrases": ["ok", " ".join(["word"] * 13)]}), "phrases[1] has 13 words; at most 12"),
    (_body({"phrases": ["?!"]}), "phrases[0] has no word"),
    (_body({"phrases": [3]}), "phrases[0] must be a string"),
    (b"[" * 30_000 + b"]" * 30_000, "the body is nested too deeply"),
    (b'{"phrases":' + b"[" * 30_000 + b"]" * 30_000 + b"}", "the body is nested too deeply"),
])
def test_a_bad_body_is_refused_saying_what_is_wrong(body, message) -> None:
    with pytest.raises(ConfigError) as info:
        parse_body(body)
    assert message in str(info.value)


def test_the_settings_permission_is_its_own_tenants_and_admin_is_every_tenants() -> None:
    keys = parse_keys("m tenant=acme perms=settings\nb tenant=ops perms=admin\ns tenant=acme\n", source="keys")
    assert keys["m"].may_manage("acme") and not keys["m"].may_manage("globex")
    assert keys["b"].may_manage("acme") and keys["b"].may_manage("globex")
    assert not keys["s"].may_manage("acme")  # the default perms: stream, follow


@pytest.mark.parametrize("name, ok", [("acme", True), ("a.b_c-9", True), ("", False), ("a" * 65, False),
                                      ("a:b", False), ("-a", False), ("a b", False)])
def test_a_tenant_name_in_a_query_is_checked_as_the_keys_file_checks_it(name, ok) -> None:
    assert is_tenant_name(name) is ok


def test_the_tenants_a_gateway_knows_are_its_keys(tmp_path) -> None:
    """A phrase list is set only for a tenant an API key belongs to (gateway/http/phrases.py: 404 else)."""
    from gateway.security.auth import ApiKeys

    path = tmp_path / "keys"
    path.write_text("m tenant=acme perms=settings\nb tenant=ops perms=admin\n")
    keys = ApiKeys(keys_file=path)
    assert keys.knows("acme") and keys.knows("ops")
    assert not keys.knows("acmee") and not keys.knows("anonymous")
    open_gateway = ApiKeys()  # no keys: everyone is the anonymous tenant
    assert open_gateway.knows("anonymous") and not open_gateway.knows("acme")
