"""Bad input: malformed XML bodies, invalid bucket names and object keys,
wrong or expired signatures, truncated, oversized and length-less bodies,
huge headers. Each gets its S3 error code, nothing is stored or changed,
and the server stays up."""

import base64
import hashlib
import os
import socket
import time

import pytest

import rawhttp
from conftest import keys_of, object_absent, unique_name

GiB = 1 << 30


@pytest.fixture(autouse=True)
def server_survives(server, s3):
    yield
    assert server.alive(), server.tail_log()
    s3.list_buckets()


def md5_header(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()


class TestMalformedXml:
    BODIES = [
        b"this is not xml",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",  # truncated
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",  # no ETag
    ]

    @pytest.mark.parametrize("body", BODIES)
    def test_complete_multipart_upload(self, server, s3, bucket, body):
        up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"part")
        resp = rawhttp.signed_request(server.port, "POST", f"/{bucket}/k", body=body, query=f"uploadId={up}")
        assert (resp.status, resp.code) == (400, "MalformedXML"), resp
        assert object_absent(s3, bucket, "k")
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
        assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]] == [1]

    @pytest.mark.parametrize(
        "body",
        [
            b"<Delete><Object><Key>a</Key></Object>",
            b"definitely not xml",
            b"<Delete><Object></Object></Delete>",  # an object without a key
            b"<Delete>" + b"<Object><Key>a</Key></Object>" * 1001 + b"</Delete>",  # over 1000 keys
        ],
    )
    def test_delete_objects(self, server, s3, bucket, body):
        for k in ("a", "b"):
            s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        resp = rawhttp.signed_request(
            server.port, "POST", f"/{bucket}", body=body, query="delete", headers={"content-md5": md5_header(body)}
        )
        assert (resp.status, resp.code) == (400, "MalformedXML"), resp
        assert keys_of(s3, bucket) == ["a", "b"]

    def test_create_bucket_configuration(self, server, s3):
        name = unique_name("xml")
        resp = rawhttp.signed_request(server.port, "PUT", f"/{name}", body=b"<CreateBucketConfiguration><Loc")
        assert (resp.status, resp.code) == (400, "MalformedXML"), resp
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    def test_xml_body_over_the_limit(self, server, s3, bucket):
        up = s3.create_multipart_upload(Bucket=bucket, Key="big-xml")["UploadId"]
        part = b"<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
        body = b"<CompleteMultipartUpload>" + part * (21 * 1024 * 1024 // len(part)) + b"</CompleteMultipartUpload>"
        path, query = f"/{bucket}/big-xml", f"uploadId={up}"
        signed = rawhttp.sign("POST", path, f"127.0.0.1:{server.port}", {"content-length": len(body)},
                              rawhttp.UNSIGNED, query=query)
        answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("POST", f"{path}?{query}", signed.headers),
                                      [body])
        assert rawhttp.parse_status(answer) == (400, "MaxMessageLengthExceeded"), answer[:300]
        assert object_absent(s3, bucket, "big-xml")
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]


@pytest.mark.parametrize(
    "raw_path,code",
    [
        ("nul%00byte", "InvalidArgument"),
        ("k" * 1100, "KeyTooLongError"),
        ("%C3%A9" * 550, "KeyTooLongError"),  # 1,100 bytes of UTF-8
    ],
)
def test_refused_keys(server, s3, bucket, raw_path, code):
    path = f"/{bucket}/{raw_path}"
    resp = rawhttp.signed_request(server.port, "PUT", path, body=b"data")
    assert (resp.status, resp.code) == (400, code), resp
    assert keys_of(s3, bucket) == []
    # Multipart and copy destinations are refused the same way.
    resp = rawhttp.signed_request(server.port, "POST", path, query="uploads")
    assert (resp.status, resp.code) == (400, code), resp
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    s3.put_object(Bucket=bucket, Key="src", Body=b"s")
    resp = rawhttp.signed_request(server.port, "PUT", path, headers={"x-amz-copy-source": f"/{bucket}/src"})
    assert (resp.status, resp.code) == (400, code), resp
    assert keys_of(s3, bucket) == ["src"]


