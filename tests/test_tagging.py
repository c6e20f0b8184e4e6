"""Tags on objects (by version, on PUT, copy and multipart uploads) and on
buckets, with S3's limits; x-amz-website-redirect-location beside them."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_of


def tagset(d):
    return sorted((t["Key"], t["Value"]) for t in d["TagSet"])


def tags(**kw):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in kw.items()]}


def test_object_tags_set_read_count_and_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="project=arca&owner=ops%20team")
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="k")) == [("owner", "ops team"), ("project", "arca")]
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tags(stage="prod"))
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="k")) == [("stage", "prod")]
    # Tags change nothing else about the object.
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"x" and got["TagCount"] == 1

    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")

    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="absent")
    assert error_of(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging=tags(a="b"))
    assert error_of(e) == ("NoSuchKey", 404)


def test_tag_limits_are_s3s(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    cases = [
        ({"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}, ("BadRequest", 400)),
        ({"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}, ("InvalidTag", 400)),
        (tags(**{"k" * 129: "v"}), ("InvalidTag", 400)),
        (tags(k="v" * 257), ("InvalidTag", 400)),
    ]
    for tagging, want in cases:
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagging)
        assert error_of(e) == want
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", Tagging="a=1&a=2")
    assert error_of(e) == ("InvalidTag", 400)
    # Ten tags, 128-character keys and 256-character values are allowed.
    ok = {"TagSet": [{"Key": f"{i}" + "k" * 127, "Value": "v" * 256} for i in range(10)]}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=ok)
    assert len(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == 10


def test_tags_follow_versions_copies_and_uploads(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="v=2")["VersionId"]
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert tagset(got) == [("v", "1")] and got["VersionId"] == v1
    s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tags(v="one"))
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)) == [("v", "one")]
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="k")) == [("v", "2")]

    # Copies keep the source's tags unless the tagging directive replaces them.
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "k", "VersionId": v2})
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="kept")) == [("v", "2")]
    s3.copy_object(
        Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "k"}, TaggingDirective="REPLACE", Tagging="new=yes"
    )
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="replaced")) == [("new", "yes")]

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="from=upload")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    )
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="mp")) == [("from", "upload")]

    # A delete marker has no tags to read or set.
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    for call in [
        lambda: s3.get_object_tagging(Bucket=bucket, Key="k"),
        lambda: s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker, Tagging=tags(a="b")),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("MethodNotAllowed", 405)


def test_bucket_tags(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(e) == ("NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tags(team="storage", cost="42"))
    assert tagset(s3.get_bucket_tagging(Bucket=bucket)) == [("cost", "42"), ("team", "storage")]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "x", "Value": "1"}, {"Key": "x", "Value": "2"}]})
    assert error_of(e) == ("InvalidTag", 400)
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(e) == ("NoSuchTagSet", 404)


def test_website_redirect_location_is_stored_and_returned(s3, bucket):
    s3.put_object(Bucket=bucket, Key="page", Body=b"x", WebsiteRedirectLocation="/elsewhere.html")
    assert s3.head_object(Bucket=bucket, Key="page")["WebsiteRedirectLocation"] == "/elsewhere.html"
    assert s3.get_object(Bucket=bucket, Key="page")["WebsiteRedirectLocation"] == "/elsewhere.html"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", WebsiteRedirectLocation="ftp://x")
    assert error_of(e)[1] == 400
