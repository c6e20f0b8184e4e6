"""Server-side encryption: SSE-S3 (the server's master key), SSE-C (the
client's key, never stored), bucket default encryption, SSE-KMS refused —
and proof that the bytes on disk are not the plaintext."""

import base64
import hashlib
import os
import random

import pytest
from botocore.exceptions import ClientError

from conftest import client, error_of, unique_name

KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"


def sse_c(key=KEY):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_sse_c(key=KEY):
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def on_disk(data_dir, needle):
    """Whether any file under the data directory holds `needle`."""
    for root, _, files in os.walk(data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                if needle in f.read():
                    return True
    return False


def body(size, seed):
    rng = random.Random(seed)
    marker = f"PLAINTEXT-MARKER-{seed}-".encode()
    out = bytearray()
    while len(out) < size:
        out += marker + rng.randbytes(1000)
    return bytes(out[:size]), marker


def test_sse_s3_reads_back_and_is_not_on_disk_in_the_clear(start_server):
    srv = start_server()
    s3 = client(srv)
    bucket = unique_name("sse")
    s3.create_bucket(Bucket=bucket)
    data, marker = body(9 << 20, 1)  # three stripes
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    # Ranges across package (64 KiB) and stripe (4 MiB) boundaries.
    for first, last in [(0, 0), (65535, 65537), ((4 << 20) - 10, (4 << 20) + 10), (123457, 8_000_001), (len(data) - 1, len(data) - 1)]:
        part = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={first}-{last}")["Body"].read()
        assert part == data[first : last + 1], (first, last)
    small, small_marker = body(100, 2)
    s3.put_object(Bucket=bucket, Key="small", Body=small, ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
    # An unencrypted object is on disk as it was sent; the encrypted ones are not.
    plain, plain_marker = body(100, 3)
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    assert on_disk(srv.data_dir, plain_marker)
    assert not on_disk(srv.data_dir, marker) and not on_disk(srv.data_dir, small_marker)

    # The master key outlives a restart.
    srv.terminate()
    srv.start()
    assert client(srv).get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_sse_c_needs_the_same_key_on_every_read(s3, bucket):
    data, _ = body(5 << 20, 4)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, **sse_c())
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(KEY.encode()).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="k", **sse_c())
    assert got["Body"].read() == data and got["SSECustomerKeyMD5"] == put["SSECustomerKeyMD5"]
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=100-200", **sse_c())["Body"].read() == data[100:201]
    assert s3.head_object(Bucket=bucket, Key="k", **sse_c())["ContentLength"] == len(data)

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", **sse_c(OTHER_KEY))
    assert error_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("400", 400)
    # A key whose MD5 is not the one sent is refused before anything is stored.
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="bad", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=KEY,
            SSECustomerKeyMD5=base64.b64encode(b"0" * 16).decode(),
        )
    assert error_of(e) == ("InvalidArgument", 400)
    # A key for an object stored without one is refused too.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"p")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", **sse_c())
    assert error_of(e) == ("InvalidRequest", 400)


def test_copies_and_multipart_uploads_carry_encryption(s3, bucket):
    data, _ = body(6 << 20, 5)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **sse_c())
    # SSE-C source to an SSE-C copy under another key, and to SSE-S3.
    s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "src"}, **copy_sse_c(), **sse_c(OTHER_KEY))
    assert s3.get_object(Bucket=bucket, Key="c1", **sse_c(OTHER_KEY))["Body"].read() == data
    copied = s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "src"}, ServerSideEncryption="AES256", **copy_sse_c())
    assert copied["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="c2")["Body"].read() == data
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c3", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_of(e) == ("InvalidRequest", 400)

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **sse_c())["UploadId"]
    parts = []
    for n, chunk in enumerate([data[: 5 << 20], data], 1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=n, Body=chunk, **sse_c())["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=3, Body=b"x", **sse_c(OTHER_KEY))
    assert error_of(e) == ("AccessDenied", 403)
    part = s3.upload_part_copy(
        Bucket=bucket, Key="mp", UploadId=upload, PartNumber=3, CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=0-99", **copy_sse_c(), **sse_c(),
    )
    parts.append({"PartNumber": 3, "ETag": part["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="mp", **sse_c())["Body"].read()
    assert got == data[: 5 << 20] + data + data[:100]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **sse_c())["Body"].read() == data


def test_bucket_default_encryption_and_kms_refusal(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert error_of(e) == ("ServerSideEncryptionConfigurationNotFoundError", 404)
    rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=rule)
    got = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    # SSE-C on a request wins over the default.
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="c", Body=b"x", **sse_c())
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="k2", Body=b"x")

    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    for call in [
        lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms),
        lambda: s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("NotImplemented", 501)