def test_dot_segments_are_ordinary_key_characters(server, s3, bucket):
    # S3 keys are names, not paths: "." and ".." segments are kept as sent,
    # never resolved, and name nothing outside the store.
    raw = {
        "../escape": "../escape",
        "a/../../escape": "a/../../escape",
        "a/./b": "a/./b",
        "%2E%2E/escape2": "../escape2",
        "dir/..": "dir/..",
        ".": ".",
    }
    for path, key in raw.items():
        resp = rawhttp.signed_request(server.port, "PUT", f"/{bucket}/{path}", body=key.encode())
        assert resp.status == 200, resp
    for key in ["./x/../y", ".."]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    expected = sorted(set(raw.values()) | {"./x/../y", ".."})
    assert keys_of(s3, bucket) == expected
    for key in expected:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    # Copied, and listed under their own prefixes.
    s3.copy_object(Bucket=bucket, Key="copy/../of", CopySource={"Bucket": bucket, "Key": "../escape"})
    assert s3.get_object(Bucket=bucket, Key="copy/../of")["Body"].read() == b"../escape"
    assert keys_of(s3, bucket, Prefix="../") == ["../escape", "../escape2"]
    for name in ["escape", "escape2", "of"]:
        assert not (server.data_dir.parent / name).exists() and not (server.data_dir / name).exists()


def test_refused_keys_through_boto3(s3, bucket):
    from botocore.exceptions import ClientError

    from conftest import error_of

    for key, code in [("a\x00b", "InvalidArgument"), ("y" * 1100, "KeyTooLongError")]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert error_of(e) == (code, 400), key
    assert keys_of(s3, bucket) == []


def test_path_not_utf8(server, s3, bucket):
    resp = rawhttp.signed_request(server.port, "PUT", f"/{bucket}/bad%FFutf8", body=b"x")
    assert resp.status == 400, resp
    assert keys_of(s3, bucket) == []


@pytest.mark.parametrize(
    "name", ["UPPER", "a_b", "-ab", "ab", "a..b", "1.2.3.4", "x" * 64]
)
def test_object_requests_on_invalid_bucket_names(server, name):
    for method, path in [("PUT", f"/{name}/key"), ("GET", f"/{name}/key"), ("GET", f"/{name}")]:
        resp = rawhttp.signed_request(server.port, method, path, body=b"x" if method == "PUT" else b"")
        assert (resp.status, resp.code) == (400, "InvalidBucketName"), (method, path, resp)


class TestSignatures:
    def test_wrong_secret(self, server, s3, bucket):
        resp = rawhttp.signed_request(server.port, "PUT", f"/{bucket}/k", body=b"x", secret_key="wrong-secret-123")
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        assert object_absent(s3, bucket, "k")

    def test_signed_header_changed(self, server, s3, bucket):
        path = f"/{bucket}/k"
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", {"x-amz-meta-a": "1"},
                              hashlib.sha256(b"x").hexdigest())
        headers = dict(signed.headers, **{"x-amz-meta-a": "2"})
        resp = rawhttp.request(server.port, "PUT", path, headers, b"x")
        assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
        assert object_absent(s3, bucket, "k")

    @pytest.mark.parametrize("skew", [-20 * 60, 20 * 60])
    def test_expired_or_future_date(self, server, s3, bucket, skew):
        resp = rawhttp.signed_request(
            server.port, "PUT", f"/{bucket}/k", body=b"x", amz_date=rawhttp.amz_now(skew)
        )
        assert (resp.status, resp.code) == (403, "RequestTimeTooSkewed"), resp
        assert object_absent(s3, bucket, "k")

    def test_wrong_region(self, server, s3, bucket):
        path = f"/{bucket}/k"
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", {}, hashlib.sha256(b"x").hexdigest(),
                              region="eu-west-1")
        resp = rawhttp.request(server.port, "PUT", path, signed.headers, b"x")
        assert (resp.status, resp.code) == (400, "AuthorizationHeaderMalformed"), resp
        assert object_absent(s3, bucket, "k")

    def test_malformed_authorization(self, server, s3, bucket):
        for auth in ["AWS4-HMAC-SHA256 garbage", "Bearer token", "AWS4-HMAC-SHA256 Credential=x, Signature=y"]:
            headers = {"authorization": auth, "x-amz-date": rawhttp.amz_now(),
                       "x-amz-content-sha256": rawhttp.UNSIGNED}
            resp = rawhttp.request(server.port, "PUT", f"/{bucket}/k", headers, b"x")
            assert resp.status in (400, 403) and resp.code is not None, (auth, resp)
        assert object_absent(s3, bucket, "k")

    def test_signature_v2_is_refused(self, server, s3, bucket):
        headers = {"authorization": "AWS ARCATESTROOTKEY00001:c2lnbmF0dXJl", "date": "Sat, 21 Nov 2026 12:00:00 GMT"}
        resp = rawhttp.request(server.port, "PUT", f"/{bucket}/k", headers, b"x")
        assert resp.status in (400, 403), resp
        assert object_absent(s3, bucket, "k")


