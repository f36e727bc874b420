"""A tenant's phrase list over the admin API (/v1/analytics/phrases), on real processes: two gateways, two tenants.

Acme's settings key replaces its keys file's list on one gateway; the other gateway serves the
new list (it is in Redis) and a call of acme that starts there spots its phrase. Globex's
settings key reads its own (empty) list and can neither read nor change acme's; a key without
the settings permission cannot read even its own tenant's; an admin key reads any tenant's.
Bad lists and bodies get a 400 (or 413) that says why; a list for a tenant no key belongs to, a 404.
The body's checks are unit-tested
(tests/unit/test_phrase_lists.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from common.aio import within
from streamscribe_client import file_frames, stream

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACME, ACME_STREAMER, GLOBEX, OPS = "acme-settings-key", "acme-stream-key", "globex-settings-key", "ops-admin-key"


@pytest.fixture(scope="module")
def stack(redis_server, stacks, tmp_path_factory):
    keys = tmp_path_factory.mktemp("phrases") / "api-keys"
    keys.write_text(f"{ACME} tenant=acme perms=stream,settings phrases=cancel+my+account\n"
                    f"{ACME_STREAMER} tenant=acme\n"
                    f"{GLOBEX} tenant=globex perms=stream,settings\n"
                    f"{OPS} tenant=ops perms=admin\n")
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(keys)})


def _call(port: int, method: str, key: str | None, *, query: str = "", body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/analytics/phrases{query}", data=body,
                                     method=method, headers={"Content-Type": "application/json",
                                                             **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _list(*phrases: str) -> bytes:
    return json.dumps({"phrases": list(phrases)}).encode()


async def test_a_tenant_sets_its_list_on_one_gateway_and_its_calls_on_another_spot_it(stack, clip_samples):
    one, two = stack.port, int(stack.add_gateway().rsplit(":", 1)[1].split("/")[0])
    assert _call(two, "GET", ACME) == (200, {"tenant": "acme", "phrases": ["cancel my account"],
                                             "source": "keys_file"})
    assert _call(one, "PUT", ACME, body=_list("young man", "speak to a manager")) == (
        200, {"tenant": "acme", "phrases": ["young man", "speak to a manager"], "source": "api"})
    acme = (200, {"tenant": "acme", "phrases": ["young man", "speak to a manager"], "source": "api"})
    assert _call(two, "GET", ACME) == acme  # every gateway reads the same list

    # Another tenant reads its own, and can neither read nor change acme's.
    assert _call(two, "GET", GLOBEX) == (200, {"tenant": "globex", "phrases": [], "source": "none"})
    for method, body in (("GET", None), ("PUT", _list("globex was here")), ("DELETE", None)):
        status, refusal = _call(two, method, GLOBEX, query="?tenant=acme", body=body)
        assert status == 403 and "perms=settings" in refusal["message"], (method, refusal)
        assert "young man" not in json.dumps(refusal)
    assert _call(one, "GET", ACME) == acme
    # A key of acme without the settings permission cannot read it; an admin's can, any tenant's.
    assert _call(one, "GET", ACME_STREAMER)[0] == 403
    assert _call(one, "GET", None)[0] == 401
    assert _call(two, "GET", OPS, query="?tenant=acme") == acme

    # A call of acme that starts after the change, on the other gateway, spots the API's list (the keys
    # file's "cancel my account" is no longer the tenant's list).
    samples, _ = clip_samples[1]  # "he was not an ill disposed young man"
    messages = await within(stream(f"ws://127.0.0.1:{two}/ws/asr", file_frames(samples, 16000, chunk_ms=100,
                                                                             speed=4.0),
                                   sample_rate=16000, api_key=ACME, config={"analytics": True}, timeout=90), 120)
    summary, = [m["summary"] for m in messages if m["type"] == "analytics_summary"]
    assert [p["phrase"] for p in summary["phrases"]["items"]] == ["young man"], messages

    # Deleted: the keys file's list is the tenant's again.
    assert _call(two, "DELETE", ACME) == (200, {"tenant": "acme", "phrases": ["cancel my account"],
                                                "source": "keys_file"})
    assert _call(one, "GET", ACME)[1]["source"] == "keys_file"


@pytest.mark.parametrize("body, status, message", [
    (_list(), 400, "phrases is empty; send DELETE"),
    (_list(*[f"phrase {i}" for i in range(201)]), 400, "has 201 phrases; at most 200"),
    (_list("x" * 101), 400, "phrases[0] has 101 characters; at most 100"),
    (b"cancel my account", 400, "the body is not JSON"),
    (json.dumps({"phrases": ["y" * 90] * 1000}).encode(), 413, "larger than 65536 bytes"),
    (None, 400, "the request has no body"),
])
def test_a_bad_list_is_refused_saying_why_and_the_stored_one_stays(stack, body, status, message):
    assert _call(stack.port, "PUT", GLOBEX, body=_list("keep me"))[0] == 200
    got, refusal = _call(stack.port, "PUT", GLOBEX, body=body)
    assert got == status and message in refusal["message"], refusal
    assert _call(stack.port, "GET", GLOBEX)[1]["phrases"] == ["keep me"]


def test_other_methods_are_refused(stack):
    status, refusal = _call(stack.port, "POST", GLOBEX, body=_list("x"))
    assert status == 405 and "use GET, HEAD, PUT, DELETE" in refusal["message"]


def test_an_admin_key_sets_no_list_for_a_tenant_no_key_belongs_to(stack):
    """A typo in ``?tenant=`` would store a list no call reads: refused, and nothing is stored."""
    status, refusal = _call(stack.port, "PUT", OPS, query="?tenant=acmee", body=_list("cancel my account"))
    assert status == 404 and refusal["error"] == "unknown_tenant" and "'acmee'" in refusal["message"], refusal
    assert _call(stack.port, "GET", OPS, query="?tenant=acmee") == (200, {"tenant": "acmee", "phrases": [],
                                                                          "source": "none"})
    assert _call(stack.port, "PUT", OPS, query="?tenant=globex", body=_list("keep me"))[0] == 200
