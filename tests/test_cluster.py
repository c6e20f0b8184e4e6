"""A cluster of several `arca server` processes on 127.0.0.1, formed with
`arca ring` and `arca cluster apply`: copies on every node, gateways that
all see the same store, nodes that die and come back, a cluster that grows.
"""

import hashlib
import json
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from cluster import NODE_CONFIG, Cluster, HAProxy, arca, haproxy_binary, wait_for
from conftest import client, error_of, unique_name


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(zones, **kwargs):
        cluster = Cluster(tmp_path, zones, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop_all()
    # No node may have panicked, whatever the test saw through S3 (openraft
    # checks its invariants with assertions in debug builds).
    for cluster in made:
        for node in cluster.nodes:
            log = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
            assert "panicked" not in log, f"{node.rpc} panicked: {log[max(0, log.index('panicked') - 200):][:2000]}"


def form(cluster):
    cluster.start()
    cluster.ring()
    cluster.apply()
    return cluster.wait_formed()


def body(seed, size):
    return random.Random(seed).randbytes(size)


# Inline bodies, one stripe, and several stripes (4 MiB each).
SIZES = [100, 70_000, 1_500_000, 9_000_000]


def put_objects(s3, bucket, count, prefix="obj"):
    expected = {}
    for i in range(count):
        key = f"{prefix}-{i:04d}"
        data = body(key, SIZES[i % len(SIZES)])
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        expected[key] = hashlib.md5(data).hexdigest()
    return expected


def check_objects(s3, bucket, expected):
    for key, md5 in expected.items():
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.md5(data).hexdigest() == md5, f"{key} differs"


class Load:
    """Writers and readers on some gateways until stopped; every failed
    request is recorded with what it was."""

    def __init__(self, cluster, gateways, bucket, threads_per_gateway=2):
        self.clients = [cluster.client(g, read_timeout=120) for g in gateways]
        self.bucket = bucket
        self.stop = threading.Event()
        self.failures = []
        self.done = {}
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, args=(c, f"w{gi}-{t}"), daemon=True)
            for gi, c in enumerate(self.clients)
            for t in range(threads_per_gateway)
        ]

    def run(self, s3, name):
        n = 0
        while not self.stop.is_set():
            key = f"load-{name}-{n}"
            data = body(key, random.Random(key).choice([2_000, 300_000, 5_000_000]))
            try:
                s3.put_object(Bucket=self.bucket, Key=key, Body=data)
                got = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                if got != data:
                    raise AssertionError(f"{key} read back different bytes")
                with self.lock:
                    self.done[key] = hashlib.md5(data).hexdigest()
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(f"{key}: {e!r}")
            n += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)


