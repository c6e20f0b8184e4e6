"""Real clients against the real server: the aws cli (s3 cp / sync / ls /
rm, a multipart upload of 100+ MiB, s3api calls), boto3's managed
transfers, rclone (sync and check of a tree), s3cmd (put / get / ls) and
restic (backup and restore into a locked, versioned bucket)."""

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path

import boto3.s3.transfer
import pytest

from conftest import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Tool, keys_of, tool_env, unique_name

MiB = 1024 * 1024


def write_generated(path, size, seed):
    """A file of `size` bytes whose every MiB differs (so a misplaced or
    repeated part changes the hash), generated fast; returns its MD5."""
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    md5 = hashlib.md5()
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            chunk = (i // MiB).to_bytes(8, "big") + block[8:]
            chunk = chunk[: min(MiB, size - i)]
            md5.update(chunk)
            f.write(chunk)
    return md5.hexdigest()


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def make_tree(root):
    """A tree of files in nested directories; returns {relative path: bytes}."""
    files = {
        "top.txt": b"top level\n",
        "empty.bin": b"",
        "a/one.txt": b"one\n" * 100,
        "a/b/two.bin": os.urandom(70_000),
        "a/b/c/three.bin": os.urandom(6 * MiB + 5),
        "a/b/c/d/e/deep.txt": b"deep\n",
        "with space/file name.txt": b"spaces\n",
        "unicodé/ファイル.txt": "unicode\n".encode(),
    }
    for i in range(12):
        files[f"many/f{i:02}.dat"] = os.urandom(1000 + i)
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


class TestAwsCli:
    def test_cp_large_multipart_round_trip(self, aws, s3, tmp_path):
        bucket = unique_name("cli")
        aws("s3", "mb", f"s3://{bucket}")
        src = tmp_path / "big.bin"
        size = 100 * MiB + 12345
        md5 = write_generated(src, size, "aws-cli-big")
        aws("s3", "cp", src, f"s3://{bucket}/dir/big.bin", "--no-progress", "--only-show-errors")

        head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
        assert head["ContentLength"] == size
        # The aws cli uploads in 8 MiB parts: a multipart ETag.
        parts = -(-size // (8 * MiB))
        assert re.fullmatch(rf'"[0-9a-f]{{32}}-{parts}"', head["ETag"]), head["ETag"]

        dst = tmp_path / "big.down"
        aws("s3", "cp", f"s3://{bucket}/dir/big.bin", dst, "--no-progress", "--only-show-errors")
        assert dst.stat().st_size == size
        assert file_md5(dst) == md5

    def test_sync_ls_rm(self, aws, s3, tmp_path):
        bucket = unique_name("sync")
        aws("s3", "mb", f"s3://{bucket}")
        local = tmp_path / "tree"
        files = make_tree(local)
        aws("s3", "sync", local, f"s3://{bucket}/tree", "--no-progress", "--only-show-errors")
        assert keys_of(s3, bucket) == sorted((f"tree/{k}" for k in files), key=lambda k: k.encode())

        listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout.decode()
        sizes = {}
        for line in listing.splitlines():
            m = re.match(r"\S+ \S+\s+(\d+) (.*)$", line)
            sizes[m.group(2)] = int(m.group(1))
        assert sizes == {f"tree/{k}": len(v) for k, v in files.items()}
        top = aws("s3", "ls", f"s3://{bucket}/tree/").stdout.decode()
        assert "PRE a/" in top and "PRE many/" in top and "top.txt" in top

        # A second sync uploads nothing; a changed file is uploaded again.
        out = aws("s3", "sync", local, f"s3://{bucket}/tree", "--no-progress").stdout.decode()
        assert out.strip() == ""
        (local / "a/one.txt").write_bytes(b"changed, and longer than before\n")
        out = aws("s3", "sync", local, f"s3://{bucket}/tree", "--no-progress").stdout.decode()
        assert "a/one.txt" in out and "top.txt" not in out
        assert s3.get_object(Bucket=bucket, Key="tree/a/one.txt")["Body"].read() == (local / "a/one.txt").read_bytes()

        # Sync back down into an empty directory: the same tree.
        down = tmp_path / "down"
        aws("s3", "sync", f"s3://{bucket}/tree", down, "--no-progress", "--only-show-errors")
        for rel in files:
            assert (down / rel).read_bytes() == (local / rel).read_bytes(), rel

        aws("s3", "rm", f"s3://{bucket}/tree/top.txt", "--only-show-errors")
        assert "tree/top.txt" not in keys_of(s3, bucket)
        aws("s3", "rm", "--recursive", f"s3://{bucket}/tree/a", "--only-show-errors")
        assert not [k for k in keys_of(s3, bucket) if k.startswith("tree/a/")]
        aws("s3", "rb", "--force", f"s3://{bucket}")
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    def test_s3api(self, aws, tmp_path):
        bucket = unique_name("api")
        aws("s3api", "create-bucket", "--bucket", bucket)
        body = tmp_path / "body.txt"
        body.write_bytes(b"s3api body\n")
        put = json.loads(
            aws(
                "s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", body,
                "--content-type", "text/plain", "--metadata", "color=red",
            ).stdout
        )
        assert put["ETag"] == '"%s"' % hashlib.md5(b"s3api body\n").hexdigest()
        head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "k").stdout)
        assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (11, "text/plain", {"color": "red"})
        listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket).stdout)
        assert [o["Key"] for o in listed["Contents"]] == ["k"]
        out = tmp_path / "out.txt"
        aws("s3api", "get-object", "--bucket", bucket, "--key", "k", "--range", "bytes=0-4", out)
        assert out.read_bytes() == b"s3api"
        # An error surfaces with its S3 code and a non-zero exit.
        proc = aws("s3api", "head-bucket", "--bucket", unique_name("none"), check=False)
        assert proc.returncode != 0 and b"404" in proc.stderr
        proc = aws("s3api", "get-object", "--bucket", bucket, "--key", "missing", tmp_path / "x", check=False)
        assert proc.returncode != 0 and b"NoSuchKey" in proc.stderr
        aws("s3api", "delete-object", "--bucket", bucket, "--key", "k")
        aws("s3api", "delete-bucket", "--bucket", bucket)


