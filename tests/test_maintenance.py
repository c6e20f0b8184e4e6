"""Background upkeep of the blob stores.

- Compaction: the space of deleted and overwritten objects comes back (the
  volumes shrink) while the objects that remain read back intact, also after
  a restart.
- Checksums on every read and the scrub (auditor): a flipped byte in a
  volume is never served as data; the GET fails with an error and the scrub
  reports the blob.
- Garbage collection: blobs a crash left without a row are found and freed.
- Index upkeep: old tombstones and events are removed; live objects, open
  uploads and event numbering are untouched, also across a restart.
"""

import hashlib
import os
import re
import time

import pytest

from conftest import error_of, unique_name

KiB = 1024


def volume_bytes(srv):
    d0 = srv.data_dir / "devices" / "d0"
    return sum(p.stat().st_size for p in d0.glob("*.vol"))


def write_config(path, **settings):
    """Upkeep every second on small volumes, unless `settings` say otherwise."""
    config = {
        "stripe_size": 64 * KiB,
        "volume_size": 1024 * KiB,
        "reclaim_grace_secs": 1,
        "compact_interval_secs": 1,
        "scrub_interval_secs": 3600,
        "gc_interval_secs": 3600,
    }
    config.update(settings)
    path.write_text("".join(f"{k} = {v}\n" for k, v in config.items()))


def upkeep_server(start_server, tmp_path, **settings):
    path = tmp_path / "arca.toml"
    write_config(path, **settings)
    return start_server(env={"ARCA_CONFIG": str(path), "ARCA_LOG": "info,fjall=warn,lsm_tree=warn"})


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_compaction_reclaims_deleted_objects(start_server, tmp_path):
    srv = upkeep_server(start_server, tmp_path)
    s3 = srv.client()
    bucket = unique_name()
    s3.create_bucket(Bucket=bucket)
    bodies = {f"obj-{i:02d}": os.urandom(200 * KiB) for i in range(40)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    full = volume_bytes(srv)
    assert full >= 40 * 200 * KiB

    doomed = sorted(bodies)[:30]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed], "Quiet": True})
    for key in doomed:
        del bodies[key]

    # The blobs are deleted after the grace period, then the volumes that
    # became mostly garbage are rewritten.
    assert wait_for(lambda: volume_bytes(srv) < full * 0.5), (full, volume_bytes(srv), srv.tail_log())
    # The report is logged after the files it shrank are gone: wait for it.
    assert wait_for(lambda: "compacted volumes" in srv.tail_log(100_000)), srv.tail_log()

    def all_intact(client):
        return all(client.get_object(Bucket=bucket, Key=k)["Body"].read() == b for k, b in bodies.items())

    assert all_intact(s3)
    assert srv.terminate() == 0
    srv.start()
    assert all_intact(srv.client())
    assert sorted(o["Key"] for o in srv.client().list_objects_v2(Bucket=bucket)["Contents"]) == sorted(bodies)


def test_a_flipped_byte_is_never_served_and_the_scrub_reports_it(start_server, tmp_path):
    srv = upkeep_server(start_server, tmp_path, compact_interval_secs=3600, scrub_interval_secs=1)
    s3 = srv.client()
    bucket = unique_name()
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(40 * KiB)
    s3.put_object(Bucket=bucket, Key="victim", Body=body)
    s3.put_object(Bucket=bucket, Key="bystander", Body=b"b" * (10 * KiB))

    # Find the body in the volume files and flip one byte in its middle.
    marker = body[20 * KiB : 20 * KiB + 64]
    for vol in (srv.data_dir / "devices" / "d0").glob("*.vol"):
        data = vol.read_bytes()
        at = data.find(marker)
        if at >= 0:
            with open(vol, "r+b") as f:
                f.seek(at)
                f.write(bytes([data[at] ^ 0x01]))
            break
    else:
        pytest.fail("the object's bytes are not in any volume")

    with pytest.raises(Exception) as excinfo:
        s3.get_object(Bucket=bucket, Key="victim")["Body"].read()
    assert error_of(excinfo) == ("InternalError", 500)
    # A range inside the damaged stripe fails too; the other object is fine.
    with pytest.raises(Exception):
        s3.get_object(Bucket=bucket, Key="victim", Range="bytes=0-99")["Body"].read()
    assert s3.get_object(Bucket=bucket, Key="bystander")["Body"].read() == b"b" * (10 * KiB)

    assert wait_for(lambda: "scrub found a corrupt blob" in srv.tail_log(100_000), timeout=20), srv.tail_log()
    assert hashlib.md5(body).hexdigest() == s3.head_object(Bucket=bucket, Key="victim")["ETag"].strip('"')


