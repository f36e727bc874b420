"""A throw-away Sentinel group on loopback ports, for the failover tests: a master,
replicas and three sentinels that fail over a second after the master stops answering.

It offers what :class:`tests.kit.stack.Stack` uses of a :class:`tests.kit.support.RedisServer`
(``url``, ``keys``, ``close``), so the same stack of real processes runs against it; only
the URL (``redis+sentinel://``) differs. Processes are ended by their PID only.

With ``stallable=True`` the replicas replicate through a :class:`Relay` each, which can
stop passing bytes: replication stalls while the master, its clients and the sentinels
carry on, as when the network between master and replicas fails.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
import time
from pathlib import Path

import redis as sync_redis

from . import contract
from .support import KILL_TIMEOUT, Process, free_port, memory_dir, wait_until

SERVICE = "ssmaster"
SENTINELS = 3
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
STALLABLE_FAILOVER_TIMEOUT_MS = 120_000


class Relay:
    """Passes TCP connections made to ``port`` on to ``target``, on a thread of its own.

    :meth:`stall` stops passing bytes either way (those read meanwhile are held, and dropped
    by :meth:`cut`, as a failed link drops them); :meth:`cut` closes every connection.
    """

    def __init__(self, target: int) -> None:
        self.port = free_port()
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"relay-{self.port}", daemon=True)
        self._stalled = False
        self._changed: asyncio.Condition | None = None
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    async def _listen(self) -> None:
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, upstream_writer.transport}
        await asyncio.gather(self._pass(reader, upstream_writer), self._pass(upstream_reader, writer),
                             return_exceptions=True)
        for transport in (writer.transport, upstream_writer.transport):
            self._transports.discard(transport)
            transport.abort()

    async def _pass(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            async with self._changed:
                await self._changed.wait_for(lambda: not self._stalled or writer.transport.is_closing())
            if writer.transport.is_closing():
                break
            writer.write(data)
            await writer.drain()
        writer.transport.abort()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def stall(self) -> None:
        # Set from the caller's thread, not through the relay's loop: the relays of a group stall
        # within microseconds of each other, so that no write reaches one replica and not the other.
        # Passing checks the flag after each read; nothing waits for it to be set.
        self._stalled = True

    def cut(self) -> None:
        async def cut():
            for transport in list(self._transports):
                transport.abort()
            async with self._changed:
                self._changed.notify_all()  # what waited to pass finds its connection closed
        self._call(cut())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self.cut()

        async def stop():
            self._server.close()
            await self._server.wait_closed()
        self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class SentinelGroup:
    """``redis-server`` master and replicas, ``redis-sentinel`` ×3, in one temporary folder.

    ``stallable``: each replica replicates through a :class:`Relay` (see the module's docstring).
    The sentinels then wait ``STALLABLE_FAILOVER_TIMEOUT_MS`` before they point a replica
    that replicates from a relay at the master itself ("+fix-slave-config"): longer than
    a test that stalls replication takes.
    """

    def __init__(self, *, replicas: int = 1, stallable: bool = False) -> None:
        for tool in ("redis-server", "redis-sentinel"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (Debian packages redis-server, redis-sentinel)")
        self.dir = Path(memory_dir("ss-sentinel-"))
        self.data_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(SENTINELS)]
        self.servers: dict[int, Process] = {}  # port -> redis-server
        self.sentinels: list[Process] = []
        self.master_port = self.data_ports[0]
        self._seen = [0] * SENTINELS  # per sentinel, its log lines before the last kill
        self.relays: list[Relay] = []
        self.stallable = stallable

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    @property
    def master_url(self) -> str:
        """A plain URL of the master as the sentinels name it now (to inspect it directly)."""
        host, port = self.sentinel_master()
        return f"redis://{host}:{port}/0"

    def start(self, timeout: float = 30.0) -> None:
        try:
            master = self.data_ports[0]
            self._start_server(master)
            for port in self.data_ports[1:]:
                upstream = master
                if self.stallable:
                    relay = Relay(master)
                    relay.start()
                    self.relays.append(relay)
                    upstream = relay.port
                self._start_server(port, replica_of=upstream)
            for port in self.sentinel_ports:
                self.sentinels.append(self._start_sentinel(port, master))
            self.wait_until_healthy(timeout)
        except BaseException:
            self.close()
            raise
        contract.WATCH.watch(self.url)

    def _start_server(self, port: int, *, replica_of: int | None = None) -> Process:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--dbfilename", f"dump-{port}.rdb",
                "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        process = Process(f"redis-{port}", argv)
        self.servers[port] = process
        process.wait_for_line(r"Ready to accept connections", 10)
        return process

    def _start_sentinel(self, port: int, master: int) -> Process:
        # A sentinel rewrites its config file (it records what it learns), so each has its own.
        config = self.dir / f"sentinel-{port}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master} {QUORUM}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} "
            f"{STALLABLE_FAILOVER_TIMEOUT_MS if self.stallable else FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n")
        process = Process(f"sentinel-{port}", ["redis-sentinel", str(config)])
        process.wait_for_line(r"\+monitor master", 10)
        return process

    def sentinel_master(self, port: int | None = None) -> tuple[str, int]:
        """(host, port) of the master as sentinel ``port`` (the first by default) names it."""
        client = sync_redis.Redis(host="127.0.0.1", port=port or self.sentinel_ports[0], decode_responses=True,
                                  socket_timeout=2)
        try:
            host, master_port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        finally:
            client.close()
        return host, int(master_port)

    def _healthy(self) -> bool:
        """Every sentinel names the same master, knows the other sentinels and every replica,
        and sees none of them down; the master has every replica online."""
        replicas = len(self.data_ports) - 1
        for port in self.sentinel_ports:
            client = sync_redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)
            try:
                master = client.sentinel_master(SERVICE)
                known = client.sentinel_slaves(SERVICE)
            finally:
                client.close()
            if (master["port"] != self.master_port or master["num-other-sentinels"] != SENTINELS - 1
                    or master["is_sdown"] or master["is_odown"]):
                return False
            up = [r for r in known if not r["is_sdown"] and not r["is_odown"] and r["master-link-status"] == "ok"]
            if len(up) != replicas:
                return False
        client = sync_redis.Redis(host="127.0.0.1", port=self.master_port, decode_responses=True, socket_timeout=2)
        try:
            info = client.info("replication")
        finally:
            client.close()
        online = [info[f"slave{i}"] for i in range(info.get("connected_slaves", 0))]
        return info["role"] == "master" and sum(r["state"] == "online" for r in online) == replicas

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        wait_until(self._healthy, timeout, "sentinel group healthy (one master, replicas online, sentinels agree)")

    def stall_replication(self) -> None:
        """Replication stops (see :class:`Relay`); the master and the sentinels go on."""
        for relay in self.relays:
            relay.stall()

    def replication_offsets(self) -> tuple[int, dict[int, int]]:
        """The master's replication offset, and each replica's own (what it has applied) by its port."""
        offsets = []
        for port in self.data_ports:
            if port not in self.servers:
                continue
            client = sync_redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)
            try:
                info = client.info("replication")
            finally:
                client.close()
            offsets.append((port, info["master_repl_offset"] if info["role"] == "master"
                            else info["slave_repl_offset"]))
        master = next(offset for port, offset in offsets if port == self.master_port)
        return master, {port: offset for port, offset in offsets if port != self.master_port}

    def kill_master(self) -> tuple[int, float]:
        """SIGKILL the master; (its port, time.monotonic() of the kill)."""
        port = self.master_port
        process = self.servers.pop(port)
        self._seen = [len(s.lines) for s in self.sentinels]  # where to look for this failover's news
        killed = time.monotonic()
        process.signal(signal.SIGKILL)
        process.proc.wait(KILL_TIMEOUT)
        for relay in self.relays:  # what the relays held dies with the link
            relay.cut()
        return port, killed

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> float:
        """Until every sentinel names a new master; time.monotonic() when the first sentinel did."""
        self.sentinels[0].wait_for_line(rf"\+switch-master {SERVICE} \S+ {old_port} ", timeout, start=self._seen[0])
        switched = time.monotonic()
        wait_until(lambda: all(self.sentinel_master(port)[1] != old_port for port in self.sentinel_ports), timeout,
                   "every sentinel names the new master")
        self.master_port = self.sentinel_master()[1]
        return switched

    def switches_since_kill(self) -> int:
        """How many times the first sentinel switched the master since the last kill: more than
        one when the promoted replica was judged down in turn (a split brain: what its clients
        wrote before the next promotion is gone)."""
        sentinel = self.sentinels[0]
        return sum(f"+switch-master {SERVICE} " in line for line in sentinel.lines[self._seen[0]:])

    def revive(self, port: int, timeout: float = 30.0) -> None:
        """Start a redis-server on ``port`` again, as a replica of the master, and wait until the
        group is whole (as a repaired node rejoins)."""
        self._start_server(port, replica_of=self.master_port)
        self.wait_until_healthy(timeout)

    def keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` on the master."""
        client = sync_redis.Redis.from_url(self.master_url)
        try:
            return sorted(key.decode() for key in client.scan_iter(pattern))
        finally:
            client.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in [*self.servers.values(), *self.sentinels])

    def close(self) -> None:
        contract.WATCH.closing(self.url, [*self.sentinels, *self.servers.values()])
        for process in [*self.sentinels, *self.servers.values()]:
            process.stop()
        for relay in self.relays:
            relay.close()
        self.sentinels = []
        self.servers = {}
        shutil.rmtree(self.dir, ignore_errors=True)
