"""Objects: PutObject (Content-MD5, content headers, user metadata,
x-amz-checksum-*), GetObject (Range, partNumber, conditional headers,
response-* overrides), HeadObject, DeleteObject, DeleteObjects, CopyObject."""

import base64
import datetime
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

import checksums
from conftest import error_of, keys_of, object_absent


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def etag_of(data):
    return f'"{md5_hex(data)}"'


# Striped objects (more than one 4 MiB stripe) and inline ones (<= 4 KiB)
# take different paths through the server; most tests use both.
SIZES = [0, 1, 4096, 4097, 9 * 1024 * 1024 + 3]


@pytest.fixture(scope="module")
def bodies():
    return {n: os.urandom(n) for n in SIZES}


@pytest.mark.parametrize("size", SIZES)
def test_put_get_head_round_trip(s3, bucket, bodies, size):
    data = bodies[size]
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert put["ETag"] == etag_of(data)
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ETag"] == etag_of(data)
    assert got["ContentType"] == "binary/octet-stream"
    head = s3.head_object(Bucket=bucket, Key=f"obj-{size}")
    assert head["ContentLength"] == size
    assert head["ETag"] == etag_of(data)
    assert head["LastModified"] == got["LastModified"]
    assert head["AcceptRanges"] == "bytes"


def test_content_headers_and_user_metadata(s3, bucket):
    expires = datetime.datetime(2031, 5, 17, 8, 30, 0, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket,
        Key="described",
        Body=b"<html/>",
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=3600, public",
        ContentDisposition='attachment; filename="page.html"',
        ContentEncoding="identity",
        ContentLanguage="en-GB",
        Expires=expires,
        Metadata={"Color": "blue", "multi-word-name": "Value With Spaces", "empty": ""},
    )
    for resp in (
        s3.head_object(Bucket=bucket, Key="described"),
        s3.get_object(Bucket=bucket, Key="described"),
    ):
        h = resp["ResponseMetadata"]["HTTPHeaders"]
        assert resp["ContentType"] == "text/html; charset=utf-8"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert resp["ContentDisposition"] == 'attachment; filename="page.html"'
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentLanguage"] == "en-GB"
        assert h["expires"] == "Sat, 17 May 2031 08:30:00 GMT"
        assert resp["Metadata"] == {"color": "blue", "multi-word-name": "Value With Spaces", "empty": ""}


