"""Browser uploads: POST Object with a signed policy document, built as a
browser sends the form (multipart/form-data, the file last), signed with
SigV4 (boto3's generate_presigned_post) and with Signature V2."""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import urllib.parse
import uuid

import boto3
from botocore.client import Config

from conftest import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY


def form_post(server, path, fields, filename, content, extra_headers=None):
    """Sends a multipart/form-data POST with `fields` in order and the file
    last, as a browser does. Returns (status, headers, body)."""
    boundary = "----ArcaFormBoundary" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    endpoint = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    try:
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))}
        headers.update(extra_headers or {})
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def sigv4_client(server):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ROOT_ACCESS_KEY,
        aws_secret_access_key=ROOT_SECRET_KEY,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_a_sigv4_form_upload_stores_the_file(server, s3, bucket):
    signer = sigv4_client(server)
    post = signer.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "form"},
            ["content-length-range", 1, 1 << 20],
        ],
        ExpiresIn=600,
    )
    path = urllib.parse.urlsplit(post["url"]).path
    status, _, body = form_post(server, path, post["fields"], "hello.txt", b"hello from a browser")
    assert status == 204, body
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"hello from a browser"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"origin": "form"}

    # success_action_status 201 answers with the XML PostResponse.
    post = signer.generate_presigned_post(
        bucket, "k201", Fields={"success_action_status": "201"}, Conditions=[{"success_action_status": "201"}]
    )
    status, _, body = form_post(server, path, post["fields"], "f", b"x")
    assert status == 201 and b"<Key>k201</Key>" in body
    # success_action_redirect answers 303 with the object in the query.
    redirect = "https://app.example.com/done"
    post = signer.generate_presigned_post(
        bucket,
        "kredirect",
        Fields={"success_action_redirect": redirect},
        Conditions=[{"success_action_redirect": redirect}],
    )
    status, headers, _ = form_post(server, path, post["fields"], "f", b"x")
    assert status == 303
    location = urllib.parse.urlsplit(headers["location"])
    assert location.netloc == "app.example.com"
    assert urllib.parse.parse_qs(location.query)["key"] == ["kredirect"]


def test_the_policy_conditions_are_enforced(server, s3, bucket):
    signer = sigv4_client(server)
    post = signer.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Conditions=[["starts-with", "$key", "uploads/"], ["content-length-range", 1, 10]],
    )
    path = urllib.parse.urlsplit(post["url"]).path
    # Too large for content-length-range.
    status, _, body = form_post(server, path, post["fields"], "big", b"x" * 11)
    assert status in (400, 403) and b"<Error>" in body
    # A key outside the starts-with condition.
    fields = dict(post["fields"], key="elsewhere/f")
    status, _, body = form_post(server, path, fields, "f", b"x")
    # AWS says 403 AccessDenied here; the gateway's policy check says which
    # condition failed, as a 400 InvalidPolicyDocument.
    assert status == 400 and b"InvalidPolicyDocument" in body and b"starts-with" in body
    # A tampered policy no longer matches its signature.
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    fields = dict(post["fields"], policy=base64.b64encode(json.dumps(policy).encode()).decode())
    status, _, body = form_post(server, path, fields, "f", b"x" * 50)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_a_signature_v2_form_upload(server, s3, bucket):
    expiration = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    policy = {
        "expiration": expiration,
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "v2/"], ["content-length-range", 0, 1000]],
    }
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(hmac.new(ROOT_SECRET_KEY.encode(), encoded.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "v2/file.bin", "AWSAccessKeyId": ROOT_ACCESS_KEY, "policy": encoded, "signature": signature}
    status, _, body = form_post(server, f"/{bucket}", fields, "file.bin", b"v2 body")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="v2/file.bin")["Body"].read() == b"v2 body"
    bad = dict(fields, signature=base64.b64encode(b"0" * 20).decode())
    status, _, body = form_post(server, f"/{bucket}", bad, "file.bin", b"x")
    assert status == 403


def test_a_form_without_a_length_is_refused(server, bucket):
    """The file streams only when its length follows from the request's."""
    endpoint = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
    try:
        conn.putrequest("POST", f"/{bucket}")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        assert resp.status == 411 and b"MissingContentLength" in resp.read()
    finally:
        conn.close()