def test_garbage_collection_finds_blobs_a_crash_left_behind(start_server, tmp_path):
    # Deleted objects' blobs wait in memory for a long grace period; a kill
    # loses that queue, so only the sweep for unreferenced blobs can find
    # them after the restart.
    srv = upkeep_server(start_server, tmp_path, reclaim_grace_secs=3600)
    s3 = srv.client()
    bucket = unique_name()
    s3.create_bucket(Bucket=bucket)
    bodies = {f"obj-{i:02d}": os.urandom(200 * KiB) for i in range(20)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    # A multipart upload in progress: its parts are referenced by part rows
    # only, and must survive the sweep.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    part = os.urandom(5 * 1024 * KiB)
    etag = s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload, PartNumber=1, Body=part)["ETag"]
    full = volume_bytes(srv)
    doomed = sorted(bodies)[:15]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed], "Quiet": True})
    for key in doomed:
        del bodies[key]
    time.sleep(1.5)
    srv.kill()
    assert volume_bytes(srv) >= full, "nothing may be reclaimed before the sweep runs"
    write_config(tmp_path / "arca.toml", reclaim_grace_secs=3600, gc_interval_secs=1, gc_min_age_secs=1)
    srv.start()
    assert wait_for(lambda: "deleted unreferenced blobs" in srv.tail_log(100_000)), srv.tail_log()
    assert wait_for(lambda: volume_bytes(srv) < full * 0.75), (full, volume_bytes(srv))

    s3 = srv.client()
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="pending",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket=bucket, Key="pending")["Body"].read() == part


def upkeep_totals(log):
    """Sums of the counts in the index upkeep's log lines."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)
    totals = {"object_tombstones": 0, "upload_tombstones": 0, "events": 0}
    for line in log.splitlines():
        if "index upkeep removed" in line:
            for name in totals:
                totals[name] += int(re.search(rf"\b{name}=(\d+)", line).group(1))
    return totals


def test_index_upkeep_drops_old_tombstones_and_events(start_server, tmp_path):
    settings = dict(index_upkeep_interval_secs=1, tombstone_reclaim_age_secs=2, event_retention_secs=2)
    srv = upkeep_server(start_server, tmp_path, index_upkeep_interval_secs=3600)
    s3 = srv.client()
    bucket = unique_name()
    s3.create_bucket(Bucket=bucket)  # event 1
    bodies = {f"obj-{i:02d}": os.urandom(100 + i) for i in range(30)}  # events 2-31
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    doomed = sorted(bodies)[:20]  # events 32-51
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed], "Quiet": True})
    for key in doomed:
        del bodies[key]
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]  # event 52
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=aborted)  # event 53
    pending = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]  # event 54
    srv.terminate()

    write_config(tmp_path / "arca.toml", **settings)
    srv.start()
    # Everything is older than the cutoffs after two seconds: every
    # tombstone goes, every event but the newest (numbering resumes from it).
    expected = {"object_tombstones": 20, "upload_tombstones": 1, "events": 53}
    assert wait_for(lambda: upkeep_totals(srv.tail_log(1_000_000)) == expected), (
        upkeep_totals(srv.tail_log(1_000_000)), srv.tail_log())

    s3 = srv.client()
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(bodies)
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [pending]
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=pending)
    srv.terminate()
    srv.start()
    s3 = srv.client()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == len(bodies)
    # Deleting what is left leaves the bucket empty by its counters.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in bodies], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
