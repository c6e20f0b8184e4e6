"""Authentication and addressing: SigV4 in headers, presigned URLs (expiry
honoured), Signature Version 2 (headers and presigned URLs; a setting turns
it off), aws-chunked streaming payloads with and without trailers,
UNSIGNED-PAYLOAD, path-style and virtual-hosted-style requests, anonymous
requests refused, unimplemented operations answered NotImplemented."""

import hashlib
import http.client
import os
import socket
import time
import urllib.parse

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

import checksums
import rawhttp
from conftest import ArcaServer, client, error_of, keys_of, object_absent, unique_name


def fetch(url, method="GET", body=None, headers=None, host=None):
    """Sends a (presigned) URL as it is, optionally to 127.0.0.1 with
    another Host header."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
    path = parts.path + ("?" + parts.query if parts.query else "")
    hdrs = dict(headers or {})
    hdrs["Host"] = host or parts.netloc
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return rawhttp.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)


def test_header_signature_by_hand(server, s3, bucket):
    body = b"signed by hand"
    put = rawhttp.signed_request(server.port, "PUT", f"/{bucket}/hand", body=body)
    assert put.status == 200, put
    assert put.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = rawhttp.signed_request(server.port, "GET", f"/{bucket}/hand")
    assert (got.status, got.body) == (200, body)


def test_wrong_secret_and_unknown_key(server, s3, bucket):
    bad = client(server, secret_key="not-the-secret-at-all")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_of(e) == ("SignatureDoesNotMatch", 403)
    unknown = client(server, access_key="AKNOSUCHKEY000000000")
    with pytest.raises(ClientError) as e:
        unknown.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_of(e) == ("InvalidAccessKeyId", 403)
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert error_of(e) == ("InvalidAccessKeyId", 403)
    assert object_absent(s3, bucket, "k")


def test_payload_hash_mismatch(server, s3, bucket):
    resp = rawhttp.signed_request(
        server.port,
        "PUT",
        f"/{bucket}/k",
        body=b"what is sent",
        payload_hash=hashlib.sha256(b"what was signed").hexdigest(),
    )
    assert (resp.status, resp.code) == (400, "XAmzContentSHA256Mismatch"), resp
    assert object_absent(s3, bucket, "k")


def test_unsigned_payload(server, s3, bucket):
    body = os.urandom(6 * 1024 * 1024)
    resp = rawhttp.signed_request(server.port, "PUT", f"/{bucket}/unsigned", body=body, payload_hash=rawhttp.UNSIGNED)
    assert resp.status == 200, resp
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == body


class TestPresigned:
    def test_get_and_put(self, s3, bucket):
        s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"presigned content")
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "shared file.txt"}, ExpiresIn=300
        )
        assert "X-Amz-Signature=" in url
        resp = fetch(url)
        assert (resp.status, resp.body) == (200, b"presigned content")

        url = s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": "shared file.txt",
                "ResponseContentDisposition": 'attachment; filename="x.txt"',
            },
            ExpiresIn=300,
        )
        resp = fetch(url)
        assert resp.status == 200
        assert resp.headers["content-disposition"] == 'attachment; filename="x.txt"'

        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
        resp = fetch(put_url, "PUT", body=b"uploaded through a URL")
        assert resp.status == 200, resp
        assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded through a URL"

    def test_expiry_is_honoured(self, s3, bucket):
        s3.put_object(Bucket=bucket, Key="soon", Body=b"x")
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "soon"}, ExpiresIn=1)
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=1)
        time.sleep(2.5)
        resp = fetch(get_url)
        assert (resp.status, resp.code) == (403, "AccessDenied"), resp
        resp = fetch(put_url, "PUT", body=b"too late")
        assert (resp.status, resp.code) == (403, "AccessDenied"), resp
        assert object_absent(s3, bucket, "late")

    def test_tampered_urls(self, s3, bucket):
        s3.put_object(Bucket=bucket, Key="a", Body=b"a")
        s3.put_object(Bucket=bucket, Key="b", Body=b"b")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=300)
        # Another key with the same signature.
        resp = fetch(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"))
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        # A longer lifetime than was signed.
        resp = fetch(url.replace("X-Amz-Expires=300", "X-Amz-Expires=600"))
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        # Longer than the 7 days SigV4 allows.
        with_week = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=8 * 24 * 3600
        )
        resp = fetch(with_week)
        assert (resp.status, resp.code) == (400, "AuthorizationQueryParametersError"), resp


def chunked_put(server, path, data, mode, trailers=None, announce=None, corrupt_chunk=None, chunk_size=64 * 1024):
    """PUT `data` as an aws-chunked body in `mode` (one of the STREAMING-*
    payload hashes)."""
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if announce or trailers:
        headers["x-amz-trailer"] = announce or ",".join(trailers)
    host = f"127.0.0.1:{server.port}"
    if mode == rawhttp.STREAMING_UNSIGNED_TRAILER:
        signed = rawhttp.sign("PUT", path, host, headers, mode)
        body = rawhttp.aws_chunked_unsigned(data, chunk_size, trailers)
    else:
        signed = rawhttp.sign("PUT", path, host, headers, mode)
        body = rawhttp.aws_chunked_signed(signed, data, chunk_size, trailers, corrupt_chunk)
    return rawhttp.request(server.port, "PUT", path, signed.headers, body)


class TestAwsChunked:
    @pytest.mark.parametrize("size", [0, 100, 200 * 1024 + 5, 9 * 1024 * 1024])
    def test_signed_chunks(self, server, s3, bucket, size):
        data = os.urandom(size)
        resp = chunked_put(server, f"/{bucket}/signed", data, rawhttp.STREAMING_SIGNED)
        assert resp.status == 200, resp
        got = s3.get_object(Bucket=bucket, Key="signed")
        assert got["Body"].read() == data
        assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        # aws-chunked is how the body travelled, not how it is encoded.
        assert "ContentEncoding" not in got

    def test_other_content_encodings_are_kept(self, server, s3, bucket):
        data = b"pretend this is gzip"
        path = f"/{bucket}/gz"
        headers = {"content-encoding": "aws-chunked,gzip", "x-amz-decoded-content-length": str(len(data))}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.STREAMING_SIGNED)
        resp = rawhttp.request(server.port, "PUT", path, signed.headers, rawhttp.aws_chunked_signed(signed, data))
        assert resp.status == 200, resp
        got = s3.get_object(Bucket=bucket, Key="gz")
        assert got["ContentEncoding"] == "gzip"
        assert got["Body"].read() == data

    def test_bad_chunk_signature(self, server, s3, bucket):
        data = os.urandom(300 * 1024)
        resp = chunked_put(server, f"/{bucket}/bad", data, rawhttp.STREAMING_SIGNED, corrupt_chunk=2)
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        assert object_absent(s3, bucket, "bad")

    @pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
    def test_signed_trailer(self, server, s3, bucket, algorithm):
        data = os.urandom(150 * 1024)
        header = f"x-amz-checksum-{algorithm.lower()}"
        value = checksums.ALL[algorithm](data)
        resp = chunked_put(server, f"/{bucket}/t", data, rawhttp.STREAMING_SIGNED_TRAILER, trailers={header: value})
        assert resp.status == 200, resp
        head = s3.head_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == value
        assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == data

        wrong = checksums.ALL[algorithm](data[1:])
        resp = chunked_put(
            server, f"/{bucket}/t-bad", data, rawhttp.STREAMING_SIGNED_TRAILER, trailers={header: wrong}
        )
        assert (resp.status, resp.code) == (400, "BadDigest"), resp
        assert object_absent(s3, bucket, "t-bad")

    def test_bad_trailer_signature(self, server, s3, bucket):
        data = os.urandom(1000)
        headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                   "x-amz-trailer": "x-amz-checksum-crc32"}
        path = f"/{bucket}/tsig"
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.STREAMING_SIGNED_TRAILER)
        body = rawhttp.aws_chunked_signed(signed, data, trailers={"x-amz-checksum-crc32": checksums.crc32(data)})
        # Replace the trailer's signature with another valid-looking one.
        head, _, sig = body.rstrip(b"\r\n").rpartition(b"x-amz-trailer-signature:")
        body = head + b"x-amz-trailer-signature:" + b"0" * len(sig) + b"\r\n\r\n"
        resp = rawhttp.request(server.port, "PUT", path, signed.headers, body)
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        assert object_absent(s3, bucket, "tsig")

    @pytest.mark.parametrize("size", [1, 70 * 1024, 9 * 1024 * 1024 + 1])
    def test_unsigned_trailer(self, server, s3, bucket, size):
        data = os.urandom(size)
        trailer = {"x-amz-checksum-crc32": checksums.crc32(data)}
        resp = chunked_put(server, f"/{bucket}/u", data, rawhttp.STREAMING_UNSIGNED_TRAILER, trailers=trailer)
        assert resp.status == 200, resp
        assert resp.headers["x-amz-checksum-crc32"] == trailer["x-amz-checksum-crc32"]
        assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == data

        bad = {"x-amz-checksum-crc32": checksums.crc32(data + b"!")}
        resp = chunked_put(server, f"/{bucket}/u-bad", data, rawhttp.STREAMING_UNSIGNED_TRAILER, trailers=bad)
        assert (resp.status, resp.code) == (400, "BadDigest"), resp
        assert object_absent(s3, bucket, "u-bad")

    def test_announced_trailer_missing(self, server, s3, bucket):
        data = b"no trailer follows"
        resp = chunked_put(
            server, f"/{bucket}/m", data, rawhttp.STREAMING_UNSIGNED_TRAILER, announce="x-amz-checksum-crc32"
        )
        assert (resp.status, resp.code) == (400, "InvalidRequest"), resp
        assert object_absent(s3, bucket, "m")

    def test_decoded_length_mismatch(self, server, s3, bucket):
        data = os.urandom(5000)
        path = f"/{bucket}/len"
        for declared in (len(data) - 1, len(data) + 1):
            headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(declared)}
            signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.STREAMING_SIGNED)
            body = rawhttp.aws_chunked_signed(signed, data, 1024)
            resp = rawhttp.request(server.port, "PUT", path, signed.headers, body)
            assert resp.status == 400, (declared, resp)
            assert object_absent(s3, bucket, "len")

    def test_upload_part_with_trailer(self, server, s3, bucket):
        up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        data = os.urandom(5 * 1024 * 1024)
        trailer = {"x-amz-checksum-crc32c": checksums.crc32c(data)}
        path = f"/{bucket}/mp"
        query = f"partNumber=1&uploadId={up}"
        headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                   "x-amz-trailer": "x-amz-checksum-crc32c"}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers,
                              rawhttp.STREAMING_UNSIGNED_TRAILER, query=query)
        body = rawhttp.aws_chunked_unsigned(data, 1024 * 1024, trailer)
        resp = rawhttp.request(server.port, "PUT", f"{path}?{query}", signed.headers, body)
        assert resp.status == 200, resp
        etag = resp.headers["etag"]
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
        )
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == data


def test_boto3_flexible_checksums_over_http(s3, bucket):
    """What botocore 1.44 sends over plain HTTP with
    request_checksum_calculation=when_supported: the body signed whole
    and its CRC32 in a header (aws-chunked trailers are TLS-only in
    botocore, hence the hand-made requests above)."""
    sent = {}
    c = s3

    def capture(request, **_):
        sent.update({k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})

    c.meta.events.register("before-send.s3.PutObject", capture)
    try:
        c.put_object(Bucket=bucket, Key="flex", Body=b"flexible")
    finally:
        c.meta.events.unregister("before-send.s3.PutObject", capture)
    assert sent["x-amz-content-sha256"] == hashlib.sha256(b"flexible").hexdigest()
    assert sent["x-amz-checksum-crc32"] == checksums.crc32(b"flexible")
    assert "aws-chunked" not in sent.get("content-encoding", "")


class TestSignatureV2:
    """Signature Version 2 beside SigV4, on by default: header signatures
    and query-string presigned URLs as boto3 makes them."""

    def test_header_signed_requests(self, server, bucket):
        v2 = client(server, signature_version="s3")
        v2.put_object(Bucket=bucket, Key="v2 key/ü", Body=b"signed with v2", ContentType="text/plain",
                      Metadata={"origin": "v2"})
        got = v2.get_object(Bucket=bucket, Key="v2 key/ü")
        assert got["Body"].read() == b"signed with v2"
        assert got["Metadata"] == {"origin": "v2"}
        assert keys_of(v2, bucket, Prefix="v2 ") == ["v2 key/ü"]
        bad = client(server, signature_version="s3", secret_key="not-the-secret-at-all")
        with pytest.raises(ClientError) as e:
            bad.get_object(Bucket=bucket, Key="v2 key/ü")
        assert error_of(e) == ("SignatureDoesNotMatch", 403)
        with pytest.raises(ClientError) as e:
            bad.put_object(Bucket=bucket, Key="forged", Body=b"x")
        assert error_of(e) == ("SignatureDoesNotMatch", 403)
        assert object_absent(v2, bucket, "forged")

    def test_presigned_urls(self, server, bucket):
        v2 = client(server, signature_version="s3")
        v2.put_object(Bucket=bucket, Key="shared", Body=b"v2 presigned")
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=300)
        assert "Signature=" in url and "X-Amz-Signature" not in url, url
        assert (fetch(url).status, fetch(url).body) == (200, b"v2 presigned")
        tampered = url.replace("shared", "other")
        assert fetch(tampered).status == 403
        put_url = v2.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
        assert fetch(put_url, "PUT", body=b"through a v2 URL").status == 200
        assert v2.get_object(Bucket=bucket, Key="up")["Body"].read() == b"through a v2 URL"
        soon = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=1)
        time.sleep(2.5)
        resp = fetch(soon)
        assert (resp.status, resp.code) == (403, "AccessDenied"), resp

    def test_a_setting_turns_it_off(self, tmp_path):
        config = tmp_path / "arca.toml"
        config.write_text("signature_v2 = false\n")
        srv = ArcaServer(tmp_path / "data", args=["--config", str(config)]).start()
        try:
            v4 = client(srv)
            name = unique_name("v2off")
            v4.create_bucket(Bucket=name)
            v4.put_object(Bucket=name, Key="k", Body=b"x")
            v2 = client(srv, signature_version="s3")
            with pytest.raises(ClientError) as e:
                v2.get_object(Bucket=name, Key="k")
            assert error_of(e) == ("AccessDenied", 403)
            url = v2.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"}, ExpiresIn=300)
            resp = fetch(url)
            assert (resp.status, resp.code) == (403, "AccessDenied"), resp
        finally:
            srv.kill()


@pytest.fixture(scope="module")
def domain_server(tmp_root):
    srv = ArcaServer(tmp_root / "vhost", domain="localhost").start()
    yield srv
    srv.kill()


@pytest.fixture
def resolve_localhost_subdomains(monkeypatch):
    """bucket.localhost does not resolve on every machine; send it to
    127.0.0.1 so clients can use virtual-hosted-style URLs unchanged."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_virtual_hosted_style(domain_server, resolve_localhost_subdomains):
    vhost = client(domain_server, addressing="virtual")
    path = client(domain_server, addressing="path")
    urls = []
    vhost.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))

    name = unique_name("vh")
    vhost.create_bucket(Bucket=name)
    vhost.put_object(Bucket=name, Key="dir/obj", Body=b"virtual")
    assert vhost.get_object(Bucket=name, Key="dir/obj")["Body"].read() == b"virtual"
    assert [o["Key"] for o in vhost.list_objects_v2(Bucket=name)["Contents"]] == ["dir/obj"]
    assert all(u.startswith(f"http://{name}.localhost:{domain_server.port}/") for u in urls), urls

    # The same server answers path-style requests for the same bucket.
    assert path.get_object(Bucket=name, Key="dir/obj")["Body"].read() == b"virtual"
    path.put_object(Bucket=name, Key="by-path", Body=b"p")
    assert keys_of(vhost, name) == ["by-path", "dir/obj"]
    assert name in [b["Name"] for b in vhost.list_buckets()["Buckets"]]

    # A presigned virtual-hosted URL, sent with its Host header.
    url = vhost.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "dir/obj"}, ExpiresIn=60)
    assert urllib.parse.urlsplit(url).netloc == f"{name}.localhost:{domain_server.port}"
    resp = fetch(url)
    assert (resp.status, resp.body) == (200, b"virtual")

    # A hand-signed request whose Host names the bucket.
    host = f"{name}.localhost:{domain_server.port}"
    resp = rawhttp.signed_request(domain_server.port, "GET", "/dir/obj", host=host)
    assert (resp.status, resp.body) == (200, b"virtual")
    resp = rawhttp.signed_request(domain_server.port, "GET", "/", query="list-type=2", host=host)
    assert resp.status == 200 and b"<Key>dir/obj</Key>" in resp.body

    vhost.delete_object(Bucket=name, Key="dir/obj")
    vhost.delete_object(Bucket=name, Key="by-path")
    vhost.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in path.list_buckets()["Buckets"]]


