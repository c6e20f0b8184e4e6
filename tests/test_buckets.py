"""Buckets: ListBuckets, CreateBucket (name rules, BucketAlreadyOwnedByYou,
BucketAlreadyExists), HeadBucket, DeleteBucket (BucketNotEmpty; uploads in progress aborted),
GetBucketLocation, GetBucketVersioning."""

import os
import socket
import time

import pytest
from botocore.exceptions import ClientError

import rawhttp
from conftest import ROOT_ACCESS_KEY, error_of, unique_name


def bucket_names(s3):
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_list_head_delete(s3):
    name = unique_name("life")
    assert name not in bucket_names(s3)
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"

    listed = s3.list_buckets()
    entry = [b for b in listed["Buckets"] if b["Name"] == name]
    assert len(entry) == 1 and entry[0]["CreationDate"].year >= 2024
    assert listed["Owner"] == {"ID": ROOT_ACCESS_KEY, "DisplayName": "root"}
    names = [b["Name"] for b in listed["Buckets"]]
    assert names == sorted(names)

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"

    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in bucket_names(s3)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error_of(e) == ("404", 404)


def test_list_buckets_prefix(s3):
    tag = unique_name("pfx")
    names = [f"{tag}-a", f"{tag}-b", f"x{tag}"]
    for n in names:
        s3.create_bucket(Bucket=n)
    got = [b["Name"] for b in s3.list_buckets(Prefix=tag)["Buckets"]]
    assert got == [f"{tag}-a", f"{tag}-b"]


def test_create_twice_is_already_owned_by_you(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketAlreadyOwnedByYou", 409)


def test_create_other_owners_name_is_already_exists(s3, bucket, arca, server):
    key = __import__("json").loads(arca("key", "create", "someone-else", "--json").stdout)
    other = server.client(access_key=key["access_key"], secret_key=key["secret_key"])
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketAlreadyExists", 409)
    # Still the root key's bucket, and only listed for its owner.
    assert bucket in bucket_names(s3)
    assert bucket not in bucket_names(other)


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "UpperCase",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        ".leading-dot",
        "trailing-dot.",
        "two..dots",
        "192.168.5.4",  # an IP address
        "xn--punycode",  # reserved prefixes and suffixes
        "sthree-bucket",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bucket--table-s3",
        "with space",
        "ünïcode",
    ],
)
def test_invalid_bucket_names_are_refused(server, s3, name):
    path = "/" + rawhttp.urllib.parse.quote(name, safe="")
    resp = rawhttp.signed_request(server.port, "PUT", path)
    assert (resp.status, resp.code) == (400, "InvalidBucketName"), resp
    assert name not in bucket_names(s3)


def test_valid_edge_names_are_accepted(s3):
    tag = unique_name("e").replace("-", "")
    for name in [tag[:3], ("n" + tag * 6)[:63], f"{tag}.with.dots", f"{tag}-9"]:
        s3.create_bucket(Bucket=name)
        assert name in bucket_names(s3)
        s3.delete_bucket(Bucket=name)


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketNotEmpty", 409)
    assert bucket in bucket_names(s3)
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"1"

    s3.delete_object(Bucket=bucket, Key="x")
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in bucket_names(s3)


def test_delete_bucket_with_only_uploads_in_progress_aborts_them(s3, bucket):
    # As S3 does: uploads in progress do not keep a bucket alive.
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 1000)
    s3.create_multipart_upload(Bucket=bucket, Key="other")
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in bucket_names(s3)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="pending", UploadId=up["UploadId"], PartNumber=2, Body=b"q")
    assert error_of(e) == ("NoSuchBucket", 404)
    # A new bucket of that name starts without them.
    s3.create_bucket(Bucket=bucket)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="pending", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        )
    assert error_of(e) == ("NoSuchUpload", 404)


def test_delete_bucket_with_objects_and_uploads_is_refused(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(e) == ("BucketNotEmpty", 409)
    # Refused as a whole: the upload goes on.
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up["UploadId"]]


def test_delete_bucket_while_a_put_streams_into_it(server, s3, bucket):
    # The PUT passed its bucket check before the bucket was deleted; its
    # row must not land in the dead bucket (nor in a new one of that name).
    body = os.urandom(1 << 20)
    path = f"/{bucket}/late"
    signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", {"content-length": str(len(body))},
                          rawhttp.UNSIGNED)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(rawhttp.request_head("PUT", path, signed.headers) + body[:1000])
        time.sleep(0.3)
        s3.delete_bucket(Bucket=bucket)
        s3.create_bucket(Bucket=bucket)
        sock.sendall(body[1000:])
        answer = rawhttp.read_answer(sock)
    assert rawhttp.parse_status(answer) == (404, "NoSuchBucket"), answer[:300]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # The recreated bucket is empty, so it can be deleted again.
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)


def test_missing_bucket(s3):
    name = unique_name("none")
    for call in [
        lambda: s3.delete_bucket(Bucket=name),
        lambda: s3.get_bucket_location(Bucket=name),
        lambda: s3.list_objects_v2(Bucket=name),
        lambda: s3.put_object(Bucket=name, Key="k", Body=b""),
        lambda: s3.get_object(Bucket=name, Key="k"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error_of(e) == ("404", 404)
    assert name not in bucket_names(s3)


def test_recreate_after_delete(s3):
    name = unique_name("again")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"old")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_location_and_versioning(s3, bucket):
    loc = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is reported as an empty LocationConstraint.
    assert loc.get("LocationConstraint") is None
    ver = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in ver


def test_location_constraint_must_match_the_region(s3):
    name = unique_name("loc")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_of(e) == ("InvalidLocationConstraint", 400)
    assert name not in bucket_names(s3)


def test_public_bucket_acls_are_refused(s3):
    name = unique_name("acl")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, ACL="public-read")
    assert error_of(e) == ("AccessControlListNotSupported", 400)
    assert name not in bucket_names(s3)
    s3.create_bucket(Bucket=name, ACL="private")
    assert name in bucket_names(s3)