def test_overwrite_replaces_body_and_metadata(s3, bucket, bodies):
    big = bodies[SIZES[-1]]
    s3.put_object(Bucket=bucket, Key="k", Body=big, Metadata={"v": "1"}, ContentType="a/b")
    s3.put_object(Bucket=bucket, Key="k", Body=b"small now", Metadata={"w": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"small now"
    assert got["Metadata"] == {"w": "2"}
    assert got["ContentType"] == "binary/octet-stream"
    assert keys_of(s3, bucket) == ["k"]


def test_content_md5(s3, bucket):
    data = b"checked body" * 1000
    put = s3.put_object(Bucket=bucket, Key="good", Body=data, ContentMD5=checksums.md5_b64(data))
    assert put["ETag"] == etag_of(data)

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5=checksums.md5_b64(b"other"))
    assert error_of(e) == ("BadDigest", 400)
    assert object_absent(s3, bucket, "bad")

    # A failed overwrite leaves the old object as it was.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="good", Body=b"new", ContentMD5=checksums.md5_b64(b"old"))
    assert error_of(e) == ("BadDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == data

    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5="not-base64!")
    assert error_of(e) == ("InvalidDigest", 400)
    assert object_absent(s3, bucket, "bad")


@pytest.mark.parametrize("algorithm", sorted(checksums.ALL))
@pytest.mark.parametrize("size", [10, 5 * 1024 * 1024 + 7])
def test_checksum_headers(s3, bucket, algorithm, size):
    data = os.urandom(size)
    value = checksums.ALL[algorithm](data)
    param = f"Checksum{algorithm}"
    put = s3.put_object(Bucket=bucket, Key="sum", Body=data, **{param: value})
    assert put[param] == value
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head[param] == value
    got = s3.get_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert got[param] == value
    assert got["Body"].read() == data
    # Without ChecksumMode, no checksum is returned.
    assert param not in s3.head_object(Bucket=bucket, Key="sum")

    wrong = checksums.ALL[algorithm](data + b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="sum-bad", Body=data, **{param: wrong})
    assert error_of(e) == ("BadDigest", 400)
    assert object_absent(s3, bucket, "sum-bad")


def test_malformed_checksum_value(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumCRC32="not a checksum")
    assert error_of(e) == ("InvalidRequest", 400)
    assert object_absent(s3, bucket, "k")


def test_sdk_default_checksum_is_sent_and_kept(s3, bucket):
    """botocore 1.44 sends x-amz-checksum-crc32 with every PutObject by
    default; the server verifies it and returns it."""
    sent = {}

    def capture(request, **_):
        sent.update({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        put = s3.put_object(Bucket=bucket, Key="default", Body=b"hello world")
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", capture)
    assert sent["x-amz-checksum-crc32"] == checksums.crc32(b"hello world") == "DUoRhQ=="
    assert put["ChecksumCRC32"] == "DUoRhQ=="


@pytest.fixture(scope="module")
def ranged(s3, make_bucket_module):
    bucket = make_bucket_module()
    data = os.urandom(9 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    s3.put_object(Bucket=bucket, Key="small", Body=data[:1000])
    return bucket, data


@pytest.fixture(scope="module")
def make_bucket_module(s3):
    from conftest import unique_name

    def make():
        name = unique_name("mod")
        s3.create_bucket(Bucket=name)
        return name

    return make


RANGES = [
    ("bytes=0-9", (0, 10)),
    ("bytes=990-", (990, None)),
    ("bytes=-10", (-10, None)),
    ("bytes=500-999", (500, 1000)),
    ("bytes=100-100000000", (100, None)),
]


@pytest.mark.parametrize(
    "key,spec,expected",
    [("r", spec, exp) for spec, exp in RANGES]
    + [("small", spec, exp) for spec, exp in RANGES]
    + [("r", "bytes=4194300-4194310", (4194300, 4194311))],  # across a stripe boundary
)
def test_range(s3, ranged, key, spec, expected):
    bucket, data = ranged
    data = data if key == "r" else data[:1000]
    start, end = expected
    if start < 0:
        start = len(data) + start
    want = data[start:end]
    got = s3.get_object(Bucket=bucket, Key=key, Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{start + len(want) - 1}/{len(data)}"
    assert got["ContentLength"] == len(want)
    assert got["Body"].read() == want
    head = s3.head_object(Bucket=bucket, Key=key, Range=spec)
    assert head["ContentLength"] == len(want)
    assert head["ContentRange"] == got["ContentRange"]


def test_unsatisfiable_range(s3, ranged):
    bucket, _ = ranged
    for spec in ["bytes=1000-", "bytes=5000-6000"]:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="small", Range=spec)
        assert error_of(e) == ("InvalidRange", 416)


def test_part_number_of_a_simple_object(s3, ranged):
    bucket, data = ranged
    got = s3.get_object(Bucket=bucket, Key="small", PartNumber=1)
    assert got["Body"].read() == data[:1000]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="small", PartNumber=2)
    assert error_of(e) == ("InvalidPartNumber", 416)


def test_conditional_get(s3, ranged):
    bucket, data = ranged
    head = s3.head_object(Bucket=bucket, Key="small")
    etag, modified = head["ETag"], head["LastModified"]
    before = modified - datetime.timedelta(seconds=10)
    after = modified + datetime.timedelta(seconds=10)

    def get(**kw):
        return s3.get_object(Bucket=bucket, Key="small", **kw)

    assert get(IfMatch=etag)["Body"].read() == data[:1000]
    assert get(IfMatch=f'"x", {etag}')["ETag"] == etag
    assert get(IfMatch="*")["ETag"] == etag
    assert get(IfNoneMatch='"other"')["ETag"] == etag
    assert get(IfModifiedSince=before)["ETag"] == etag
    assert get(IfUnmodifiedSince=after)["ETag"] == etag
    assert get(IfUnmodifiedSince=modified)["ETag"] == etag

    cases = [
        (dict(IfMatch='"0123"'), ("PreconditionFailed", 412)),
        (dict(IfUnmodifiedSince=before), ("PreconditionFailed", 412)),
        (dict(IfNoneMatch=etag), ("304", 304)),
        (dict(IfNoneMatch="*"), ("304", 304)),
        (dict(IfModifiedSince=after), ("304", 304)),
        (dict(IfModifiedSince=modified), ("304", 304)),
        # If-Match true: If-Unmodified-Since is not evaluated (RFC 7232).
        (dict(IfMatch=etag, IfNoneMatch=etag), ("304", 304)),
    ]
    for kw, expected in cases:
        with pytest.raises(ClientError) as e:
            get(**kw)
        assert error_of(e) == expected, kw
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key="small", **kw)
        assert error_of(e)[1] == expected[1], kw
    assert get(IfMatch=etag, IfUnmodifiedSince=before)["ETag"] == etag
    assert get(IfNoneMatch='"other"', IfModifiedSince=after)["ETag"] == etag


def test_response_header_overrides(s3, ranged):
    bucket, data = ranged
    got = s3.get_object(
        Bucket=bucket,
        Key="small",
        ResponseContentType="application/x-override",
        ResponseContentDisposition='attachment; filename="o.bin"',
        ResponseCacheControl="no-store",
        ResponseContentEncoding="identity",
        ResponseContentLanguage="fr",
        ResponseExpires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    )
    h = got["ResponseMetadata"]["HTTPHeaders"]
    assert h["content-type"] == "application/x-override"
    assert h["content-disposition"] == 'attachment; filename="o.bin"'
    assert h["cache-control"] == "no-store"
    assert h["content-encoding"] == "identity"
    assert h["content-language"] == "fr"
    assert h["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert got["Body"].read() == data[:1000]
    # The stored object is unchanged.
    assert s3.head_object(Bucket=bucket, Key="small")["ContentType"] == "binary/octet-stream"


def test_keys_with_special_characters(s3, bucket):
    keys = [
        "with space",
        "plus+sign",
        "percent%20literal",
        "question?mark",
        "hash#tag",
        "amp&eq=",
        "tilde~star*",
        "quote'\"",
        "unicodé/日本語/🙂",
        "dir/sub/",
        "a//double",
        "..dots..",
        "semi;colon,comma",
        "back\\slash",
        "brackets[]{}<>",
        "ctrl\x01char",
        "x" * 1024,
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    assert keys_of(s3, bucket) == sorted(keys, key=lambda k: k.encode())


def test_get_missing(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="missing")
    assert error_of(e) == ("404", 404)


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=os.urandom(5 << 20))
    s3.put_object(Bucket=bucket, Key="kept", Body=b"k")
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert object_absent(s3, bucket, "gone")
    # Deleting what does not exist succeeds, as in S3.
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="never")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert keys_of(s3, bucket) == ["kept"]


@pytest.mark.parametrize("quiet", [False, True])
def test_delete_objects(s3, bucket, quiet):
    keys = [f"d/{i:03}" for i in range(30)] + ["keep/1", "keep/2"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    doomed = [f"d/{i:03}" for i in range(30)] + ["d/missing"]
    resp = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in doomed], "Quiet": quiet}
    )
    assert resp.get("Errors", []) == []
    deleted = [d["Key"] for d in resp.get("Deleted", [])]
    if quiet:
        assert deleted == []
    else:
        assert sorted(deleted) == sorted(doomed)
    assert keys_of(s3, bucket) == ["keep/1", "keep/2"]