def put_head(bucket, key, port, content_length, payload_hash=rawhttp.UNSIGNED, extra=None):
    path = f"/{bucket}/{key}"
    headers = {"content-length": str(content_length)} if content_length is not None else {}
    headers.update(extra or {})
    signed = rawhttp.sign("PUT", path, f"127.0.0.1:{port}", headers, payload_hash)
    return rawhttp.request_head("PUT", path, signed.headers)


class TestBodies:
    @pytest.mark.parametrize("declared,sent", [(1000, 10), (10 * 1024 * 1024, 5 * 1024 * 1024 + 3)])
    def test_truncated_body(self, server, s3, bucket, declared, sent):
        s3.put_object(Bucket=bucket, Key="old", Body=b"old contents")
        for key in ("k", "old"):
            head = put_head(bucket, key, server.port, declared)
            answer = rawhttp.raw_exchange(server.port, head, [os.urandom(sent)], shut_write=True)
            status, code = rawhttp.parse_status(answer)
            # The client is gone: the server may answer IncompleteBody or
            # just close; it must not store anything.
            assert status in (None, 400), answer[:300]
            if status:
                assert code == "IncompleteBody", answer[:300]
        assert object_absent(s3, bucket, "k")
        assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"old contents"

    def test_truncated_signed_body(self, server, s3, bucket):
        body = os.urandom(200_000)
        head = put_head(bucket, "k", server.port, len(body), hashlib.sha256(body).hexdigest())
        rawhttp.raw_exchange(server.port, head, [body[:150_000]], shut_write=True)
        assert object_absent(s3, bucket, "k")

    def test_truncated_aws_chunked_body(self, server, s3, bucket):
        data = os.urandom(300_000)
        path = f"/{bucket}/k"
        headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.STREAMING_SIGNED)
        body = rawhttp.aws_chunked_signed(signed, data)
        signed.headers["content-length"] = str(len(body))
        head = rawhttp.request_head("PUT", path, signed.headers)
        rawhttp.raw_exchange(server.port, head, [body[: len(body) // 2]], shut_write=True)
        assert object_absent(s3, bucket, "k")

    def test_client_stalls_then_disconnects(self, server, s3, bucket):
        head = put_head(bucket, "k", server.port, 1 << 20)
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(head + b"x" * 1000)
        time.sleep(0.5)
        sock.close()
        time.sleep(0.2)
        assert object_absent(s3, bucket, "k")

    @pytest.mark.parametrize("length", [5 * GiB + 1, 6 << 40])
    def test_oversized_put(self, server, s3, bucket, length):
        # Refused from the declared length, before any body byte is read.
        answer = rawhttp.raw_exchange(server.port, put_head(bucket, "k", server.port, length), read_timeout=20)
        assert rawhttp.parse_status(answer) == (400, "EntityTooLarge"), answer[:300]
        assert object_absent(s3, bucket, "k")

    def test_oversized_part(self, server, s3, bucket):
        up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        path = f"/{bucket}/k"
        query = f"partNumber=1&uploadId={up}"
        headers = {"content-length": str(5 * GiB + 1)}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.UNSIGNED, query=query)
        answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", f"{path}?{query}", signed.headers),
                                      read_timeout=20)
        assert rawhttp.parse_status(answer) == (400, "EntityTooLarge"), answer[:300]
        assert s3.list_parts(Bucket=bucket, Key="k", UploadId=up).get("Parts", []) == []

    def test_body_longer_than_declared_aws_chunked(self, server, s3, bucket):
        # aws-chunked: the decoded body is longer than x-amz-decoded-content-length.
        data = os.urandom(10_000)
        path = f"/{bucket}/k"
        headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5000"}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.STREAMING_UNSIGNED_TRAILER)
        resp = rawhttp.request(server.port, "PUT", path, signed.headers, rawhttp.aws_chunked_unsigned(data, 4096))
        assert resp.status == 400, resp
        assert object_absent(s3, bucket, "k")

    def test_missing_content_length(self, server, s3, bucket):
        # HTTP chunked transfer encoding, no Content-Length: S3 answers 411.
        path = f"/{bucket}/k"
        headers = {"transfer-encoding": "chunked"}
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.UNSIGNED)
        body = b"a\r\n0123456789\r\n0\r\n\r\n"
        answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", path, signed.headers), [body])
        assert rawhttp.parse_status(answer) == (411, "MissingContentLength"), answer[:300]
        assert object_absent(s3, bucket, "k")

        # Neither Content-Length nor Transfer-Encoding (an HTTP/1.1 request
        # without a body): S3 still wants Content-Length on a PUT.
        signed = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", {}, rawhttp.UNSIGNED)
        answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", path, signed.headers))
        assert rawhttp.parse_status(answer) == (411, "MissingContentLength"), answer[:300]
        assert object_absent(s3, bucket, "k")

    def test_negative_or_garbage_content_length(self, server, s3, bucket):
        for value in ["-1", "abc", "1, 2"]:
            path = f"/{bucket}/k"
            head = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", {}, rawhttp.UNSIGNED).headers
            head["content-length"] = value
            answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", path, head), [b"x"],
                                          shut_write=True)
            status, _ = rawhttp.parse_status(answer)
            assert status in (None, 400), (value, answer[:300])
        assert object_absent(s3, bucket, "k")


