"""AudioHook's HTTP Message Signatures (gateway.doors.httpsig): Genesys's documented example, then each
refusal; the nonces a signature may present once (gateway.security.replay)."""

from __future__ import annotations

import base64

import pytest
from websockets.datastructures import Headers

from gateway.doors import httpsig
from gateway.doors.httpsig import Nonce, SignatureError, Token, parse_dictionary, verify
from gateway.security.replay import Nonces

from tests.kit.support import audiohook_signature

# The example request of Genesys's AudioHook documentation (the forum copy's curly quotes straightened).
SECRET = base64.b64decode("TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=")
TARGET = "/api/v1/voicebiometrics/ws"
CREATED = 1641013200
REQUEST = {
    "Host": "audiohook.example.com",
    "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
    "Audiohook-Correlation-Id": "e160e428-53e2-487c-977d-96989bf5c99d",
    "Audiohook-Session-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
    "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh",
}
SIGNATURE_INPUT = ('sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id" '
                   '"audiohook-correlation-id" "x-api-key");keyid="SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh";'
                   'nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=1641013200;expires=3282026430')
SIGNATURE = "sig1=:NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4=:"


def documented(**changes: str | None) -> Headers:
    """The documented request's headers, with some replaced (or, given None, removed)."""
    headers = {**REQUEST, "Signature-Input": SIGNATURE_INPUT, "Signature": SIGNATURE, **changes}
    return Headers({name: value for name, value in headers.items() if value is not None})


def refusal(headers: Headers, *, target: str = TARGET, now: float = CREATED + 1, secret: bytes = SECRET) -> str:
    with pytest.raises(SignatureError) as info:
        verify(secret, target=target, headers=headers, now=now)
    return str(info.value)


def signed(now: int = CREATED, **options) -> Headers:
    """The documented request signed again, e.g. with other components or parameters."""
    return Headers({**REQUEST, **audiohook_signature(SECRET, target=TARGET, headers=REQUEST, created=now,
                                                     **options)})


def test_the_documented_example_verifies():
    member = parse_dictionary(SIGNATURE_INPUT)["sig1"]
    lines = [("@request-target", TARGET), ("@authority", REQUEST["Host"]),
             ("audiohook-organization-id", REQUEST["Audiohook-Organization-Id"]),
             ("audiohook-session-id", REQUEST["Audiohook-Session-Id"]),
             ("audiohook-correlation-id", REQUEST["Audiohook-Correlation-Id"]), ("x-api-key", REQUEST["X-API-KEY"])]
    base = httpsig.signature_base(lines, member.text)
    assert base == (
        b'"@request-target": /api/v1/voicebiometrics/ws\n'
        b'"@authority": audiohook.example.com\n'
        b'"audiohook-organization-id": d7934305-0972-4844-938e-9060eef73d05\n'
        b'"audiohook-session-id": 30b0e395-84d3-4570-ac13-9a62d8f514c0\n'
        b'"audiohook-correlation-id": e160e428-53e2-487c-977d-96989bf5c99d\n'
        b'"x-api-key": SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh\n'
        b'"@signature-params": ' + SIGNATURE_INPUT.removeprefix("sig1=").encode())
    assert base64.b64encode(httpsig.digest(SECRET, base)) == b"NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4="
    verify(SECRET, target=TARGET, headers=documented(), now=CREATED + 1)
    # Header names are case-insensitive, the Host's and covered headers' surrounding spaces do not count.
    verify(SECRET, target=TARGET, headers=Headers({name.lower(): f" {value} " for name, value in
                                                   documented().raw_items()}), now=CREATED)
    # The test helper signs the way Genesys does: the same signature from the same parameters.
    again = audiohook_signature(SECRET, target=TARGET, headers=REQUEST, created=CREATED, expires=3282026430,
                                nonce="VGhpc0lzQVVuaXF1ZU5vbmNl")
    assert again == {"Signature-Input": SIGNATURE_INPUT, "Signature": SIGNATURE}


def test_a_signature_of_something_else_is_refused():
    mismatch = "does not match"
    assert mismatch in refusal(documented(), secret=b"another secret")
    assert mismatch in refusal(documented(), target=TARGET + "?x=1")
    assert mismatch in refusal(documented(), target="/audiohook")
    assert mismatch in refusal(documented(Host="audiohook.example.com:443"))
    assert mismatch in refusal(documented(**{"Audiohook-Session-Id": "1e5a56a4-6b08-4a27-9f4b-22a5e1b1c0f9"}))
    assert mismatch in refusal(documented(Signature="sig1=:" + base64.b64encode(bytes(32)).decode() + ":"))
    # The parameters are signed as sent: one more space changes them.
    assert mismatch in refusal(documented(**{"Signature-Input": SIGNATURE_INPUT.replace(";alg", "; alg")}))