class TestCopy:
    @pytest.fixture
    def source(self, s3, bucket):
        data = os.urandom(9 * 1024 * 1024 + 11)
        s3.put_object(
            Bucket=bucket,
            Key="src/a b+c",
            Body=data,
            ContentType="text/x-source",
            CacheControl="max-age=1",
            Metadata={"origin": "source"},
        )
        return bucket, "src/a b+c", data

    def test_copy_keeps_metadata(self, s3, source, make_bucket):
        bucket, key, data = source
        dest_bucket = make_bucket()
        resp = s3.copy_object(Bucket=dest_bucket, Key="copy", CopySource={"Bucket": bucket, "Key": key})
        assert resp["CopyObjectResult"]["ETag"] == etag_of(data)
        got = s3.get_object(Bucket=dest_bucket, Key="copy")
        assert got["Body"].read() == data
        assert got["ContentType"] == "text/x-source"
        assert got["CacheControl"] == "max-age=1"
        assert got["Metadata"] == {"origin": "source"}
        # The source is untouched.
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data

    def test_copy_replaces_metadata(self, s3, source):
        bucket, key, data = source
        s3.copy_object(
            Bucket=bucket,
            Key="replaced",
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="REPLACE",
            ContentType="text/x-new",
            Metadata={"fresh": "yes"},
        )
        got = s3.get_object(Bucket=bucket, Key="replaced")
        assert got["Metadata"] == {"fresh": "yes"}
        assert got["ContentType"] == "text/x-new"
        assert "CacheControl" not in got
        assert got["Body"].read() == data

    def test_copy_onto_itself(self, s3, source):
        bucket, key, data = source
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key})
        assert error_of(e) == ("InvalidRequest", 400)
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="REPLACE",
            Metadata={"second": "2"},
        )
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Metadata"] == {"second": "2"}
        assert got["Body"].read() == data

    def test_copy_source_conditions(self, s3, source):
        bucket, key, data = source
        head = s3.head_object(Bucket=bucket, Key=key)
        etag, modified = head["ETag"], head["LastModified"]
        before = modified - datetime.timedelta(seconds=10)
        after = modified + datetime.timedelta(seconds=10)
        src = {"Bucket": bucket, "Key": key}
        ok = [
            dict(CopySourceIfMatch=etag),
            dict(CopySourceIfNoneMatch='"other"'),
            dict(CopySourceIfModifiedSince=before),
            dict(CopySourceIfUnmodifiedSince=after),
        ]
        for i, kw in enumerate(ok):
            s3.copy_object(Bucket=bucket, Key=f"ok{i}", CopySource=src, **kw)
            assert s3.head_object(Bucket=bucket, Key=f"ok{i}")["ETag"] == etag
        failing = [
            dict(CopySourceIfMatch='"0000"'),
            dict(CopySourceIfNoneMatch=etag),
            dict(CopySourceIfModifiedSince=after),
            dict(CopySourceIfUnmodifiedSince=before),
        ]
        for i, kw in enumerate(failing):
            with pytest.raises(ClientError) as e:
                s3.copy_object(Bucket=bucket, Key=f"no{i}", CopySource=src, **kw)
            assert error_of(e) == ("PreconditionFailed", 412), kw
            assert object_absent(s3, bucket, f"no{i}")

    def test_copy_missing_source(self, s3, bucket):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dest", CopySource={"Bucket": bucket, "Key": "nope"})
        assert error_of(e) == ("NoSuchKey", 404)
        assert object_absent(s3, bucket, "dest")


