"""The gate (gateway.security.gate) without sockets or Redis: each access rule, its order and its refusal.

Its Redis-backed parts (nonces, follow lookups, key slots) are small fakes here; the same
rules against real gateways are in tests/e2e/test_security.py, test_tenants.py and test_limits.py.
"""

from __future__ import annotations

import http

import pytest
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError
from websockets.datastructures import Headers

from common.errors import ErrorCode
from common.metrics import GatewayMetrics
from gateway.doors.base import Door, Handshake, HandshakeRefused
from gateway.doors.httpsig import Nonce
from gateway.doors.native import NativeDoor
from gateway.security.auth import ApiKeys
from gateway.security.gate import AccessOptions, AccessRequest, Admission, Gate, Purpose, Refusal
from gateway.policy.keyfile import OPEN, key_id
from gateway.security.limits import SESSION, NoSlot, Slot
from gateway.security.origins import OriginPolicy

KEYS = """\
streamer tenant=acme perms=stream doors=native
watcher tenant=acme perms=follow
boss tenant=ops perms=admin
manager tenant=acme perms=settings
"""
ADDRESS = "192.0.2.7"


class FakeNonces:
    """Nonces seen once; ``down``: Redis does not answer."""

    def __init__(self, *, down: bool = False) -> None:
        self.seen: set[Nonce] = set()
        self.down = down

    async def first_use(self, nonce: Nonce) -> bool:
        if self.down:
            raise RedisConnectionError("Redis is away")
        new = nonce not in self.seen
        self.seen.add(nonce)
        return new


class FakeLookups:
    def __init__(self, *, wait: float = 0.0, limit: int = 20) -> None:
        self.wait = wait
        self.limit = limit
        self.attempts: list[tuple[str | None, str]] = []

    async def attempt(self, key_id: str | None, address: str) -> float:
        self.attempts.append((key_id, address))
        return self.wait


class FakeSlots:
    """At most ``most`` slots of any kind per key."""

    def __init__(self, most: int = 1) -> None:
        self.most = most
        self.held: list[Slot] = []

    async def take(self, kind: str, key_id: str) -> Slot:
        if sum(1 for slot in self.held if slot.key_id == key_id) >= self.most:
            raise NoSlot(ErrorCode.OVERLOADED, f"this key already has {self.most} open session(s)",
                         reason="key_session_limit")
        slot = Slot(kind, key_id, str(len(self.held)))
        self.held.append(slot)
        return slot

    async def release(self, slot: Slot) -> None:
        self.held.remove(slot)


class SignedDoor(NativeDoor):
    """A door whose handshake presents a nonce (as AudioHook's signed one does), from its ``n`` parameter."""

    name = "native"

    def __init__(self, handshake: Handshake, *, options: object = None) -> None:
        super().__init__(handshake, options=options)
        self.nonce = Nonce("test", dict(handshake.query)["n"], 60.0)


class PickyDoor(NativeDoor):
    def __init__(self, handshake: Handshake, *, options: object = None) -> None:
        raise HandshakeRefused(400, b"<error>no</error>", content_type="application/xml", headers=[("X-Id", "1")])


def gate(tmp_path, *, pending: int = 0, nonces: FakeNonces | None = None, lookups: FakeLookups | None = None,
         slots: FakeSlots | None = None, keys: bool = True, **access) -> Gate:
    path = tmp_path / "keys"
    path.write_text(KEYS)
    options = AccessOptions(api_keys=ApiKeys(keys_file=path) if keys else ApiKeys(), **access)
    return Gate(options, metrics=GatewayMetrics(CollectorRegistry()), nonces=nonces or FakeNonces(),
                lookups=lookups or FakeLookups(), slots=slots or FakeSlots(), pending=lambda address: pending)


def request(purpose: Purpose, target: str = "/ws/asr", *, door: type[Door] | None = NativeDoor,
            call_id: str | None = None, tenant: str | None = None, **headers: str) -> AccessRequest:
    sent = Headers((name.replace("_", "-"), value) for name, value in headers.items())
    handshake = Handshake.from_target(target, sent)
    return AccessRequest(purpose=purpose, handshake=handshake, address=ADDRESS, door=door, call_id=call_id,
                         tenant=tenant)


def refused(gate: Gate, reason: str) -> float:
    return gate.metrics.sessions_refused.labels(reason=reason)._value.get()


async def test_a_call_with_a_valid_key_opens_its_door_without_the_token(tmp_path):
    admission = await gate(tmp_path).admit(request(Purpose.CALL, "/ws/asr?token=streamer&x=1"))
    assert isinstance(admission, Admission)
    assert admission.key.tenant == "acme" and admission.address == ADDRESS
    assert isinstance(admission.door, NativeDoor) and admission.door.handshake.query == [("x", "1")]
    assert admission.handshake.query == [("x", "1")]