@pytest.mark.parametrize("changes, why", [
    ({"Signature": None}, "no Signature and Signature-Input"),
    ({"Signature-Input": None}, "no Signature and Signature-Input"),
    ({"Signature-Input": SIGNATURE_INPUT.replace('"', "'")}, "Signature-Input is malformed"),
    ({"Signature-Input": SIGNATURE_INPUT.replace('"x-api-key")', '"x-api-key"')}, "Signature-Input is malformed"),
    ({"Signature": "sig1=:not base64!:"}, "Signature is malformed"),
    ({"Signature": SIGNATURE.replace("sig1", "sig2")}, "no byte sequence labelled 'sig1'"),
    ({"Signature": 'sig1="NZBwyBHRRyRoeLqy1IzOa9VYBuI8TgMFt2GRDkDuJh4="'}, "no byte sequence"),
    ({"Signature-Input": "sig1=?1"}, "not a list of components"),
    ({"Signature-Input": SIGNATURE_INPUT.replace('"hmac-sha256"', '"hmac-sha512"')}, "alg is 'hmac-sha512'"),
    ({"Signature-Input": SIGNATURE_INPUT.replace(';alg="hmac-sha256"', "")}, "alg is None"),
    ({"X-API-KEY": "another-key"}, "keyid is not the X-API-KEY header"),
    ({"X-API-KEY": None}, "keyid is not the X-API-KEY header"),
    ({"Signature-Input": SIGNATURE_INPUT.replace("created=1641013200", 'created="1641013200"')}, "not an integer"),
    ({"Signature-Input": SIGNATURE_INPUT.replace(";created=1641013200", "")}, "no created time"),
    ({"Host": None}, "covers '@authority', which the handshake does not have"),
    ({"Audiohook-Correlation-Id": None}, "covers 'audiohook-correlation-id', which the handshake does not"),
])
def test_malformed_or_unfit_signatures_are_refused(changes, why):
    assert why in refusal(documented(**changes))


def test_the_required_components_must_be_covered_as_plain_names():
    assert "does not cover x-api-key" in refusal(signed(components=httpsig.REQUIRED[:-1]))
    assert "does not cover @authority, x-api-key" in refusal(
        signed(components=("@request-target", "audiohook-organization-id", "audiohook-session-id",
                           "audiohook-correlation-id")))
    assert "twice" in refusal(signed(components=httpsig.REQUIRED + ("x-api-key",)))
    assert "'@method' is not supported" in refusal(signed(components=("@method",) + httpsig.REQUIRED))
    token = SIGNATURE_INPUT.replace('"x-api-key"', "x-api-key")
    assert "'x-api-key' is not a plain component name" in refusal(documented(**{"Signature-Input": token}))
    parameter = SIGNATURE_INPUT.replace('"x-api-key"', '"x-api-key";sf')
    assert "is not a plain component name" in refusal(documented(**{"Signature-Input": parameter}))
    # More than the required components is fine when they are there.
    verify(SECRET, target=TARGET, headers=Headers({**REQUEST, "User-Agent": "GenesysCloud-AudioHook-Client",
                                                   **audiohook_signature(
                                                       SECRET, target=TARGET, created=CREATED,
                                                       headers={**REQUEST, "User-Agent": "GenesysCloud-AudioHook-Client"},
                                                       components=httpsig.REQUIRED + ("user-agent",))}),
           now=CREATED)


def test_times_allow_some_clock_skew_and_no_more():
    skew, age = httpsig.CLOCK_SKEW, httpsig.MAX_AGE
    for now in (CREATED - skew, CREATED, CREATED + age):
        verify(SECRET, target=TARGET, headers=documented(), now=now)
    assert "in the future" in refusal(documented(), now=CREATED - skew - 1)
    assert f"{age + 1} s ago" in refusal(documented(), now=CREATED + age + 1)
    expiring = signed(expires=CREATED + 10)
    verify(SECRET, target=TARGET, headers=expiring, now=CREATED + 10 + skew)
    assert "expired" in refusal(expiring, now=CREATED + 11 + skew)
    verify(SECRET, target=TARGET, headers=signed(), now=CREATED)  # no expires: created bounds the age
    assert "alg" in refusal(signed(alg="hmac-sha1"))
    assert "keyid" in refusal(signed(keyid="someone else"))


