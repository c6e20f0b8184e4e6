"""Index ranges that split: a bucket's index cut by key into several Raft
groups while it is written, with gateways routing by a range map that may
trail, a node killed mid-split, and listings, counters and deletion that
stay exact across ranges."""

import bisect
import json
import random
import threading
import time

import pytest

from cluster import NODE_CONFIG, Cluster, arca, wait_for
from conftest import ArcaServer, client, unique_name

# Ranges split at 40 live rows: a few hundred keys make a dozen ranges.
SPLIT_CONFIG = NODE_CONFIG + "range_split_rows = 40\n"


def ranges_of(node, bucket):
    proc = arca("cluster", "ranges", "--bucket", bucket, "--json", "--endpoint", node.endpoint, timeout=60)
    return json.loads(proc.stdout)["ranges"]


def assert_contiguous(ranges):
    assert ranges[0]["start"] == "", ranges[0]
    assert ranges[-1]["end"] is None, ranges[-1]
    for left, right in zip(ranges, ranges[1:]):
        assert left["end"] == right["start"], (left, right)
        assert left["start"] < left["end"], left


def listed_keys(s3, bucket, page_size, **kwargs):
    keys, prefixes, token = [], [], None
    while True:
        args = dict(Bucket=bucket, MaxKeys=page_size, **kwargs)
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] <= page_size
        if not page["IsTruncated"]:
            return keys, prefixes
        token = page["NextContinuationToken"]


class Writers:
    """Threads that put small objects through some gateways until stopped;
    what was acknowledged and what failed are recorded."""

    def __init__(self, gateways, bucket, threads=2):
        self.bucket = bucket
        self.stop = threading.Event()
        self.acked = set()
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, args=(client(g, read_timeout=120), f"{gi}{t}"), daemon=True)
            for gi, g in enumerate(gateways)
            for t in range(threads)
        ]

    def run(self, s3, name):
        rng = random.Random(name)
        n = 0
        while not self.stop.is_set():
            # Keys spread over the whole key space, some under "dirs".
            key = f"{rng.choice('abcdefghijklmnop')}{rng.randrange(16**6):06x}/{name}-{n}"
            try:
                s3.put_object(Bucket=self.bucket, Key=key, Body=key.encode())
                with self.lock:
                    self.acked.add(key)
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


@pytest.fixture
def three_nodes(tmp_path):
    cluster = Cluster(tmp_path, [1, 2, 3], config=SPLIT_CONFIG)
    cluster.start()
    cluster.ring()
    cluster.apply()
    cluster.wait_formed()
    yield cluster
    cluster.stop_all()
    for node in cluster.nodes:
        log = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
        assert "panicked" not in log, f"{node.rpc} panicked"


def test_ranges_split_under_writes_and_a_kill_and_lose_nothing(three_nodes):
    cluster = three_nodes
    n1, n2, n3 = cluster.nodes
    s3 = client(n1)
    bucket = unique_name("ranges")
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m/upload")["UploadId"]

    # Writers on two gateways; the third node is killed while ranges split,
    # then comes back.
    with Writers([n1, n2], bucket) as writers:
        time.sleep(8)
        n3.kill()
        time.sleep(6)
        n3.start()
        time.sleep(8)
    assert writers.failures == [], writers.failures[:5]
    acked = writers.acked
    assert len(acked) > 200, len(acked)

    # Deletes across ranges, then every gateway lists exactly what was
    # acknowledged and not deleted, at several page sizes.
    deleted = sorted(acked)[::7]
    for key in deleted:
        s3.delete_object(Bucket=bucket, Key=key)
    live = sorted(acked - set(deleted))
    for node, size in [(n1, 1000), (n2, 7), (n3, 100)]:
        keys, _ = listed_keys(client(node), bucket, size)
        assert keys == live, f"{node.rpc}: {len(keys)} listed, {len(live)} expected"
    # A delimiter rolls each first letter's "directories" up, once each,
    # even where one directory spans ranges.
    _, prefixes = listed_keys(s3, bucket, 3, Delimiter="/")
    assert prefixes == sorted({k.split("/")[0] + "/" for k in live})
    keys, _ = listed_keys(s3, bucket, 50, Prefix="c")
    assert keys == [k for k in live if k.startswith("c")]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [upload]

    # The map: contiguous ranges, each on three replicas with a leader, and
    # counters that add up to exactly what is stored.
    ranges = ranges_of(n2, bucket)
    assert len(ranges) >= 5, ranges
    assert_contiguous(ranges)
    assert sum(r["rows"] for r in ranges) == len(live) + 1
    assert all(r["leader"] and len(r["replicas"]) == 3 for r in ranges), ranges
    status = cluster.status()
    assert status["ranges"] >= len(ranges)
    assert sum(n["leaders"] for n in status["nodes"]) >= len(ranges)
    assert all(n["ranges"] >= len(ranges) for n in status["nodes"]), status["nodes"]

    # The bucket empties and deletes across all its ranges.
    s3.abort_multipart_upload(Bucket=bucket, Key="m/upload", UploadId=upload)
    with pytest.raises(Exception) as refused:
        s3.delete_bucket(Bucket=bucket)
    assert "BucketNotEmpty" in str(refused.value)
    for key in live:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in client(n3).list_buckets()["Buckets"]]