def test_three_nodes_keep_every_object_through_a_crash(make_cluster):
    cluster = make_cluster([1, 2, 3])
    status = form(cluster)
    assert status["ring_version"] == 1
    assert sorted(status["catalog"]["voters"]) == sorted(n.rpc for n in cluster.nodes)
    n1, n2, n3 = cluster.nodes
    s3 = [cluster.client(n) for n in cluster.nodes]

    # Written on one gateway, visible on the others at once.
    bucket = unique_name("crash")
    s3[0].create_bucket(Bucket=bucket)
    expected = {}
    for i, size in enumerate(SIZES * 2):
        key = f"before-{i}"
        data = body(key, size)
        s3[i % 3].put_object(Bucket=bucket, Key=key, Body=data)
        expected[key] = hashlib.md5(data).hexdigest()
        other = s3[(i + 1) % 3]
        assert other.get_object(Bucket=bucket, Key=key)["Body"].read() == data
        listed = [o["Key"] for o in other.list_objects_v2(Bucket=bucket)["Contents"]]
        assert key in listed
    # SSE-S3 objects sealed through one gateway open through another: the
    # cluster's master key is one, kept in the catalog.
    sealed = body("sealed", 300_000)
    s3[1].put_object(Bucket=bucket, Key="sealed", Body=sealed, ServerSideEncryption="AES256")
    assert s3[2].get_object(Bucket=bucket, Key="sealed")["Body"].read() == sealed
    expected["sealed"] = hashlib.md5(sealed).hexdigest()

    # Every node holds a copy of every blob.
    counts = cluster.device_objects()
    d1 = {node: counts[(node.rpc, "d1")] for node in cluster.nodes}
    assert len(set(d1.values())) == 1 and min(d1.values()) > 0, d1

    # kill -9 one node under load: nothing fails on the live gateways.
    with Load(cluster, [n1, n2], bucket) as load:
        time.sleep(3)
        n3.kill()
        time.sleep(8)
    assert load.failures == [], load.failures[:5]
    assert len(load.done) > 10
    expected.update(load.done)

    # It comes back and is made whole without anyone asking.
    n3.start()
    cluster.wait_replicated()
    counts = cluster.device_objects()
    assert counts[(n3.rpc, "d1")] == counts[(n1.rpc, "d1")] == counts[(n2.rpc, "d1")]

    # With the other two stopped, the returning node alone serves every
    # object, byte for byte (reads only: its ranges have no majority).
    n1.kill()
    n2.kill()
    check_objects(s3[2], bucket, expected)
    with pytest.raises(ClientError) as e:
        s3[2].put_object(Bucket=bucket, Key="no-quorum", Body=b"x")
    assert error_of(e)[1] == 503