def test_structured_field_dictionaries():
    members = parse_dictionary('a=("x" "y";q=1);k=tok;n=-12;b=?0;s="q\\"uote", b2=:AAE=:;p, c=?1')
    assert [item.value for item in members["a"].value] == ["x", "y"]
    assert members["a"].value[1].params == {"q": 1}
    assert members["a"].params == {"k": "tok", "n": -12, "b": False, "s": 'q"uote'}
    assert isinstance(members["a"].params["k"], Token) and not isinstance(members["a"].params["s"], Token)
    assert members["a"].text == '("x" "y";q=1);k=tok;n=-12;b=?0;s="q\\"uote"'
    assert (members["b2"].value, members["b2"].params) == (b"\x00\x01", {"p": True})
    assert members["c"].value is True
    assert parse_dictionary("") == {}
    with pytest.raises(SignatureError):  # the documentation's copy with typographic quotes
        parse_dictionary(SIGNATURE_INPUT.replace('"', "\u201d"))
    for bad in ("A=1", "a=1,", "a=1 b=2", 'a=("x""y")', 'a="unterminated', "a=(", "a=:AA=", "a=@"):
        with pytest.raises(SignatureError, match="the field is malformed"):
            parse_dictionary(bad)


def test_a_signature_needs_a_nonce():
    no_nonce = SIGNATURE_INPUT.replace(';nonce="VGhpc0lzQVVuaXF1ZU5vbmNl"', "")
    assert "no nonce" in refusal(documented(**{"Signature-Input": no_nonce}))
    assert "no nonce" in refusal(documented(**{"Signature-Input": SIGNATURE_INPUT.replace(
        'nonce="VGhpc0lzQVVuaXF1ZU5vbmNl"', "nonce=7")}))


def test_the_nonce_is_remembered_while_a_copy_of_the_handshake_would_be_taken():
    """Its ttl reaches the moment this clock stops taking the signature, plus another gateway's skew."""
    skew, age = httpsig.CLOCK_SKEW, httpsig.MAX_AGE
    nonce = verify(SECRET, target=TARGET, headers=documented(), now=CREATED + 1)
    assert (nonce.scope, nonce.value) == (f"audiohook:{REQUEST['X-API-KEY']}", "VGhpc0lzQVVuaXF1ZU5vbmNl")
    assert nonce.ttl == age - 1 + skew  # expires is far ahead: created + MAX_AGE bounds it
    for now in (CREATED - skew, CREATED + age):  # the edges of the window
        assert verify(SECRET, target=TARGET, headers=documented(), now=now).ttl == CREATED + age - now + skew
    soon = verify(SECRET, target=TARGET, headers=signed(expires=CREATED + 10, nonce="n-1"), now=CREATED)
    assert (soon.value, soon.ttl) == ("n-1", 10 + skew + skew)  # taken until expires + skew
    # Each handshake a new nonce: two signatures of one request are told apart.
    first, second = (verify(SECRET, target=TARGET, headers=signed(), now=CREATED) for _ in range(2))
    assert first.value != second.value


class FakeRedis:
    """SET NX with EX, as Redis does it, on a dict (the unit layer has no Redis)."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes, int]] = {}

    async def set(self, key, value, *, nx=False, ex=None):
        if nx and key in self.keys:
            return None
        self.keys[key] = (value, ex)
        return True


async def test_nonces_are_taken_once_and_expire_with_their_window():
    redis = FakeRedis()
    nonces = Nonces(redis)
    assert await nonces.first_use(Nonce(scope="audiohook:k", value="n", ttl=359.2))
    assert not await nonces.first_use(Nonce(scope="audiohook:k", value="n", ttl=300))  # a replay
    assert await nonces.first_use(Nonce(scope="audiohook:other", value="n", ttl=300))  # another signer's
    assert await nonces.first_use(Nonce(scope="audiohook:k", value="m", ttl=0.2))
    assert sorted(ex for _, ex in redis.keys.values()) == [1, 300, 360]  # whole seconds, rounded up
    assert all(key.startswith("ss:nonce:") and len(key) == len("ss:nonce:") + 64 for key in redis.keys)