def test_conditional_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert error_of(e) == ("PreconditionFailed", 412)
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch='"00000000000000000000000000000000"')
    assert error_of(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"fourth"


def test_xml_special_characters_in_keys(server, s3, bucket):
    import xml.etree.ElementTree as ET

    import rawhttp

    keys = ["a&b", "<tag>", 'quote"s', "apos'", "gt>lt<"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    # Without encoding-type the keys travel XML-escaped.
    resp = rawhttp.signed_request(server.port, "GET", f"/{bucket}", query="list-type=2")
    assert resp.status == 200
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    listed = [e.text for e in ET.fromstring(resp.body).findall("s3:Contents/s3:Key", ns)]
    assert listed == sorted(keys, key=lambda k: k.encode())
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys)
    assert keys_of(s3, bucket) == []


def test_reader_keeps_its_object_while_it_is_replaced(s3, bucket):
    """A GET that started before an overwrite and a delete streams the old
    body to its end."""
    old = os.urandom(20 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="moving", Body=old)
    body = s3.get_object(Bucket=bucket, Key="moving")["Body"]
    first = body.read(1024 * 1024)
    s3.put_object(Bucket=bucket, Key="moving", Body=b"new")
    s3.delete_object(Bucket=bucket, Key="moving")
    s3.put_object(Bucket=bucket, Key="filler", Body=os.urandom(9 * 1024 * 1024))
    assert first + body.read() == old
    assert object_absent(s3, bucket, "moving")


@pytest.mark.parametrize(
    "options,expected",
    [
        (dict(ACL="public-read"), ("AccessControlListNotSupported", 400)),
        (dict(GrantRead='id="someone"'), ("AccessControlListNotSupported", 400)),
        (dict(ServerSideEncryption="aws:kms", SSEKMSKeyId="key"), ("NotImplemented", 501)),
        (
            dict(ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=datetime.datetime(2035, 1, 1)),
            ("InvalidRequest", 400),
        ),
        (dict(ObjectLockLegalHoldStatus="ON"), ("InvalidRequest", 400)),
        (dict(StorageClass="GLACIER"), ("InvalidStorageClass", 400)),
    ],
)
def test_unsupported_write_options_are_refused(s3, bucket, options, expected):
    """Asking for SSE-KMS (no KMS here), a lock or public access must not
    silently store an object without them."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    calls = [
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **options),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", **options),
        lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"}, **options),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == expected
    assert object_absent(s3, bucket, "k")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_owner_only_options_are_accepted(s3, bucket):
    # What rclone and s3cmd send with every upload.
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private", StorageClass="STANDARD")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="bucket-owner-full-control")
    assert keys_of(s3, bucket) == ["k", "k2"]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == "STANDARD"


def test_version_ids(s3, bucket):
    """In a bucket never versioned every object has one version, "null";
    version ids Arca never made are refused, well-formed ones name nothing,
    and neither touches the object."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    got = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert got["Body"].read() == b"data" and "VersionId" not in got
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId="other")
    assert error_of(e) == ("400", 400)
    absent = "f" * 24 + "00000000"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=absent)
    assert error_of(e) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k", "VersionId": absent})
    assert error_of(e) == ("NoSuchVersion", 404)

    s3.delete_object(Bucket=bucket, Key="k", VersionId=absent)
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "VersionId": absent}]})
    assert resp["Deleted"] == [{"Key": "k", "VersionId": absent}]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"

    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert object_absent(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"again")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "VersionId": "null"}]})
    assert object_absent(s3, bucket, "k")


def test_get_object_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"hello", ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(
        Bucket=bucket, Key="plain", ObjectAttributes=["ETag", "ObjectSize", "StorageClass", "Checksum"]
    )
    assert got["ObjectSize"] == 5 and got["StorageClass"] == "STANDARD"
    assert got["ETag"].strip('"') == hashlib.md5(b"hello").hexdigest()
    assert got["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    only_size = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only_size and only_size["ObjectSize"] == 5

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    sizes = [5 << 20, 5 << 20, 7]
    parts = []
    for n, size in enumerate(sizes, 1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=n, Body=b"p" * size)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2)
    assert got["ObjectParts"]["TotalPartsCount"] == 3 and got["ObjectParts"]["IsTruncated"] is True
    assert [p["Size"] for p in got["ObjectParts"]["Parts"]] == sizes[:2]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], PartNumberMarker=got["ObjectParts"]["NextPartNumberMarker"]
    )
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [3]
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"])
    assert error_of(e) == ("NoSuchKey", 404)