async def test_without_keys_everyone_is_open_and_an_admin(tmp_path):
    checks = gate(tmp_path, keys=False)
    assert (await checks.admit(request(Purpose.CALL))).key == OPEN
    assert (await checks.admit(request(Purpose.ADMIN, "/health/extended"))).key == OPEN


async def test_a_missing_or_wrong_key_is_refused_401(tmp_path):
    checks = gate(tmp_path)
    missing = await checks.admit(request(Purpose.CALL))
    assert isinstance(missing, Refusal) and missing.status == http.HTTPStatus.UNAUTHORIZED
    assert missing.error == "unauthorized" and "an API key is required" in missing.message
    assert ("WWW-Authenticate", 'Bearer realm="streamscribe"') in missing.headers
    wrong = await checks.admit(request(Purpose.STATUS, "/ws/status", Authorization="Bearer nobody"))
    assert isinstance(wrong, Refusal) and wrong.message == "the API key is not valid"
    assert refused(checks, "unauthorized") == 2


async def test_a_foreign_origin_is_refused_before_the_key_is_looked_at(tmp_path):
    checks = gate(tmp_path, origins=OriginPolicy.parse("https://app.example"))
    refusal = await checks.admit(request(Purpose.CALL, Origin="https://evil.example", Host="gw.example"))
    assert isinstance(refusal, Refusal) and refusal.status == http.HTTPStatus.FORBIDDEN
    assert refusal.error == "forbidden_origin" and "https://evil.example" in refusal.message
    assert refused(checks, "forbidden_origin") == 1 and refused(checks, "unauthorized") == 0
    listed = await checks.admit(request(Purpose.CALL, "/ws/asr?token=streamer", Origin="https://app.example"))
    assert isinstance(listed, Admission)


async def test_an_address_at_its_pending_limit_is_refused_429(tmp_path):
    checks = gate(tmp_path, pending=3, max_pending_per_ip=3)
    refusal = await checks.admit(request(Purpose.FOLLOW, "/ws/follow/c1?token=watcher", call_id="c1"))
    assert isinstance(refusal, Refusal) and refusal.status == http.HTTPStatus.TOO_MANY_REQUESTS
    assert refusal.error == "too_many_pending" and f"{ADDRESS} already has 3 connection(s)" in refusal.message
    assert refusal.headers == (("Retry-After", "1"),)
    # One under the limit, or no limit: in.
    assert isinstance(await gate(tmp_path, pending=2, max_pending_per_ip=3).admit(
        request(Purpose.CALL, "/ws/asr?token=streamer")), Admission)
    assert isinstance(await gate(tmp_path, pending=99, max_pending_per_ip=0).admit(
        request(Purpose.CALL, "/ws/asr?token=streamer")), Admission)


async def test_a_key_streams_only_to_its_doors_and_follows_only_with_the_permission(tmp_path):
    checks = gate(tmp_path)
    other_door = await checks.admit(request(Purpose.CALL, "/ws/asr?token=watcher"))
    assert isinstance(other_door, Refusal) and other_door.status == http.HTTPStatus.FORBIDDEN
    assert other_door.error == str(ErrorCode.FORBIDDEN) and "the native door" in other_door.message
    no_follow = await checks.admit(request(Purpose.FOLLOW, "/ws/follow/c1?token=streamer", call_id="c1"))
    assert isinstance(no_follow, Refusal) and "may not follow calls" in no_follow.message
    assert refused(checks, "forbidden") == 2


async def test_a_follow_counts_its_lookup_and_waits_out_too_many(tmp_path):
    lookups = FakeLookups()
    admission = await gate(tmp_path, lookups=lookups).admit(
        request(Purpose.FOLLOW, "/ws/follow/c1?token=watcher&from_seq=3", call_id="c1"))
    assert isinstance(admission, Admission) and admission.call_id == "c1"
    assert admission.handshake.query == [("from_seq", "3")]
    assert lookups.attempts == [(key_id("watcher"), ADDRESS)]
    checks = gate(tmp_path, lookups=FakeLookups(wait=2.2, limit=5))
    refusal = await checks.admit(request(Purpose.FOLLOW, "/ws/follow/c1?token=watcher", call_id="c1"))
    assert isinstance(refusal, Refusal) and refusal.status == http.HTTPStatus.TOO_MANY_REQUESTS
    assert refusal.error == "too_many_lookups" and "(the limit is 5 a minute); retry in 3 s" in refusal.message
    assert refusal.headers == (("Retry-After", "3"),)


async def test_admin_pages_need_an_admin_key(tmp_path):
    checks = gate(tmp_path)
    assert isinstance(await checks.admit(request(Purpose.ADMIN, "/health/extended?token=boss")), Admission)
    refusal = await checks.admit(request(Purpose.ADMIN, "/health/extended?token=watcher"))
    assert isinstance(refusal, Refusal) and refusal.status == http.HTTPStatus.FORBIDDEN
    assert "needs an admin API key" in refusal.message
    assert isinstance(await checks.admit(request(Purpose.ADMIN, "/health/extended")), Refusal)  # no key: 401