def flip_byte_of(node, needle):
    """Flips one byte inside the first copy of `needle` in the node's
    volumes; returns whether it found one."""
    for vol in sorted((node.data_dir / "devices").glob("*/*.vol")):
        data = vol.read_bytes()
        at = data.find(needle)
        if at >= 0:
            with open(vol, "r+b") as f:
                f.seek(at + len(needle) // 2)
                f.write(bytes([data[at + len(needle) // 2] ^ 0xFF]))
            return True
    return False


def test_five_nodes_repair_a_corrupt_copy_and_lose_two(make_cluster):
    cluster = make_cluster([1, 2, 3, 4, 5])
    form(cluster)
    s3 = {n.rpc: cluster.client(n) for n in cluster.nodes}
    first = s3[cluster.nodes[0].rpc]
    # Several buckets, so some index range is likely to lose two of its
    # three replicas below.
    buckets = {}
    for i in range(4):
        name = unique_name(f"five{i}")
        first.create_bucket(Bucket=name)
        buckets[name] = put_objects(first, name, 8)
    bucket = name
    expected = buckets[bucket]
    needle_key = "corrupt-me"
    data = body(needle_key, 200_000)
    first.put_object(Bucket=bucket, Key=needle_key, Body=data)
    expected[needle_key] = hashlib.md5(data).hexdigest()
    cluster.wait_replicated()

    # A flipped byte in one copy is never served, and the copy is repaired
    # from a good one.
    needle = data[50_000:50_064]

    def holds(node):
        return any(needle in v.read_bytes() for v in (node.data_dir / "devices").glob("*/*.vol"))

    holders = [n for n in cluster.nodes if holds(n)]
    assert len(holders) == 3, "three copies of the blob"
    victim = holders[0]
    assert flip_byte_of(victim, needle)
    assert not holds(victim)
    for _ in range(3):
        got = s3[victim.rpc].get_object(Bucket=bucket, Key=needle_key)["Body"].read()
        assert got == data
    wait_for(lambda: b"repaired a corrupt blob copy" in victim.log_path.read_bytes(), 30,
             "the corrupt copy was not repaired")
    assert holds(victim), "an intact copy is back on the node"

    # Two nodes down at once: every object is still readable through every
    # live gateway (a range that lost two of its three replicas answers from
    # the one left).
    for node in cluster.nodes[3:]:
        node.kill()
    for node in cluster.nodes[:3]:
        for name, objects in buckets.items():
            check_objects(s3[node.rpc], name, objects)


def test_grow_from_one_node_to_three_then_four_under_load(make_cluster):
    cluster = make_cluster([1, 2, 3])
    n1, n2, n3 = cluster.nodes
    # One node, alone, with buckets, a key and objects.
    n1.start()
    s3 = cluster.client(n1)
    bucket = unique_name("grow")
    s3.create_bucket(Bucket=bucket)
    expected = put_objects(s3, bucket, 12)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    part = body("mp-1", 5 << 20)
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=part)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    expected["mp"] = hashlib.md5(part).hexdigest()
    alice_key = json.loads(arca("key", "create", "alice", "--json", "--endpoint", n1.endpoint).stdout)
    arca("bucket", "allow", bucket, alice_key["access_key"], "--endpoint", n1.endpoint)

    # Two new nodes and a ring with all three.
    n2.start()
    n3.start()
    cluster.ring()
    cluster.apply(via=n1)
    cluster.wait_formed()
    cluster.wait_replicated(timeout=180)
    counts = cluster.device_objects()
    for node in cluster.nodes:
        assert counts[(node.rpc, "d1")] == counts[(n1.rpc, "d1")] > 0, counts
    assert counts.get((n1.rpc, "d0"), 0) == 0, "the old device drained"
    for node in cluster.nodes:
        check_objects(cluster.client(node), bucket, expected)
    # The key, and its grant, are everywhere.
    alice = cluster.client(n3, access_key=alice_key["access_key"], secret_key=alice_key["secret_key"])
    assert len(alice.list_objects_v2(Bucket=bucket)["Contents"]) == len(expected)

    # A fourth node, a new ring applied under load: everything stays
    # readable and writable, and data moves to the new node — to a device
    # its config maps outside its data directory (a disk mounted elsewhere).
    disk = cluster.root / "disk4"
    n4 = cluster.add_node(4, config=NODE_CONFIG + f'[devices]\nd1 = "{disk}"\n')
    n4.start()
    with Load(cluster, [n1, n2], bucket, threads_per_gateway=1) as load:
        time.sleep(2)
        cluster.ring([n4])
        cluster.apply(via=n2)
        checker = cluster.client(n3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check_objects(checker, bucket, expected)
            counts = cluster.device_objects()
            if counts.get((n4.rpc, "d1"), 0) > 0:
                break
    assert load.failures == [], load.failures[:5]
    expected.update(load.done)
    cluster.wait_formed()
    cluster.wait_replicated(timeout=180)
    counts = cluster.device_objects()
    assert counts[(n4.rpc, "d1")] > 0, counts
    assert any(disk.glob("*.vol")) and not (n4.data_dir / "devices" / "d1").exists()
    assert counts[(n1.rpc, "d1")] < sum(counts[(n.rpc, "d1")] for n in cluster.nodes) / 3 * 1.01
    for node in cluster.nodes:
        check_objects(cluster.client(node), bucket, expected)


def test_concurrent_creations_and_conditional_puts_have_one_winner(make_cluster):
    cluster = make_cluster([1, 2, 3])
    form(cluster)
    clients = [cluster.client(n) for n in cluster.nodes]
    bucket = unique_name("cond")
    clients[0].create_bucket(Bucket=bucket)

    def race(calls):
        barrier = threading.Barrier(len(calls))

        def run(call):
            barrier.wait()
            try:
                call()
                return "ok"
            except ClientError as e:
                return error_of(e)

        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, calls))

    for round in range(5):
        name = unique_name(f"race{round}")
        outcomes = race([lambda c=c: c.create_bucket(Bucket=name) for c in clients])
        assert outcomes.count("ok") == 1, outcomes
        assert all(o == "ok" or o[1] == 409 for o in outcomes), outcomes

        key = f"once-{round}"
        outcomes = race([
            lambda c=c, i=i: c.put_object(Bucket=bucket, Key=key, Body=f"writer {i}".encode(), IfNoneMatch="*")
            for i, c in enumerate(clients)
        ])
        assert outcomes.count("ok") == 1, outcomes
        assert all(o == "ok" or o == ("PreconditionFailed", 412) for o in outcomes), outcomes
        winner = outcomes.index("ok")
        for c in clients:
            assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == f"writer {winner}".encode()


@pytest.fixture
def haproxy(tmp_path):
    if haproxy_binary() is None:
        pytest.skip("haproxy is not installed (scripts/test installs it)")
    made = []

    def make(nodes):
        made.append(HAProxy(tmp_path, nodes))
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()


def test_bucket_creation_resumes_after_the_catalog_leader_dies(make_cluster, haproxy):
    cluster = make_cluster([1, 2, 3])
    status = form(cluster)
    leader = next(n for n in cluster.nodes if n.rpc == status["catalog"]["leader"])
    others = [n for n in cluster.nodes if n is not leader]

    # One address in front of the gateways (the README's HAProxy setup),
    # used as clients use it: with their standard retries.
    proxy = haproxy(cluster.nodes)
    front = client(proxy, retries={"max_attempts": 3, "mode": "standard"}, read_timeout=60)
    def serving():
        try:
            return front.list_buckets() is not None
        except (ClientError, EndpointConnectionError) as e:
            raise AssertionError(repr(e)) from e

    wait_for(serving, 20, "HAProxy did not serve")
    bucket = unique_name("front")
    front.create_bucket(Bucket=bucket)
    stop, done, failures = threading.Event(), [], []

    def through_the_proxy():
        while not stop.is_set():
            key, data = f"k{len(done)}", random.randbytes(1000)
            try:
                front.put_object(Bucket=bucket, Key=key, Body=data)
                assert front.get_object(Bucket=bucket, Key=key)["Body"].read() == data
                done.append(key)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failures.append(repr(e))

    load = threading.Thread(target=through_the_proxy)
    load.start()
    try:
        time.sleep(2)
        leader.kill()
        started = time.monotonic()
        s3 = cluster.client(others[0], read_timeout=60)
        s3.create_bucket(Bucket=unique_name("after"))
        took = time.monotonic() - started
        print(f"bucket created {took:.1f}s after the catalog leader was killed")
        assert took < 30, took
        front.create_bucket(Bucket=unique_name("front-after"))
        time.sleep(3)
    finally:
        stop.set()
        load.join(timeout=120)
    print(f"{len(done)} writes and reads through HAProxy, {len(failures)} failed")
    assert failures == [], failures[:5]
    assert len(done) > 10
    status = cluster.status(via=others[1])
    assert status["catalog"]["leader"] in {n.rpc for n in others}, status
    # The dead node is reported down.
    states = {n["node"]: n["state"] for n in status["nodes"]}
    assert states[leader.rpc] == "down", status


def test_a_wiped_node_joins_again_and_is_made_whole(make_cluster):
    cluster = make_cluster([1, 2, 3])
    form(cluster)
    n1, n2, n3 = cluster.nodes
    s3 = cluster.client(n1)
    bucket = unique_name("wiped")
    s3.create_bucket(Bucket=bucket)
    expected = put_objects(s3, bucket, 8)
    cluster.wait_replicated()

    # The node loses everything and starts again at the same address.
    n3.kill()
    shutil.rmtree(n3.data_dir)
    n3.start()
    cluster.wait_formed()

    def whole():
        counts = cluster.device_objects()
        return counts.get((n3.rpc, "d1"), 0) == counts[(n1.rpc, "d1")] > 0

    wait_for(whole, 120, "the wiped node was not refilled")
    cluster.wait_replicated()
    # Alone, it serves every object: its index range replica and its blob
    # copies were rebuilt.
    n1.kill()
    n2.kill()
    check_objects(cluster.client(n3), bucket, expected)
