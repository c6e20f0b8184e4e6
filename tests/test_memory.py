"""Memory: a 2 GiB object goes up (one PutObject), comes back down, and is
copied server-side, while the server's peak RSS (VmHWM) stays under
256 MiB. Bodies are generated on the fly on both ends; nothing is written
to the test's disk.

Slow (a few GiB through a debug build): ARCA_SKIP_SLOW=1 skips it; CI runs
it. docs/benchmarks.md records a measured run.
"""

import hashlib
import http.client
import os
import time

import pytest

import rawhttp
from conftest import client, slow_tests_skipped, unique_name

MiB = 1024 * 1024
SIZE = 2 * 1024 * MiB
RSS_LIMIT = 256 * MiB

pytestmark = pytest.mark.skipif(slow_tests_skipped(), reason="ARCA_SKIP_SLOW=1")


def generated_body(size, md5):
    """`size` bytes, a different first 8 bytes in every MiB so a misplaced
    stripe changes the hash; feeds `md5` on the way out."""
    block = bytearray(os.urandom(MiB))
    for i in range(size // MiB):
        block[:8] = i.to_bytes(8, "big")
        chunk = bytes(block)
        md5.update(chunk)
        yield chunk


def put_streaming(port, bucket, key, size, md5):
    path = f"/{bucket}/{key}"
    signed = rawhttp.sign("PUT", path, f"127.0.0.1:{port}", {"content-length": size}, rawhttp.UNSIGNED)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for k, v in signed.headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    for chunk in generated_body(size, md5):
        conn.send(chunk)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("etag"), data


def get_streaming(port, bucket, key):
    path = f"/{bucket}/{key}"
    signed = rawhttp.sign("GET", path, f"127.0.0.1:{port}", {}, rawhttp.EMPTY_SHA256)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path, headers=signed.headers)
    resp = conn.getresponse()
    assert resp.status == 200
    md5, n = hashlib.md5(), 0
    while chunk := resp.read(4 * MiB):
        md5.update(chunk)
        n += len(chunk)
    conn.close()
    return n, md5.hexdigest()


def test_two_gib_upload_download_and_copy_in_bounded_memory(start_server):
    srv = start_server("memory")
    bucket = unique_name("mem")
    s3 = client(srv, read_timeout=600)
    s3.create_bucket(Bucket=bucket)
    at_start = srv.status("VmHWM")

    t0 = time.monotonic()
    md5 = hashlib.md5()
    status, etag, answer = put_streaming(srv.port, bucket, "two-gib", SIZE, md5)
    assert status == 200, answer
    assert etag == f'"{md5.hexdigest()}"'
    t1 = time.monotonic()
    after_put = srv.status("VmHWM")

    n, got = get_streaming(srv.port, bucket, "two-gib")
    assert (n, got) == (SIZE, md5.hexdigest())
    t2 = time.monotonic()
    after_get = srv.status("VmHWM")

    # A server-side copy streams the object through a new write; the ETag of
    # the copy is the MD5 the server computed over the bytes it copied.
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "two-gib"})
    assert copied["CopyObjectResult"]["ETag"] == etag
    t3 = time.monotonic()
    after_copy = srv.status("VmHWM")

    report = (
        f"server VmHWM: start {at_start / MiB:.0f} MiB, after PUT {after_put / MiB:.0f} MiB, "
        f"after GET {after_get / MiB:.0f} MiB, after copy {after_copy / MiB:.0f} MiB; "
        f"PUT {SIZE / MiB / (t1 - t0):.0f} MiB/s, GET {SIZE / MiB / (t2 - t1):.0f} MiB/s, "
        f"copy {SIZE / MiB / (t3 - t2):.0f} MiB/s"
    )
    print("\n" + report)
    assert after_get < RSS_LIMIT, report
    assert after_copy < RSS_LIMIT, report