def test_virtual_host_of_a_missing_bucket(domain_server):
    host = f"no-such-bucket.localhost:{domain_server.port}"
    resp = rawhttp.signed_request(domain_server.port, "GET", "/key", host=host)
    assert (resp.status, resp.code) == (404, "NoSuchBucket"), resp


class TestAnonymous:
    def test_raw_requests_are_refused(self, server, s3, bucket):
        s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
        name = unique_name("anon")
        for method, path, body in [
            ("GET", "/", b""),
            ("GET", f"/{bucket}", b""),
            ("GET", f"/{bucket}/secret", b""),
            ("HEAD", f"/{bucket}/secret", None),
            ("PUT", f"/{bucket}/new", b"data"),
            ("DELETE", f"/{bucket}/secret", b""),
            ("PUT", f"/{name}", b""),
        ]:
            resp = rawhttp.request(server.port, method, path, body=body)
            assert resp.status == 403, (method, path, resp)
            if method != "HEAD":
                assert resp.code == "AccessDenied", (method, path, resp)
        assert keys_of(s3, bucket) == ["secret"]
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    def test_unsigned_sdk_client_is_refused(self, server, s3, bucket):
        anon = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )
        for call in [
            lambda: anon.list_buckets(),
            lambda: anon.list_objects_v2(Bucket=bucket),
            lambda: anon.put_object(Bucket=bucket, Key="anon", Body=b"x"),
        ]:
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e) == ("AccessDenied", 403)
        assert object_absent(s3, bucket, "anon")


def test_unimplemented_operations(s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"body")
    calls = [
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NotImplemented", 501)
    # Nothing changed.
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == b"body"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
