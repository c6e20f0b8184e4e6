"""Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions —
prefix, delimiter, common prefixes, max-keys (0 too), marker / start-after /
continuation-token paging, encoding-type=url, fetch-owner."""

import concurrent.futures
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_ACCESS_KEY, error_of, unique_name

KEYS = [
    "a",
    "a/b",
    "a/c/d",
    "a/c/e",
    "b",
    "b/x",
    "c d",
    "c+d",
    "x-1",
    "x-2-y",
    "z%41",
    "zz/",
    "ü",
    "ü/日本",
]
# S3 lists keys in the binary order of their UTF-8 bytes.
SORTED = sorted(KEYS, key=lambda k: k.encode())
ROOT_OWNER = {"ID": ROOT_ACCESS_KEY, "DisplayName": "root"}


@pytest.fixture(scope="module")
def listed(s3):
    bucket = unique_name("list")
    s3.create_bucket(Bucket=bucket)
    for key in KEYS + ["deleted/one", "deleted"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    # Deleted objects (tombstones in the index) must not show.
    s3.delete_object(Bucket=bucket, Key="deleted/one")
    s3.delete_object(Bucket=bucket, Key="deleted")
    return bucket


def expected(prefix="", delimiter=None):
    """The (keys, common prefixes) a listing must return, from a model."""
    keys, prefixes = [], []
    for key in SORTED:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if common not in prefixes:
                prefixes.append(common)
        else:
            keys.append(key)
    return keys, prefixes


def entries(resp):
    """A page's keys and common prefixes, merged in listing order."""
    items = [o["Key"] for o in resp.get("Contents", [])] + [
        p["Prefix"] for p in resp.get("CommonPrefixes", [])
    ]
    return sorted(items, key=lambda k: k.encode())


def test_full_listing(s3, listed):
    v2 = s3.list_objects_v2(Bucket=listed)
    assert [o["Key"] for o in v2["Contents"]] == SORTED
    assert v2["KeyCount"] == len(SORTED)
    assert v2["IsTruncated"] is False
    assert "NextContinuationToken" not in v2
    v1 = s3.list_objects(Bucket=listed)
    assert [o["Key"] for o in v1["Contents"]] == SORTED
    assert v1["IsTruncated"] is False
    assert "NextMarker" not in v1
    for o in v2["Contents"]:
        assert o["Size"] == len(o["Key"].encode())
        assert o["StorageClass"] == "STANDARD"
        assert o["ETag"].startswith('"') and len(o["ETag"]) == 34


@pytest.mark.parametrize(
    "prefix,delimiter",
    [
        ("a/", None),
        ("a/c/", None),
        ("a", None),
        ("nothing", None),
        ("", "/"),
        ("a/", "/"),
        ("ü", "/"),
        ("", "-"),
        ("x-", "-"),
        ("", "c"),
        ("", "日本"),
    ],
)
def test_prefix_and_delimiter(s3, listed, prefix, delimiter):
    want_keys, want_prefixes = expected(prefix, delimiter)
    kwargs = {"Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    v2 = s3.list_objects_v2(Bucket=listed, **kwargs)
    v1 = s3.list_objects(Bucket=listed, **kwargs)
    for resp in (v2, v1):
        assert [o["Key"] for o in resp.get("Contents", [])] == want_keys
        assert [p["Prefix"] for p in resp.get("CommonPrefixes", [])] == want_prefixes
        assert resp["IsTruncated"] is False
        assert resp.get("Delimiter") == delimiter
    assert v2["Prefix"] == prefix
    # botocore asks for url encoding but leaves v1's Prefix encoded
    # (boto/boto3#3534); S3 documents it as encoded.
    assert urllib.parse.unquote(v1["Prefix"]) == prefix
    assert s3.list_objects_v2(Bucket=listed, **kwargs)["KeyCount"] == len(want_keys) + len(want_prefixes)


@pytest.mark.parametrize("max_keys", [1, 2, 3, 5, 13, 14])
@pytest.mark.parametrize("delimiter", [None, "/"])
def test_v2_paging(s3, listed, max_keys, delimiter):
    want = sorted(sum(expected("", delimiter), []), key=lambda k: k.encode())
    kwargs = {"MaxKeys": max_keys}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    got, pages, token = [], 0, None
    while True:
        resp = s3.list_objects_v2(Bucket=listed, **kwargs, **({"ContinuationToken": token} if token else {}))
        assert resp.get("ContinuationToken") == token
        pages += 1
        page = entries(resp)
        assert resp["KeyCount"] == len(page) <= max_keys
        assert resp["MaxKeys"] == max_keys
        got += page
        # Truncated exactly when something is left to list.
        assert resp["IsTruncated"] == (len(got) < len(want)), (pages, got)
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        token = resp["NextContinuationToken"]
        assert pages < 50
    assert got == want
    assert pages == max(1, -(-len(want) // max_keys))


@pytest.mark.parametrize("max_keys", [1, 2, 4])
@pytest.mark.parametrize("delimiter", [None, "/"])
def test_v1_paging_with_markers(s3, listed, max_keys, delimiter):
    want = sorted(sum(expected("", delimiter), []), key=lambda k: k.encode())
    kwargs = {"MaxKeys": max_keys}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    got, marker = [], ""
    while True:
        resp = s3.list_objects(Bucket=listed, Marker=marker, **kwargs)
        assert resp["Marker"] == marker
        page = entries(resp)
        got += page
        assert resp["IsTruncated"] == (len(got) < len(want))
        if not resp["IsTruncated"]:
            assert "NextMarker" not in resp
            break
        # NextMarker is the last key or common prefix of the page (S3
        # always returns it with a delimiter; without one it is optional).
        if delimiter:
            assert resp["NextMarker"] == page[-1]
        else:
            assert resp.get("NextMarker", page[-1]) == page[-1]
        marker = page[-1]
    assert got == want


def test_start_after(s3, listed):
    resp = s3.list_objects_v2(Bucket=listed, StartAfter="b")
    assert [o["Key"] for o in resp["Contents"]] == [k for k in SORTED if k.encode() > b"b"]
    assert resp["StartAfter"] == "b"
    resp = s3.list_objects_v2(Bucket=listed, StartAfter="a/c/d", MaxKeys=2)
    assert [o["Key"] for o in resp["Contents"]] == ["a/c/e", "b"]
    assert resp["IsTruncated"] is True
    # A continuation token wins over start-after.
    token = resp["NextContinuationToken"]
    resp = s3.list_objects_v2(Bucket=listed, StartAfter="a", ContinuationToken=token, MaxKeys=1)
    assert [o["Key"] for o in resp["Contents"]] == ["b/x"]
    resp = s3.list_objects_v2(Bucket=listed, StartAfter="ü/日本")
    assert resp.get("Contents", []) == [] and resp["IsTruncated"] is False


def test_marker_past_the_end(s3, listed):
    resp = s3.list_objects(Bucket=listed, Marker="\U0010ffff")
    assert resp.get("Contents", []) == [] and resp["IsTruncated"] is False


def test_max_keys_zero(s3, listed):
    v2 = s3.list_objects_v2(Bucket=listed, MaxKeys=0)
    assert v2.get("Contents", []) == [] and v2.get("CommonPrefixes", []) == []
    assert (v2["KeyCount"], v2["MaxKeys"], v2["IsTruncated"]) == (0, 0, False)
    assert "NextContinuationToken" not in v2
    v1 = s3.list_objects(Bucket=listed, MaxKeys=0)
    assert v1.get("Contents", []) == [] and (v1["MaxKeys"], v1["IsTruncated"]) == (0, False)
    vv = s3.list_object_versions(Bucket=listed, MaxKeys=0)
    assert vv.get("Versions", []) == [] and vv["IsTruncated"] is False


def test_last_page_ending_on_a_common_prefix_is_not_truncated(s3, bucket):
    s3.put_object(Bucket=bucket, Key="foo/bar", Body=b"")
    s3.put_object(Bucket=bucket, Key="foo/quxx", Body=b"")
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["foo/"]
    assert resp["IsTruncated"] is False


def test_encoding_type_url(s3, listed):
    # Given explicitly, botocore leaves the encoded values as the server sent them.
    v2 = s3.list_objects_v2(Bucket=listed, EncodingType="url", Delimiter="/", Prefix="")
    assert v2["EncodingType"] == "url"
    assert [o["Key"] for o in v2["Contents"]] == [
        urllib.parse.quote(k, safe="/") for k in expected("", "/")[0]
    ]
    assert "c%20d" in [o["Key"] for o in v2["Contents"]]
    assert "c%2Bd" in [o["Key"] for o in v2["Contents"]]
    assert "z%2541" in [o["Key"] for o in v2["Contents"]]
    assert "%C3%BC" in [o["Key"] for o in v2["Contents"]]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "b/", "zz/", "%C3%BC/"]

    v1 = s3.list_objects(Bucket=listed, EncodingType="url", Prefix="ü/")
    assert v1["Prefix"] == "%C3%BC/"
    assert [o["Key"] for o in v1["Contents"]] == ["%C3%BC/%E6%97%A5%E6%9C%AC"]

    # By default botocore asks for url encoding and decodes what comes back.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=listed, Prefix="c")["Contents"]] == ["c d", "c+d"]

    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=listed, EncodingType="base64")
    assert error_of(e) == ("InvalidArgument", 400)


def test_fetch_owner(s3, listed):
    without = s3.list_objects_v2(Bucket=listed)
    assert all("Owner" not in o for o in without["Contents"])
    with_owner = s3.list_objects_v2(Bucket=listed, FetchOwner=True)
    assert [o["Owner"] for o in with_owner["Contents"]] == [ROOT_OWNER] * len(SORTED)
    # ListObjects (v1) always shows the owner.
    assert [o["Owner"] for o in s3.list_objects(Bucket=listed)["Contents"]] == [ROOT_OWNER] * len(SORTED)


def test_list_object_versions(s3, listed):
    resp = s3.list_object_versions(Bucket=listed)
    versions = resp["Versions"]
    assert [v["Key"] for v in versions] == SORTED
    assert all(v["VersionId"] == "null" and v["IsLatest"] is True for v in versions)
    assert all(v["Owner"] == ROOT_OWNER for v in versions)
    assert "DeleteMarkers" not in resp
    assert resp["IsTruncated"] is False

    delim = s3.list_object_versions(Bucket=listed, Delimiter="/", Prefix="a")
    assert [v["Key"] for v in delim["Versions"]] == ["a"]
    assert [p["Prefix"] for p in delim["CommonPrefixes"]] == ["a/"]

    # Paging: every object exactly once.
    got, kw = [], {}
    while True:
        page = s3.list_object_versions(Bucket=listed, MaxKeys=3, **kw)
        got += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert page["NextVersionIdMarker"] == "null"
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert got == SORTED


def test_more_than_one_default_page(s3, bucket):
    keys = [f"k{i:05}" for i in range(1003)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    first = s3.list_objects_v2(Bucket=bucket)
    assert first["KeyCount"] == 1000 and first["IsTruncated"] is True
    assert [o["Key"] for o in first["Contents"]] == keys[:1000]
    # More than 1000 asked for: S3 still returns at most 1000.
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)["KeyCount"] == 1000
    second = s3.list_objects_v2(Bucket=bucket, ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == keys[1000:]
    assert second["IsTruncated"] is False
    # The paginator (what most SDK code uses) sees every key once.
    pages = s3.get_paginator("list_objects").paginate(Bucket=bucket)
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys


def test_bad_listing_arguments(s3, listed):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=listed, ContinuationToken="%%%not-a-token")
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=listed, MaxKeys=-1)
    assert error_of(e) == ("InvalidArgument", 400)
