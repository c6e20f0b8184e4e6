"""Multipart uploads: Create, UploadPart, UploadPartCopy (with a range),
Complete (InvalidPart, InvalidPartOrder, EntityTooSmall), Abort, ListParts,
ListMultipartUploads, and the multipart ETag (MD5 of the part MD5s + "-N")."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_ACCESS_KEY, error_of, keys_of, object_absent

MiB = 1024 * 1024


def multipart_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def upload_parts(s3, bucket, key, parts, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for i, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=data)["ETag"]
        assert etag == f'"{hashlib.md5(data).hexdigest()}"'
        done.append({"PartNumber": i, "ETag": etag})
    return up, done


def uploads_of(s3, bucket, **kw):
    return [(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=bucket, **kw).get("Uploads", [])]


@pytest.fixture(scope="module")
def parts():
    return [os.urandom(5 * MiB), os.urandom(5 * MiB + 1), os.urandom(1234)]


def test_upload_and_complete(s3, bucket, parts):
    up, done = upload_parts(
        s3, bucket, "big", parts, ContentType="video/x-test", Metadata={"kind": "multi"}
    )
    assert uploads_of(s3, bucket) == [("big", up)]
    # Not visible until completed.
    assert object_absent(s3, bucket, "big")

    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=up)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (d["PartNumber"], len(data), d["ETag"]) for d, data in zip(done, parts)
    ]
    assert listed["IsTruncated"] is False
    assert listed["Owner"]["ID"] == ROOT_ACCESS_KEY
    assert listed["Initiator"]["ID"] == ROOT_ACCESS_KEY

    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=up, MultipartUpload={"Parts": done}
    )
    assert resp["ETag"] == multipart_etag(parts)
    assert resp["Bucket"] == bucket and resp["Key"] == "big"

    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentLength"] == len(whole)
    assert got["ContentType"] == "video/x-test"
    assert got["Metadata"] == {"kind": "multi"}
    assert hashlib.md5(got["Body"].read()).digest() == hashlib.md5(whole).digest()
    assert uploads_of(s3, bucket) == []
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listing] == [("big", len(whole), multipart_etag(parts))]

    # A range across the boundary of parts 1 and 2.
    start = 5 * MiB - 10
    ranged = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={start}-{start + 19}")
    assert ranged["Body"].read() == whole[start : start + 20]

    # GET by part number: that part's bytes and the part count.
    offset = 0
    for n, data in enumerate(parts, start=1):
        got = s3.get_object(Bucket=bucket, Key="big", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3
        assert got["ContentLength"] == len(data)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{len(whole)}"
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key="big", PartNumber=n)
        assert (head["PartsCount"], head["ContentLength"]) == (3, len(data))
        offset += len(data)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="big", PartNumber=4)
    assert error_of(e) == ("InvalidPartNumber", 416)

    # Completing twice: the upload is gone.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=up, MultipartUpload={"Parts": done})
    assert error_of(e) == ("NoSuchUpload", 404)


def test_complete_a_subset_of_parts(s3, bucket, parts):
    """Parts not named in Complete are dropped; numbers may have gaps."""
    up = s3.create_multipart_upload(Bucket=bucket, Key="gaps")["UploadId"]
    etags = {}
    for n, data in [(2, parts[0]), (7, parts[1]), (9, parts[2]), (10, b"unused")]:
        etags[n] = s3.upload_part(Bucket=bucket, Key="gaps", UploadId=up, PartNumber=n, Body=data)["ETag"]
    chosen = [(2, parts[0]), (9, parts[2])]
    resp = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="gaps",
        UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n, _ in chosen]},
    )
    assert resp["ETag"] == multipart_etag([d for _, d in chosen])
    assert s3.get_object(Bucket=bucket, Key="gaps")["Body"].read() == parts[0] + parts[2]
    assert s3.get_object(Bucket=bucket, Key="gaps", PartNumber=9)["Body"].read() == parts[2]


def test_part_overwrite_last_wins(s3, bucket, parts):
    up = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="re", UploadId=up, PartNumber=1, Body=b"first version")
    etag = s3.upload_part(Bucket=bucket, Key="re", UploadId=up, PartNumber=1, Body=b"second")["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="re", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [(1, 6, etag)]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="re", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"second"


def test_upload_part_copy_with_range(s3, bucket, parts):
    source = os.urandom(12 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    r1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=up,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes={1 * MiB}-{6 * MiB - 1}",
    )
    expected1 = source[1 * MiB : 6 * MiB]
    assert r1["CopyPartResult"]["ETag"] == f'"{hashlib.md5(expected1).hexdigest()}"'
    # A whole object as a part, without a range.
    s3.put_object(Bucket=bucket, Key="tail", Body=b"tail bytes")
    r2 = s3.upload_part_copy(
        Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2, CopySource={"Bucket": bucket, "Key": "tail"}
    )
    r3 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=3, Body=b"!")
    done = [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
        {"PartNumber": 3, "ETag": r3["ETag"]},
    ]
    with pytest.raises(ClientError) as e:
        # Part 2 (10 bytes) is too small to be followed by another part.
        s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": done})
    assert error_of(e) == ("EntityTooSmall", 400)
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": done[:2]}
    )
    assert resp["ETag"] == multipart_etag([expected1, b"tail bytes"])
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == expected1 + b"tail bytes"


def test_upload_part_copy_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=src, CopySourceRange="bytes=5-20"
        )
    # S3 refuses a copy range that is not inside the source (it does not
    # clamp it as a GET does).
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=src, CopySourceRange="bytes=10-12"
        )
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=src, CopySourceRange="bytes=3-"
        )
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource=src, CopySourceIfMatch='"nope"'
        )
    assert error_of(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=up, PartNumber=1, CopySource={"Bucket": bucket, "Key": "none"}
        )
    assert error_of(e) == ("NoSuchKey", 404)
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=up).get("Parts", []) == []


def test_complete_errors_change_nothing(s3, bucket, parts):
    up, done = upload_parts(s3, bucket, "k", parts)
    cases = [
        # An ETag that does not match the stored part.
        ([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}] + done[1:], "InvalidPart"),
        # A part that was never uploaded.
        (done[:2] + [{"PartNumber": 4, "ETag": done[0]["ETag"]}], "InvalidPart"),
        ([done[1], done[0], done[2]], "InvalidPartOrder"),
        ([done[0], done[0], done[2]], "InvalidPartOrder"),
    ]
    for listed, code in cases:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": listed})
        assert error_of(e) == (code, 400), listed
        assert object_absent(s3, bucket, "k")
        assert uploads_of(s3, bucket) == [("k", up)]

    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"b" * 100)["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="small",
            UploadId=small,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert error_of(e) == ("EntityTooSmall", 400)
    assert object_absent(s3, bucket, "small")
    # A single small part is fine: the last part has no minimum.
    resp = s3.complete_multipart_upload(
        Bucket=bucket, Key="small", UploadId=small, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}]}
    )
    assert resp["ETag"] == multipart_etag([b"b" * 100])
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"b" * 100

    # After all those failures the upload still completes normally.
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(parts)


def test_complete_with_no_parts(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="empty")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="empty", UploadId=up, MultipartUpload={"Parts": []})
    assert error_of(e) == ("MalformedXML", 400)
    assert object_absent(s3, bucket, "empty")


def test_abort(s3, bucket, parts):
    up, done = upload_parts(s3, bucket, "aborted", parts[:2])
    s3.put_object(Bucket=bucket, Key="aborted", Body=b"existing object")
    assert s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=up)["ResponseMetadata"][
        "HTTPStatusCode"
    ] == 204
    assert uploads_of(s3, bucket) == []
    for call in [
        lambda: s3.list_parts(Bucket=bucket, Key="aborted", UploadId=up),
        lambda: s3.upload_part(Bucket=bucket, Key="aborted", UploadId=up, PartNumber=3, Body=b"x"),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="aborted", UploadId=up, MultipartUpload={"Parts": done}
        ),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=up),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NoSuchUpload", 404)
    # The object of the same key, written meanwhile, is untouched.
    assert s3.get_object(Bucket=bucket, Key="aborted")["Body"].read() == b"existing object"


def test_upload_ids_are_per_key(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=up, PartNumber=1, Body=b"x")
    assert error_of(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="one", UploadId="made-up-id")
    assert error_of(e) == ("NoSuchUpload", 404)


@pytest.mark.parametrize("number", [0, 10001, -1])
def test_part_number_range(s3, bucket, number):
    up = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="n", UploadId=up, PartNumber=number, Body=b"x")
    assert error_of(e) == ("InvalidArgument", 400)
    assert s3.list_parts(Bucket=bucket, Key="n", UploadId=up).get("Parts", []) == []


def test_list_parts_paging(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]
    for n in [1, 2, 3, 5, 8]:
        s3.upload_part(Bucket=bucket, Key="p", UploadId=up, PartNumber=n, Body=str(n).encode())
    seen, marker = [], 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key="p", UploadId=up, MaxParts=2, PartNumberMarker=marker)
        numbers = [p["PartNumber"] for p in page["Parts"]]
        seen += numbers
        assert page["MaxParts"] == 2
        if not page["IsTruncated"]:
            break
        assert page["NextPartNumberMarker"] == numbers[-1]
        marker = page["NextPartNumberMarker"]
    assert seen == [1, 2, 3, 5, 8]


def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for key in ["a/1", "a/2", "b", "b", "c/d/e"]:
        ids.setdefault(key, []).append(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    every = [(k, i) for k in sorted(ids) for i in ids[k]]
    assert uploads_of(s3, bucket) == every
    assert uploads_of(s3, bucket, Prefix="a/") == [("a/1", ids["a/1"][0]), ("a/2", ids["a/2"][0])]

    resp = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in resp.get("Uploads", [])] == ["b", "b"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/", "c/"]
    for u in resp["Uploads"]:
        assert u["Initiator"]["ID"] == ROOT_ACCESS_KEY and u["Owner"]["ID"] == ROOT_ACCESS_KEY
        assert u["StorageClass"] == "STANDARD"

    # Paging with key and upload-id markers lists every upload once.
    seen, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == every

    for key, id_list in ids.items():
        for upload_id in id_list:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert uploads_of(s3, bucket) == []
    assert keys_of(s3, bucket) == []


def test_checksummed_parts(s3, bucket):
    """Parts with x-amz-checksum-* headers, as current SDKs send them."""
    import checksums

    data = os.urandom(5 * MiB)
    up = s3.create_multipart_upload(Bucket=bucket, Key="sums", ChecksumAlgorithm="SHA256")["UploadId"]
    good = s3.upload_part(
        Bucket=bucket, Key="sums", UploadId=up, PartNumber=1, Body=data, ChecksumSHA256=checksums.sha256(data)
    )
    assert good["ChecksumSHA256"] == checksums.sha256(data)
    with pytest.raises(ClientError) as e:
        s3.upload_part(
            Bucket=bucket,
            Key="sums",
            UploadId=up,
            PartNumber=2,
            Body=b"tail",
            ChecksumSHA256=checksums.sha256(b"other"),
        )
    assert error_of(e) == ("BadDigest", 400)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="sums", UploadId=up)["Parts"]] == [1]


def test_part_content_md5_and_unquoted_etags(s3, bucket, parts):
    import checksums

    up = s3.create_multipart_upload(Bucket=bucket, Key="md5")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(
            Bucket=bucket, Key="md5", UploadId=up, PartNumber=1, Body=parts[0], ContentMD5=checksums.md5_b64(b"x")
        )
    assert error_of(e) == ("BadDigest", 400)
    assert s3.list_parts(Bucket=bucket, Key="md5", UploadId=up).get("Parts", []) == []
    e1 = s3.upload_part(
        Bucket=bucket, Key="md5", UploadId=up, PartNumber=1, Body=parts[0], ContentMD5=checksums.md5_b64(parts[0])
    )["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="md5", UploadId=up, PartNumber=2, Body=parts[2])["ETag"]
    # Clients may send the ETags without their quotes.
    resp = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="md5",
        UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1.strip('"')}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert resp["ETag"] == multipart_etag([parts[0], parts[2]])
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == parts[0] + parts[2]


def test_overwrite_by_multipart_and_back(s3, bucket, parts):
    s3.put_object(Bucket=bucket, Key="k", Body=b"simple")
    up, done = upload_parts(s3, bucket, "k", parts[:2])
    # Until completed, readers see the simple object.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"simple"
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == parts[0] + parts[1]
    s3.put_object(Bucket=bucket, Key="k", Body=b"simple again")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"simple again" and "-" not in got["ETag"]
    assert keys_of(s3, bucket) == ["k"]
