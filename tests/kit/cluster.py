"""A throw-away 3-master Redis Cluster on loopback ports, for the cluster tests; with
``replicas=1`` each master has a replica, and :meth:`RedisClusterServer.failover` hands a
master's slots to it with ``CLUSTER FAILOVER``.

It offers what :class:`tests.kit.stack.Stack` uses of a :class:`tests.kit.support.RedisServer`
(``url``, ``start``, ``stop``, ``close``, ``keys``) so the same stack of real processes runs
against it unchanged; only the URL scheme (``redis+cluster://``) differs.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis as sync_redis

from . import contract
from .support import Process, free_port, memory_dir

MASTERS = 3


class RedisClusterServer:
    """``redis-server --cluster-enabled yes`` nodes joined by ``redis-cli --cluster create``:
    ``masters`` masters with ``replicas`` replicas each."""

    def __init__(self, masters: int = MASTERS, *, replicas: int = 0) -> None:
        for tool in ("redis-server", "redis-cli"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (Debian package redis-server / redis-tools)")
        self.replicas = replicas
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        # The cluster bus defaults to port + 10000, which may be taken or above
        # 65535; an explicit free port avoids both.
        self.bus_ports = [free_port() for _ in self.ports]
        self.dir = memory_dir("ss-redis-cluster-")
        self.processes: list[Process] = []

    @property
    def port(self) -> int:
        """The seed node; the client discovers the others from it."""
        return self.ports[0]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.port}"

    @property
    def node_urls(self) -> list[str]:
        """Plain URLs of every node, to inspect each directly."""
        return [f"redis://127.0.0.1:{port}/0" for port in self.ports]

    def start(self, timeout: float = 30.0) -> None:
        try:
            for port, bus_port in zip(self.ports, self.bus_ports):
                process = Process(f"redis-{port}", [
                    "redis-server", "--cluster-enabled", "yes",
                    "--cluster-config-file", f"{self.dir}/nodes-{port}.conf",
                    "--port", str(port), "--cluster-port", str(bus_port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                ])
                self.processes.append(process)
            for process in self.processes:
                process.wait_for_line(r"Ready to accept connections", 10)
            subprocess.run(
                ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, text=True, timeout=timeout,
            )
            self._wait_until_ok(timeout)
        except BaseException:
            self.close()
            raise
        contract.WATCH.watch(self.url)

    def _wait_until_ok(self, timeout: float) -> None:
        """Every node reports ``cluster_state:ok`` (slots assigned, gossip converged), every
        replica is in sync with its master, and every node sees the same masters and replicas."""
        deadline = time.monotonic() + timeout
        pending = list(self.ports)
        while pending:
            client = sync_redis.Redis(host="127.0.0.1", port=pending[0], decode_responses=True)
            try:
                info = client.execute_command("CLUSTER INFO")  # parsed into a dict
                replication = client.info("replication")
                nodes = client.execute_command("CLUSTER NODES")  # parsed: {"ip:port@bus": {"flags": ...}}
            finally:
                client.close()
            replicas = sum("slave" in node["flags"] for node in nodes.values())
            if (info.get("cluster_state") == "ok" and replication.get("master_link_status", "up") == "up"
                    and replicas == len(self.ports) * self.replicas // (1 + self.replicas)):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {pending[0]} not ok after {timeout}s:\n{info}\n{replication}\n{nodes}")
            time.sleep(0.05)  # polling interval of a bounded wait on a condition

    def role(self, port: int) -> str:
        client = sync_redis.Redis(host="127.0.0.1", port=port)
        try:
            return client.execute_command("ROLE")[0].decode()
        finally:
            client.close()

    def replica_of(self, master_port: int) -> int:
        """The port of a replica of the master on ``master_port``."""
        client = sync_redis.Redis(host="127.0.0.1", port=master_port, decode_responses=True)
        try:
            replicas = client.info("replication")
        finally:
            client.close()
        return int(replicas["slave0"]["port"])

    def failover(self, replica_port: int, timeout: float = 30.0) -> None:
        """``CLUSTER FAILOVER`` on a replica: its master stops taking writes, the replica catches
        up and takes over its slots, the master becomes its replica. Returns once every node
        agrees and the cluster is ok."""
        client = sync_redis.Redis(host="127.0.0.1", port=replica_port)
        try:
            client.execute_command("CLUSTER FAILOVER")
        finally:
            client.close()
        deadline = time.monotonic() + timeout
        while not all(self._sees_as_master(port, replica_port) for port in self.ports):
            if time.monotonic() > deadline:
                raise TimeoutError(f"not every node sees {replica_port} as a master {timeout}s after CLUSTER FAILOVER")
            time.sleep(0.05)  # polling interval of a bounded wait on a condition
        self._wait_until_ok(max(1.0, deadline - time.monotonic()))

    @staticmethod
    def _sees_as_master(port: int, node_port: int) -> bool:
        """Whether the node on ``port`` lists the node on ``node_port`` as a master (CLUSTER NODES)."""
        client = sync_redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        try:
            nodes = client.execute_command("CLUSTER NODES")  # parsed into {"ip:port@bus": {...}}
        finally:
            client.close()
        return any(address.split("@")[0].endswith(f":{node_port}") and "master" in node["flags"]
                   for address, node in nodes.items())

    def keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` on any node (``SCAN`` is per node on a cluster)."""
        found = set()
        for url in self.node_urls:
            client = sync_redis.Redis.from_url(url)
            try:
                found.update(key.decode() for key in client.scan_iter(pattern))
            finally:
                client.close()
        return sorted(found)

    def port_of(self, key: str) -> int:
        """The port of the master that holds ``key``'s slot."""
        client = sync_redis.RedisCluster(host="127.0.0.1", port=self.port)
        try:
            return client.get_node_from_key(key).port
        finally:
            client.close()

    def stop(self) -> None:
        contract.WATCH.closing(self.url, self.processes)
        for process in self.processes:
            process.stop()
        self.processes = []

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
