"""Bucket versioning: version ids, delete markers, the null version under
Suspended, reads and copies by version, ListObjectVersions and its paging,
DeleteObjects with version ids — with boto3 and the aws cli."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import error_of, keys_of


def enable(s3, bucket, status="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def versions_of(s3, bucket, **kwargs):
    """Every (key, version id, is latest, is a delete marker), in the order S3 lists them."""
    resp = s3.list_object_versions(Bucket=bucket, **kwargs)
    rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v.get("LastModified")) for v in resp.get("Versions", [])]
    rows += [(m["Key"], m["VersionId"], m["IsLatest"], True, m.get("LastModified")) for m in resp.get("DeleteMarkers", [])]
    # The XML holds versions and markers in two lists; S3's order is by key,
    # then newest first.
    rows.sort(key=lambda r: (r[0], -r[4].timestamp()))
    return [r[:4] for r in rows]


def test_status_moves_from_unversioned_to_enabled_and_suspended(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert error_of(e) == ("MalformedXML", 400)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}, MFA="dev 123456"
        )
    assert error_of(e) == ("NotImplemented", 501)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_every_write_makes_a_version_and_each_reads_back(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two" * 3000)["VersionId"]  # striped, not inline
    assert v1 != v2 and "null" not in (v1, v2)

    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"two" * 3000, v2)
    got = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert (got["Body"].read(), got["VersionId"]) == (b"one", v1)
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == 3
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1, Range="bytes=1-1")["Body"].read() == b"n"

    # A version id Arca never made is refused; a well-formed unknown one is absent.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="f" * 24 + "00000000")
    assert error_of(e) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="other", VersionId=v1)
    assert error_of(e) == ("NoSuchVersion", 404)

    assert versions_of(s3, bucket) == [("k", v2, True, False), ("k", v1, False, False)]
    assert keys_of(s3, bucket) == ["k"]


def test_a_delete_marker_hides_the_object_until_it_is_removed(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker not in ("null", v1)
    assert keys_of(s3, bucket) == []

    # The current version is a marker: 404 with the marker's headers.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("NoSuchKey", 404)
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    # The marker named by id: 405 MethodNotAllowed.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert error_of(e) == ("MethodNotAllowed", 405)
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k", VersionId=marker)
    assert error_of(e) == ("405", 405)
    # The old version is still there, by id.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"kept"
    assert versions_of(s3, bucket) == [("k", marker, True, True), ("k", v1, False, False)]

    # Removing the marker brings the object back.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    # Removing the last version deletes the object for good.
    assert "DeleteMarker" not in s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert versions_of(s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)


def test_suspended_writes_replace_the_null_version_and_keep_the_others(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before versioning")
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    # The object written before versioning is the null version, older than v1.
    assert versions_of(s3, bucket) == [("k", v1, True, False), ("k", "null", False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before versioning"

    enable(s3, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")
    assert put["VersionId"] == "null"
    # The new null version replaced the old one and is now the newest.
    assert versions_of(s3, bucket) == [("k", "null", True, False), ("k", v1, False, False)]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"suspended"

    # A delete under Suspended makes a null delete marker, replacing the null version.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    assert versions_of(s3, bucket) == [("k", "null", True, True), ("k", v1, False, False)]
    assert keys_of(s3, bucket) == []
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def test_copy_from_a_version_and_multipart_uploads_make_versions(s3, bucket):
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["VersionId"] not in (None, "null", v1)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"first"
    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "f" * 24 + "00000000"}
        )
    assert error_of(e) == ("NoSuchVersion", 404)
    # Copying an object onto itself from an older version restores it.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src", "VersionId": v1})
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"first"

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 100)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    )
    assert done["VersionId"] not in (None, "null")
    assert s3.head_object(Bucket=bucket, Key="mp", VersionId=done["VersionId"])["ContentLength"] == 100


def test_delete_objects_by_version_and_paging_through_versions(s3, bucket):
    enable(s3, bucket)
    made = {}
    for key in ["a", "b/1", "b/2", "c"]:
        made[key] = [s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{i}".encode())["VersionId"] for i in range(3)]
    s3.delete_object(Bucket=bucket, Key="c")  # a marker on top of c

    full = versions_of(s3, bucket)
    assert len(full) == 13
    # Every page size lists the same versions in the same order.
    for max_keys in [1, 2, 5]:
        got, kw = [], {}
        while True:
            page = s3.list_object_versions(Bucket=bucket, MaxKeys=max_keys, **kw)
            items = [(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            assert len(items) <= max_keys
            got += items
            if not page["IsTruncated"]:
                break
            kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
        assert sorted(got) == sorted((k, v) for k, v, _, _ in full), f"pages of {max_keys}"
        assert len(got) == len(set(got))

    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a", "c"}
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix="a")["Versions"]] == made["a"][::-1]

    # A bucket with versions is not empty.
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketNotEmpty", 409)

    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "VersionId": made["a"][2]}, {"Key": "a", "VersionId": "junk"}, {"Key": "b/1"}]},
    )
    deleted = {(d["Key"], d.get("VersionId"), d.get("DeleteMarker", False)) for d in resp["Deleted"]}
    assert ("a", made["a"][2], False) in deleted
    marker = next(d for d in resp["Deleted"] if d["Key"] == "b/1")
    assert marker["DeleteMarker"] is True and marker["DeleteMarkerVersionId"] not in (None, "null")
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("a", "InvalidArgument")]
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"a1"
    assert keys_of(s3, bucket) == ["a", "b/2"]

    # Removing every version and marker empties the bucket.
    everything = versions_of(s3, bucket)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k, "VersionId": v} for k, v, _, _ in everything]})
    assert versions_of(s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)


def test_the_aws_cli_drives_versioning(s3, bucket, aws, tmp_path):
    aws("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    status = json.loads(aws("s3api", "get-bucket-versioning", "--bucket", bucket).stdout)
    assert status["Status"] == "Enabled"
    src = tmp_path / "f"
    for body in ["one", "two"]:
        src.write_text(body)
        aws("s3", "cp", str(src), f"s3://{bucket}/f", "--only-show-errors")
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", bucket).stdout)
    ids = [v["VersionId"] for v in listed["Versions"]]
    assert len(ids) == 2 and [v["IsLatest"] for v in listed["Versions"]] == [True, False]
    out = tmp_path / "old"
    aws("s3api", "get-object", "--bucket", bucket, "--key", "f", "--version-id", ids[1], str(out))
    assert out.read_text() == "one"