class TestHeaders:
    def test_metadata_too_large(self, server, s3, bucket):
        # S3 allows 2 KB of user metadata in all.
        resp = rawhttp.signed_request(
            server.port, "PUT", f"/{bucket}/k", body=b"x", headers={"x-amz-meta-big": "v" * 3000}
        )
        assert (resp.status, resp.code) == (400, "MetadataTooLarge"), resp
        assert object_absent(s3, bucket, "k")
        resp = rawhttp.signed_request(server.port, "POST", f"/{bucket}/k", query="uploads",
                                      headers={f"x-amz-meta-m{i}": "v" * 100 for i in range(25)})
        assert (resp.status, resp.code) == (400, "MetadataTooLarge"), resp
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        # Just under the limit is fine.
        ok = rawhttp.signed_request(
            server.port, "PUT", f"/{bucket}/k", body=b"x", headers={"x-amz-meta-big": "v" * 2000}
        )
        assert ok.status == 200, ok

    @pytest.mark.parametrize("size", [100 * 1024, 1024 * 1024])
    def test_huge_header(self, server, s3, bucket, size):
        path = f"/{bucket}/k"
        for signed in (False, True):
            headers = {"x-huge": "h" * size}
            if signed:
                headers = rawhttp.sign("PUT", path, f"127.0.0.1:{server.port}", headers, rawhttp.UNSIGNED).headers
            headers["content-length"] = "1"
            answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", path, headers), [b"x"],
                                          read_timeout=20)
            # S3 allows 8 KB of headers; the server refuses a head over
            # 64 KiB before it reaches the gateway, signed or not.
            assert rawhttp.parse_status(answer)[0] == 431, answer[:300]
        assert object_absent(s3, bucket, "k")

    def test_many_headers(self, server, s3, bucket):
        path = f"/{bucket}/k"
        headers = {f"x-h{i}": "v" for i in range(1000)}
        headers["content-length"] = "1"
        answer = rawhttp.raw_exchange(server.port, rawhttp.request_head("PUT", path, headers), [b"x"])
        assert rawhttp.parse_status(answer)[0] == 431, answer[:300]
        assert object_absent(s3, bucket, "k")

    def test_garbage_request_line(self, server):
        for junk in [b"\x00\x01\x02 nonsense\r\n\r\n", b"GET\r\n\r\n", b"PUT / HTTP/9.9\r\n\r\n"]:
            answer = rawhttp.raw_exchange(server.port, junk, shut_write=True)
            status, _ = rawhttp.parse_status(answer)
            assert status is None or 400 <= status < 500, answer[:300]