def test_boto3_managed_transfers(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    size = 23 * MiB + 7
    md5 = write_generated(src, size, "boto3-transfer")
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                              max_concurrency=4)
    s3.upload_file(str(src), bucket, "managed", Config=config)
    head = s3.head_object(Bucket=bucket, Key="managed")
    assert head["ContentLength"] == size and head["ETag"].endswith('-5"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "managed", str(dst), Config=config)  # ranged GETs in parallel
    assert file_md5(dst) == md5
    # Server-side copy of a multipart object through the managed copy.
    s3.copy({"Bucket": bucket, "Key": "managed"}, bucket, "managed-copy", Config=config)
    s3.download_file(bucket, "managed-copy", str(dst))
    assert file_md5(dst) == md5


def test_answers_without_100_continue_keep_the_aws_cli_in_step(server, s3, tmp_path):
    """The aws cli sends Expect: 100-continue with every upload. After a
    final answer that came without "100 Continue" (an empty file; a key
    refused before its body was read), its botocore (1.43, vendored) took
    that answer's status for the next response on the same connection and
    hung until its read timeout. One connection, files in order."""
    from conftest import aws_for

    config = tmp_path / "aws-config"
    config.write_text("[default]\ns3 =\n  max_concurrent_requests = 1\n")
    aws = aws_for(server, tmp_path, AWS_CONFIG_FILE=str(config))
    bucket = unique_name("expect")
    s3.create_bucket(Bucket=bucket)
    local = tmp_path / "files"
    local.mkdir()
    (local / "1-empty").write_bytes(b"")
    (local / "2-after-empty").write_bytes(b"two")
    too_long = local.joinpath(*["d" * 200] * 5, "3-key-over-1024-bytes")
    too_long.parent.mkdir(parents=True)
    too_long.write_bytes(b"refused")
    (local / "4-after-refused").write_bytes(b"four")
    (local / "5-empty").write_bytes(b"")
    (local / "6-last").write_bytes(b"six")
    proc = aws("s3", "cp", "--recursive", local, f"s3://{bucket}/", "--no-progress", "--only-show-errors",
               "--cli-read-timeout", "20", check=False)
    errors = proc.stderr.decode()
    assert proc.returncode == 1, errors
    assert errors.count("upload failed") == 1 and "KeyTooLongError" in errors, errors
    assert keys_of(s3, bucket) == ["1-empty", "2-after-empty", "4-after-refused", "5-empty", "6-last"]
    assert s3.get_object(Bucket=bucket, Key="6-last")["Body"].read() == b"six"


class TestRclone:
    def test_sync_and_check(self, rclone, s3, tmp_path):
        bucket = unique_name("rclone")
        local = tmp_path / "tree"
        files = make_tree(local)
        rclone("mkdir", f"arca:{bucket}")
        rclone("sync", local, f"arca:{bucket}/backup")
        assert keys_of(s3, bucket) == sorted((f"backup/{k}" for k in files), key=lambda k: k.encode())
        for rel, data in files.items():
            assert s3.get_object(Bucket=bucket, Key=f"backup/{rel}")["Body"].read() == data, rel
        rclone("check", local, f"arca:{bucket}/backup")
        listed = rclone("lsf", "-R", "--files-only", f"arca:{bucket}/backup").stdout.decode().split("\n")
        assert sorted(filter(None, listed)) == sorted(files)

        # check notices a difference...
        (local / "a/b/two.bin").write_bytes(os.urandom(70_000))
        proc = rclone("check", local, f"arca:{bucket}/backup", check=False)
        assert proc.returncode != 0
        assert b"a/b/two.bin" in proc.stderr
        # ...which sync repairs, and a deleted local file is deleted remotely.
        (local / "many/f03.dat").unlink()
        rclone("sync", local, f"arca:{bucket}/backup")
        rclone("check", local, f"arca:{bucket}/backup")
        assert "backup/many/f03.dat" not in keys_of(s3, bucket)
        assert s3.get_object(Bucket=bucket, Key="backup/a/b/two.bin")["Body"].read() == (
            local / "a/b/two.bin"
        ).read_bytes()

        down = tmp_path / "down"
        rclone("copy", f"arca:{bucket}/backup", down)
        rclone("check", local, down)
        rclone("purge", f"arca:{bucket}")
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    def test_multipart_upload(self, rclone, s3, tmp_path):
        bucket = unique_name("rclone-mp")
        src = tmp_path / "big.bin"
        md5 = write_generated(src, 30 * MiB + 3, "rclone-mp")
        rclone("mkdir", f"arca:{bucket}")
        rclone("copyto", src, f"arca:{bucket}/big.bin", "--s3-upload-cutoff", "10M", "--s3-chunk-size", "5M")
        assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-7"')
        rclone("check", "--download", src.parent, f"arca:{bucket}", "--include", "big.bin")
        assert rclone("md5sum", "--download", f"arca:{bucket}/big.bin").stdout.decode().split()[0] == md5


class TestS3cmd:
    def test_put_get_ls(self, s3cmd, s3, tmp_path):
        bucket = unique_name("s3cmd")
        s3cmd("mb", f"s3://{bucket}")
        small = tmp_path / "small.txt"
        small.write_bytes(b"from s3cmd\n")
        big = tmp_path / "big.bin"
        md5 = write_generated(big, 20 * MiB + 1, "s3cmd")
        s3cmd("put", small, f"s3://{bucket}/docs/small.txt")
        # Over s3cmd's 15 MiB threshold: a multipart upload.
        s3cmd("put", big, f"s3://{bucket}/big.bin")
        assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-2"')
        assert s3.get_object(Bucket=bucket, Key="docs/small.txt")["Body"].read() == b"from s3cmd\n"

        out = s3cmd("ls", f"s3://{bucket}").stdout.decode()
        assert "DIR" in out and f"s3://{bucket}/docs/" in out and f"s3://{bucket}/big.bin" in out
        out = s3cmd("ls", "--recursive", f"s3://{bucket}").stdout.decode()
        assert f"s3://{bucket}/docs/small.txt" in out
        buckets = s3cmd("ls").stdout.decode()
        assert f"s3://{bucket}" in buckets

        got = tmp_path / "got.bin"
        s3cmd("get", f"s3://{bucket}/big.bin", got)
        assert file_md5(got) == md5
        got_small = tmp_path / "got.txt"
        s3cmd("get", f"s3://{bucket}/docs/small.txt", got_small)
        assert got_small.read_bytes() == b"from s3cmd\n"
        info = s3cmd("info", f"s3://{bucket}/docs/small.txt").stdout.decode()
        assert hashlib.md5(b"from s3cmd\n").hexdigest() in info

        s3cmd("del", f"s3://{bucket}/docs/small.txt")
        assert keys_of(s3, bucket) == ["big.bin"]
        proc = s3cmd("get", f"s3://{bucket}/missing", tmp_path / "m", check=False)
        assert proc.returncode != 0

    def test_sync(self, s3cmd, s3, tmp_path):
        bucket = unique_name("s3cmd-sync")
        s3cmd("mb", f"s3://{bucket}")
        local = tmp_path / "tree"
        files = make_tree(local)
        s3cmd("sync", f"{local}/", f"s3://{bucket}/t/")
        assert keys_of(s3, bucket) == sorted((f"t/{k}" for k in files), key=lambda k: k.encode())
        for rel, data in files.items():
            assert s3.get_object(Bucket=bucket, Key=f"t/{rel}")["Body"].read() == data, rel


def test_restic_backs_up_to_a_locked_versioned_bucket_and_restores(s3, server, tmp_path):
    """restic (Debian's) keeps a repository in a bucket with versioning and
    Object Lock (a default GOVERNANCE retention): init, two backups, check,
    forget and prune (its deletes become delete markers; locked versions
    stay), and a restore byte-identical to the source."""
    exe = shutil.which("restic")
    if exe is None:
        pytest.fail("restic is not installed (scripts/test installs it from apt)")
    bucket = unique_name("restic")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
    env = tool_env(
        tmp_path,
        AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY,
        RESTIC_PASSWORD="correct horse battery staple",
        RESTIC_REPOSITORY=f"s3:{server.endpoint}/{bucket}",
        RESTIC_CACHE_DIR=str(tmp_path / "cache"),
    )
    restic = Tool(exe, env)
    source = tmp_path / "data"
    (source / "docs").mkdir(parents=True)
    rng = random.Random(7)
    files = {
        "docs/small.txt": b"hello restic\n" * 10,
        "docs/empty": b"",
        "big.bin": rng.randbytes(9 << 20),  # several packs
        "unicode-ü.txt": "ünïcode\n".encode(),
    }
    for name, data in files.items():
        (source / name).write_bytes(data)
    restic("init")
    restic("backup", "--quiet", str(source))
    (source / "docs/small.txt").write_bytes(b"changed\n")
    restic("backup", "--quiet", str(source))
    restic("check")
    restic("forget", "--keep-last", "1", "--prune")
    restic("check", "--read-data")

    target = tmp_path / "restored"
    restic("restore", "latest", "--target", str(target))
    restored = target / source.relative_to("/")
    files["docs/small.txt"] = b"changed\n"
    for name, data in files.items():
        assert (restored / name).read_bytes() == data, name
    # What restic deleted is only hidden: every version is still kept.
    versions = s3.list_object_versions(Bucket=bucket)
    assert versions.get("DeleteMarkers"), "restic's deletes left delete markers"
    assert all(v["IsLatest"] is False for v in versions["Versions"] if v["Key"].startswith("locks/"))