@pytest.mark.parametrize("key, tenant, allowed", [
    ("manager", None, True),  # perms=settings: its own tenant's
    ("manager", "acme", True),
    ("manager", "ops", False),  # ... not another's
    ("boss", "acme", True),  # perms=admin: any tenant's
    ("boss", None, True),
    ("streamer", None, False),  # stream, follow: not the settings
    ("watcher", "acme", False),
])
async def test_a_tenants_settings_need_its_settings_key_or_an_admin(tmp_path, key, tenant, allowed):
    checks = gate(tmp_path)
    admitted = await checks.admit(request(Purpose.SETTINGS, f"/v1/analytics/phrases?token={key}", door=None,
                                          tenant=tenant))
    assert isinstance(admitted, Admission) == allowed, admitted
    if not allowed:
        assert admitted.status == http.HTTPStatus.FORBIDDEN and "perms=settings" in admitted.message
    assert isinstance(await checks.admit(request(Purpose.SETTINGS, "/v1/analytics/phrases", door=None)),
                      Refusal)  # no key: 401


async def test_a_signed_handshake_is_taken_once(tmp_path):
    checks = gate(tmp_path)
    signed = request(Purpose.CALL, "/ws/asr?token=streamer&n=abc", door=SignedDoor)
    assert isinstance(await checks.admit(signed), Admission)
    replay = await checks.admit(signed)
    assert isinstance(replay, Refusal) and replay.status == http.HTTPStatus.UNAUTHORIZED
    assert replay.error == "unauthorized" and "a replay" in replay.message and refused(checks, "replayed") == 1
    # Redis away: nobody can tell, so the handshake is refused, as unavailable and not as a replay.
    down = gate(tmp_path, nonces=FakeNonces(down=True))
    refusal = await down.admit(signed)
    assert isinstance(refusal, Refusal) and refusal.status == http.HTTPStatus.SERVICE_UNAVAILABLE
    assert refusal.error == str(ErrorCode.UNAVAILABLE) and refused(down, "replayed") == 0


async def test_a_door_that_refuses_its_handshake_writes_its_own_body(tmp_path):
    refusal = await gate(tmp_path).admit(request(Purpose.CALL, "/ws/asr?token=streamer", door=PickyDoor))
    assert refusal == Refusal(status=400, body=b"<error>no</error>", content_type="application/xml",
                              headers=(("X-Id", "1"),))


async def test_a_recording_takes_a_session_slot_of_its_key(tmp_path):
    slots = FakeSlots(most=1)
    checks = gate(tmp_path, slots=slots)
    admission = await checks.admit(request(Purpose.RECORDING, "/v1/listen?token=streamer", door=NativeDoor))
    assert isinstance(admission, Admission) and admission.slot == slots.held[0]
    assert admission.slot.kind == SESSION and admission.slot.key_id == key_id("streamer")
    full = await checks.admit(request(Purpose.RECORDING, "/v1/listen?token=streamer", door=NativeDoor))
    assert isinstance(full, Refusal) and full.status == http.HTTPStatus.TOO_MANY_REQUESTS
    assert full.error == str(ErrorCode.OVERLOADED) and full.headers == (("Retry-After", "1"),)
    assert refused(checks, "key_session_limit") == 1
    await checks.give_back(admission.slot)
    assert slots.held == []
    # Without keys nothing is counted.
    assert (await gate(tmp_path, keys=False, slots=slots).admit(
        request(Purpose.RECORDING, "/v1/listen", door=NativeDoor))).slot is None


async def test_a_redacted_recording_needs_a_key_of_its_door_and_takes_no_slot(tmp_path):
    slots = FakeSlots(most=1)
    checks = gate(tmp_path, slots=slots)
    target = "/v1/listen/0f0e/audio"
    admission = await checks.admit(request(Purpose.RECORDED_AUDIO, target + "?token=streamer", door=NativeDoor))
    assert isinstance(admission, Admission) and admission.key.tenant == "acme" and admission.slot is None
    assert slots.held == []
    for key, status in (("", 401), ("nobody", 401), ("watcher", 403)):
        refusal = await checks.admit(request(Purpose.RECORDED_AUDIO, f"{target}?token={key}", door=NativeDoor))
        assert isinstance(refusal, Refusal) and refusal.status == status, (key, refusal)


@pytest.mark.parametrize("purpose", [Purpose.CALL, Purpose.RECORDING, Purpose.RECORDED_AUDIO])
async def test_a_door_request_must_name_its_door(tmp_path, purpose):
    with pytest.raises(ValueError, match="names its door"):
        await gate(tmp_path).admit(request(purpose, "/ws/asr?token=streamer", door=None))