def test_a_single_node_splits_its_ranges_and_lists_versions_and_uploads_across_them(tmp_path):
    config = tmp_path / "arca.toml"
    config.write_text("range_split_rows = 25\n")
    server = ArcaServer(tmp_path / "data", args=["--config", str(config)]).start()
    try:
        s3 = client(server)
        bucket = unique_name("split1")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        keys = [f"k{i:03d}" for i in range(150)]
        versions = {}
        for key in keys:
            versions[key] = [s3.put_object(Bucket=bucket, Key=key, Body=b"v1")["VersionId"]]
        for key in keys[::3]:
            versions[key].append(s3.put_object(Bucket=bucket, Key=key, Body=b"v2")["VersionId"])
        uploads = {s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]: k for k in keys[::10]}

        def split_enough():
            ranges = ranges_of(server, bucket)
            return ranges if len(ranges) >= 4 else None

        ranges = wait_for(split_enough, 60, "the bucket's range did not split")
        assert_contiguous(ranges)

        # Versions across ranges: every version, newest first per key, at
        # small pages whose markers cross range ends.
        seen = []
        args = dict(Bucket=bucket, MaxKeys=11)
        while True:
            page = s3.list_object_versions(**args)
            seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
            if not page["IsTruncated"]:
                break
            args.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
        assert seen == [(k, v) for k in keys for v in reversed(versions[k])]

        listed = {}
        args = dict(Bucket=bucket, MaxUploads=4)
        while True:
            page = s3.list_multipart_uploads(**args)
            listed.update({u["UploadId"]: u["Key"] for u in page.get("Uploads", [])})
            if not page["IsTruncated"]:
                break
            args.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
        assert listed == uploads
        assert sum(r["rows"] for r in ranges_of(server, bucket)) == 150 + 50 + len(uploads)

        # Parts and completion of an upload in a range that is not the first.
        upload_id, key = max(uploads.items(), key=lambda u: u[1])
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"p" * 10)["ETag"]
        assert len(s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]) == 1
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]},
        )
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"p" * 10

        # A bulk load through the index's own write path lands in whichever
        # ranges hold its keys, and is listed and counted like any write.
        loaded = unique_name("load")
        s3.create_bucket(Bucket=loaded)
        arca("bucket", "load", loaded, "--objects", 300, "--prefix", "x/", "--endpoint", server.endpoint)
        keys_loaded, _ = listed_keys(s3, loaded, 1000)
        assert len(keys_loaded) == 300 and all(k.startswith("x/") and len(k) == 18 for k in keys_loaded)
        assert sum(r["rows"] for r in ranges_of(server, loaded)) == 300

        # After a restart the ranges run again from their stored state.
        server.kill()
        server.start()
        s3 = client(server)
        assert s3.get_object(Bucket=bucket, Key="k149")["Body"].read() == b"v1"
        keys_after, _ = listed_keys(s3, bucket, 1000)
        assert keys_after == keys
    finally:
        server.kill()


def test_ranges_and_leaders_spread_evenly_and_follow_a_new_node(tmp_path):
    # Splits leave every new range on its parent's three nodes; the
    # placement service spreads them and their leaders over all four, then
    # over five when a node joins.
    cluster = Cluster(tmp_path, [1, 2, 3, 4], config=NODE_CONFIG + "range_split_rows = 100\n")
    cluster.start()
    cluster.ring()
    cluster.apply()
    cluster.wait_formed()
    try:
        n1 = cluster.nodes[0]
        s3 = client(n1)
        bucket = unique_name("spread")
        s3.create_bucket(Bucket=bucket)
        arca("bucket", "load", bucket, "--objects", 1500, "--endpoint", n1.endpoint)
        wait_for(lambda: len(ranges_of(n1, bucket)) >= 12, 120, "the bucket did not split into 12 ranges")

        def spread(nodes):
            """The per-node counts once every node of `nodes` holds and leads
            no more than 1.5x its share and at least 1/1.5 of it, and every
            range has three replicas."""
            ranges = ranges_of(n1, bucket)
            assert all(len(r["replicas"]) == 3 and r["leader"] for r in ranges), ranges
            status = cluster.status()
            views = {v["node"]: v for v in status["nodes"]}
            held = [views[n.rpc]["ranges"] for n in nodes]
            led = [views[n.rpc]["leaders"] for n in nodes]
            share = len(ranges) * 3 / len(nodes)
            assert sum(held) == len(ranges) * 3, (len(ranges), held)
            assert share / 1.5 <= min(held) and max(held) <= 1.5 * share, (len(ranges), held)
            assert sum(led) == len(ranges), (len(ranges), led)
            assert len(ranges) / len(nodes) / 1.5 <= min(led), (len(ranges), led)
            assert max(led) <= 1.5 * len(ranges) / len(nodes), (len(ranges), led)
            return held, led, ranges

        wait_for(lambda: spread(cluster.nodes), 180, "ranges did not spread over four nodes")

        n5 = cluster.add_node(5, config=NODE_CONFIG + "range_split_rows = 100\n")
        n5.start()
        cluster.ring([n5])
        cluster.apply()
        cluster.wait_formed()
        _, _, ranges = wait_for(lambda: spread(cluster.nodes), 240, "ranges did not follow the new node")

        # Nothing was lost or doubled by the moves.
        assert_contiguous(ranges)
        keys, _ = listed_keys(client(n5), bucket, 1000)
        # Per range: its counters, and the keys listed in its bounds.
        detail = [
            (r["start"], r["rows"], bisect.bisect_left(keys, r["end"] or "\uffff") - bisect.bisect_left(keys, r["start"]))
            for r in ranges
        ]
        assert all(rows == listed for _, rows, listed in detail), detail
        assert len(keys) == 1500 == len(set(keys))
    finally:
        cluster.stop_all()
