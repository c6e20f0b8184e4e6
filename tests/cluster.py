"""Multi-node clusters for the end-to-end tests: several `arca server`
processes on 127.0.0.1 ports, formed exactly as a user forms one (the
contract of `arca ring ...` and `arca cluster apply`)."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from conftest import ARCA_BIN, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ArcaServer, client, free_port

CLUSTER_SECRET = "arca-e2e-cluster-secret"

# Background work runs often enough for a test to watch it finish.
# Groups snapshot and cut their logs every 50 entries, so members that
# join later catch up from snapshots, not only from logs.
NODE_CONFIG = """
replication_interval_secs = 2
reclaim_grace_secs = 1
raft_snapshot_entries = 50
"""


def arca(*args, check=True, timeout=120):
    env = dict(os.environ, ARCA_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY, ARCA_ROOT_SECRET_KEY=ROOT_SECRET_KEY)
    proc = subprocess.run([ARCA_BIN, *map(str, args)], env=env, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"arca {' '.join(map(str, args))} exited with {proc.returncode}: "
            f"{proc.stdout.decode(errors='replace')} {proc.stderr.decode(errors='replace')}"
        )
    return proc


class Node(ArcaServer):
    """One node: an S3 port, an RPC port, a zone."""

    def __init__(self, root, name, zone, region=1, config=NODE_CONFIG):
        root.mkdir(parents=True, exist_ok=True)
        self.rpc_port = free_port()
        self.zone = zone
        self.region = region
        config_path = root / f"{name}.toml"
        config_path.write_text(config)
        super().__init__(
            root / name,
            # Peers that are down are retried by every group's heartbeats:
            # openraft's warnings about it would drown the log.
            env={"ARCA_CLUSTER_SECRET": CLUSTER_SECRET, "ARCA_LOG": os.environ.get("ARCA_LOG", "warn,openraft=error")},
            args=["--rpc", f"127.0.0.1:{self.rpc_port}", "--config", str(config_path)],
        )

    @property
    def rpc(self):
        return f"127.0.0.1:{self.rpc_port}"


class Cluster:
    def __init__(self, root, zones, part_power=8, replicas=3, config=NODE_CONFIG):
        self.root = Path(root)
        self.nodes = [Node(self.root, f"n{i + 1}", zone, config=config) for i, zone in enumerate(zones)]
        self.builder = self.root / "c.builder"
        self.part_power = part_power
        self.replicas = replicas

    def start(self, nodes=None):
        for node in nodes or self.nodes:
            node.start()
        return self

    def add_node(self, zone, config=NODE_CONFIG):
        node = Node(self.root, f"n{len(self.nodes) + 1}", zone, config=config)
        self.nodes.append(node)
        return node

    def ring(self, nodes=None):
        """Creates the builder if need be, adds `nodes` (default: all) with a
        device d1 each, and rebalances."""
        if not self.builder.exists():
            arca("ring", "create", self.builder, "--part-power", self.part_power, "--replicas", self.replicas)
        for node in nodes or self.nodes:
            arca(
                "ring", "add", self.builder, "--region", node.region, "--zone", node.zone,
                "--node", node.rpc, "--device", "d1", "--weight", 100,
            )
        arca("ring", "rebalance", self.builder)

    def apply(self, via=None):
        via = via or self.nodes[0]
        return arca("cluster", "apply", self.builder, "--endpoint", via.endpoint)

    def status(self, via=None):
        for node in [via] if via else self.live():
            proc = arca("cluster", "status", "--json", "--endpoint", node.endpoint, check=False, timeout=60)
            if proc.returncode == 0:
                return json.loads(proc.stdout)
        raise AssertionError("no node answered cluster status")

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def client(self, node, **kwargs):
        return client(node, **kwargs)

    def wait_formed(self, nodes=None, timeout=90):
        """Until every node of `nodes` is up, adopted the ring and the
        catalog has a leader and as many voters as it can."""
        nodes = nodes or self.nodes
        wanted = {n.rpc for n in nodes}
        return wait_for(
            lambda: self._formed(wanted), timeout, "the cluster did not form"
        )

    def _formed(self, wanted):
        status = self.status()
        up = {n["node"] for n in status["nodes"] if n["state"] == "up"}
        voters = set(status["catalog"]["voters"])
        if not wanted <= up or status["catalog"]["leader"] is None:
            return None
        if len(voters) < min(len(wanted), 5) or not voters <= wanted:
            return None
        return status

    def device_objects(self, status=None):
        """Blobs per node on device d1 (the ring's devices), and on any other
        device."""
        status = status or self.status()
        out = {}
        for node in status["nodes"]:
            for device in node["devices"]:
                out[(node["node"], device["device"])] = device["objects"]
        return out

    def wait_replicated(self, timeout=120):
        """Until two replication passes in a row find nothing pending on
        any node and every node is up."""
        calm = []

        def settled():
            status = self.status()
            if any(n["state"] != "up" for n in status["nodes"] if n["node"] in {x.rpc for x in self.live()}):
                return None
            calm.append(status["replication"]["pending_partitions"] == 0)
            return status if calm[-3:] == [True, True, True] else None

        return wait_for(settled, timeout, "replication did not settle", interval=2)

    def stop_all(self):
        for node in self.nodes:
            node.kill()


def wait_for(check, timeout, message, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except AssertionError as e:
            result, last = None, e
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{message} within {timeout}s (last error: {last})")


README = Path(__file__).resolve().parent.parent / "README.md"


def haproxy_binary():
    """HAProxy's path, or None (Debian puts it in /usr/sbin)."""
    found = shutil.which("haproxy")
    if found is None and os.access("/usr/sbin/haproxy", os.X_OK):
        found = "/usr/sbin/haproxy"
    return found


class HAProxy:
    """HAProxy in front of a cluster's gateways, with the configuration the
    README gives users (its block, with this test's ports put in)."""

    def __init__(self, root, nodes):
        text = README.read_text()
        start = text.index("```\ndefaults\n") + len("```\n")
        config = text[start : text.index("```", start)]
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for i, port in enumerate([self.port] + [n.port for n in nodes]):
            assert f"127.0.0.1:900{i}" in config, config
            config = config.replace(f"127.0.0.1:900{i}", f"127.0.0.1:{port}")
        self.config_path = root / "haproxy.cfg"
        self.config_path.write_text(config)
        self.log = open(root / "haproxy.log", "wb")
        self.proc = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(self.config_path)], stdout=self.log, stderr=subprocess.STDOUT
        )
        # Serving once its port takes connections.
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"haproxy did not start: {(root / 'haproxy.log').read_text()}")
                time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