class TestQueryArguments:
    def test_bad_numbers(self, server, s3, bucket):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        for method, path, query in [
            ("GET", f"/{bucket}", "list-type=2&max-keys=abc"),
            ("GET", f"/{bucket}", "max-keys=-5"),
            ("GET", f"/{bucket}/k", "partNumber=abc"),
            ("PUT", f"/{bucket}/k", f"partNumber=abc&uploadId={up}"),
            ("GET", f"/{bucket}/k", f"uploadId={up}&max-parts=many"),
        ]:
            resp = rawhttp.signed_request(server.port, method, path, query=query, body=b"" if method == "GET" else b"x")
            assert resp.status == 400 and resp.code in ("InvalidArgument", "InvalidRequest"), (query, resp)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        assert s3.list_parts(Bucket=bucket, Key="k", UploadId=up).get("Parts", []) == []

    def test_unknown_upload_id(self, server, s3, bucket):
        for upload_id in ["garbage", "00" * 16, ""]:
            resp = rawhttp.signed_request(
                server.port, "PUT", f"/{bucket}/k", query=f"partNumber=1&uploadId={upload_id}", body=b"x"
            )
            assert resp.status in (400, 404), (upload_id, resp)
            if resp.status == 404:
                assert resp.code == "NoSuchUpload"
        assert object_absent(s3, bucket, "k")

    def test_unparsable_range(self, s3, bucket):
        # s3s refuses a Range header it cannot parse (S3 itself ignores one,
        # as RFC 9110 allows); never a partial or wrong body.
        from botocore.exceptions import ClientError

        from conftest import error_of

        s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
        for spec in ["bytes=abc", "bytes=5-2x", "items=0-1"]:
            with pytest.raises(ClientError) as e:
                s3.get_object(Bucket=bucket, Key="k", Range=spec)
            assert error_of(e) == ("InvalidArgument", 400), spec


class TestStalledClients:
    """A client that stops sending is cut off after the idle timeout
    (`request_idle_timeout_secs`, 2 s here); one that sends slowly but
    steadily is not."""

    @pytest.fixture
    def srv(self, start_server, tmp_path):
        config = tmp_path / "arca.toml"
        config.write_text("request_idle_timeout_secs = 2\n")
        srv = start_server(env={"ARCA_CONFIG": str(config)})
        srv.client().create_bucket(Bucket="stalls")
        return srv

    def test_a_stalled_body_gets_request_timeout(self, srv):
        head = put_head("stalls", "k", srv.port, 1000)
        started = time.monotonic()
        answer = rawhttp.raw_exchange(srv.port, head, [b"x" * 10], read_timeout=20)
        assert rawhttp.parse_status(answer) == (400, "RequestTimeout"), answer[:300]
        assert 1.5 < time.monotonic() - started < 15
        assert object_absent(srv.client(), "stalls", "k")

    def test_a_stalled_head_closes_the_connection(self, srv):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
            sock.sendall(b"PUT /stalls/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            started = time.monotonic()
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            # Closed by the server (an empty read), or answered and closed.
            assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:300]
            assert 1.5 < time.monotonic() - started < 15

    def test_a_slow_steady_body_is_not_cut_off(self, srv):
        body = os.urandom(5000)
        head = put_head("stalls", "slow", srv.port, len(body))
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as sock:
            sock.sendall(head)
            for i in range(5):  # 1000 bytes a second: 4 s in all, each gap under 2 s
                sock.sendall(body[i * 1000:(i + 1) * 1000])
                time.sleep(1 if i < 4 else 0)
            answer = rawhttp.read_answer(sock)
        assert rawhttp.parse_status(answer)[0] == 200, answer[:300]
        assert srv.client().get_object(Bucket="stalls", Key="slow")["Body"].read() == body
