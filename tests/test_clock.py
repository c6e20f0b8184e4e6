"""Timestamps across restarts.

Rows are ordered by their timestamps (last writer wins), taken from the
wall clock. A server restarted after its clock stepped back (an NTP
correction, a VM restored on another host) must still order its new writes
after the ones it already stored: an overwrite answered 200 must be what the
next GET returns, and a delete must delete.

The clock is set back with libfaketime (Debian package `faketime`), by ten
minutes so SigV4's 15-minute skew check still accepts the clients.
"""

import glob

import pytest

from conftest import unique_name

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


@pytest.mark.skipif(not LIBFAKETIME, reason="libfaketime is not installed (apt install faketime)")
def test_writes_after_the_clock_steps_back_still_win(start_server):
    srv = start_server()
    s3 = srv.client()
    bucket = unique_name()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"before the restart")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"to be deleted")
    first_modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    assert srv.terminate() == 0

    srv.extra_env.update(
        LD_PRELOAD=LIBFAKETIME[0],
        FAKETIME="-600",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        FAKETIME_NO_CACHE="1",
    )
    srv.start()
    s3 = srv.client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"after the restart")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"after the restart"
    s3.delete_object(Bucket=bucket, Key="gone")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["k"]
    # The new row's time follows the stored ones, not the stepped-back wall
    # clock, and the server said so.
    assert s3.head_object(Bucket=bucket, Key="k")["LastModified"] >= first_modified
    assert "the wall clock is behind the newest stored row" in srv.tail_log(100_000), srv.tail_log()
    assert srv.terminate() == 0
