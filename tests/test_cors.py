"""CORS: bucket rules set and read with boto3, a browser's preflight
(OPTIONS, unsigned) answered from them, and the CORS headers on the actual
request — as a browser sends them, over plain HTTP."""

import http.client
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import error_of

RULES = {
    "CORSRules": [
        {
            "ID": "uploads",
            "AllowedOrigins": ["https://*.example.com"],
            "AllowedMethods": ["PUT", "POST"],
            "AllowedHeaders": ["content-*", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
    ]
}


def browser(server, method, path, headers):
    """One plain HTTP request as a browser makes it; (status, headers, body)."""
    endpoint = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_cors_rules_round_trip_and_are_checked(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(e) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://*.example.com"] and got[0]["MaxAgeSeconds"] == 600
    assert got[1]["AllowedMethods"] == ["GET", "HEAD"]
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bad)
    assert error_of(e) == ("InvalidRequest", 400)
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(e) == ("NoSuchCORSConfiguration", 404)


def test_a_preflight_is_answered_from_the_rules(s3, server, bucket):
    path = f"/{bucket}/photos/cat.jpg"
    ask = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, x-amz-meta-owner",
    }
    # No rules yet: refused.
    status, _, body = browser(server, "OPTIONS", path, ask)
    assert status == 403 and b"AccessForbidden" in body

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    status, headers, _ = browser(server, "OPTIONS", path, ask)
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert "PUT" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type, x-amz-meta-owner"
    assert headers["access-control-max-age"] == "600"
    assert headers["access-control-expose-headers"] == "ETag"

    # Another origin, a method or a header no rule allows: refused.
    for changed in [
        {"Origin": "https://evil.com"},
        {"Access-Control-Request-Method": "DELETE"},
        {"Access-Control-Request-Headers": "authorization-x"},
    ]:
        status, headers, _ = browser(server, "OPTIONS", path, {**ask, **changed})
        assert status == 403, changed
        assert "access-control-allow-origin" not in headers
    # Any origin may GET, by the second rule.
    status, headers, _ = browser(
        server, "OPTIONS", path, {"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"}
    )
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    # A preflight without an Origin is a bad request.
    status, _, _ = browser(server, "OPTIONS", path, {"Access-Control-Request-Method": "GET"})
    assert status == 400


def test_actual_requests_carry_the_rules_headers(s3, server, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    path = url[len(server.endpoint) :]
    status, headers, body = browser(server, "GET", path, {"Origin": "https://site.org"})
    assert (status, body) == (200, b"x")
    assert headers["access-control-allow-origin"] == "*"
    # Without an Origin, or from a request no rule allows, no CORS headers.
    status, headers, _ = browser(server, "GET", path, {})
    assert status == 200 and "access-control-allow-origin" not in headers
    s3.delete_bucket_cors(Bucket=bucket)
    status, headers, _ = browser(server, "GET", path, {"Origin": "https://site.org"})
    assert status == 200 and "access-control-allow-origin" not in headers
