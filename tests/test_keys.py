"""Keys and ownership: `arca key create` (generated and imported pairs),
`arca key list`, `arca key delete`; every key owns its buckets and objects;
another key is refused until `arca bucket allow`; ListBuckets shows each key
only what it may use."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_ACCESS_KEY, client, error_of, keys_of, unique_name


def create_key(arca, name, *extra):
    out = arca("key", "create", name, "--json", *extra).stdout
    return json.loads(out)


def listed_keys(arca):
    return {k["access_key"]: k for k in json.loads(arca("key", "list", "--json").stdout)}


def test_generated_key(arca, server):
    key = create_key(arca, "alice-generated")
    assert re.fullmatch(r"AK[A-Z2-7]{18}", key["access_key"]), key
    assert re.fullmatch(r"[A-Za-z0-9]{40}", key["secret_key"]), key
    assert key["name"] == "alice-generated" and key["is_root"] is False

    keys = listed_keys(arca)
    assert keys[key["access_key"]]["name"] == "alice-generated"
    assert keys[ROOT_ACCESS_KEY]["is_root"] is True
    # Secrets are shown once, at creation, never in a listing.
    assert all("secret_key" not in k for k in keys.values())

    # The human-readable forms carry the same facts.
    text = arca("key", "create", "bob-text").stdout.decode()
    ak = re.search(r"Access key id:\s+(\S+)", text).group(1)
    assert re.search(r"Secret key:\s+[A-Za-z0-9]{40}", text)
    table = arca("key", "list").stdout.decode()
    assert re.search(rf"^{ak}\s+no\s+bob-text$", table, re.M), table

    # The new key works.
    c = client(server, key["access_key"], key["secret_key"])
    assert c.list_buckets()["Buckets"] == []


def test_imported_key(arca, server):
    ak, sk = "IMPORTEDKEY" + unique_name("")[-9:].upper(), "imported-secret-0123456789"
    key = create_key(arca, "imported", "--access-key", ak, "--secret-key", sk)
    assert (key["access_key"], key["secret_key"]) == (ak, sk)
    # Importing the same pair again is harmless; another secret is refused.
    assert create_key(arca, "imported", "--access-key", ak, "--secret-key", sk)["access_key"] == ak
    proc = arca("key", "create", "imported", "--access-key", ak, "--secret-key", "different-secret-000", check=False)
    assert proc.returncode != 0
    assert b"already exists" in proc.stderr
    c = client(server, ak, sk)
    name = unique_name("imp")
    c.create_bucket(Bucket=name)
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == [name]
    # The old secret still signs; the refused one does not.
    with pytest.raises(ClientError) as e:
        client(server, ak, "different-secret-000").list_buckets()
    assert error_of(e) == ("SignatureDoesNotMatch", 403)


def test_bad_key_material_is_refused(arca):
    for args in [
        ["--access-key", "has space", "--secret-key", "long-enough-secret"],
        ["--access-key", "OKKEY123", "--secret-key", "short"],
    ]:
        proc = arca("key", "create", "bad", *args, check=False)
        assert proc.returncode != 0
        assert b"InvalidArgument" in proc.stderr
    assert "has space" not in listed_keys(arca)


def test_delete_key(arca, server):
    key = create_key(arca, "short-lived")
    c = client(server, key["access_key"], key["secret_key"])
    c.list_buckets()
    out = arca("key", "delete", key["access_key"]).stdout.decode()
    assert key["access_key"] in out
    assert key["access_key"] not in listed_keys(arca)
    with pytest.raises(ClientError) as e:
        c.list_buckets()
    assert error_of(e) == ("InvalidAccessKeyId", 403)
    # Deleting it again, or the root key itself, fails.
    assert arca("key", "delete", key["access_key"], check=False).returncode != 0
    proc = arca("key", "delete", ROOT_ACCESS_KEY, check=False)
    assert proc.returncode != 0
    assert ROOT_ACCESS_KEY in listed_keys(arca)


def test_only_root_manages_keys(arca):
    key = create_key(arca, "not-root")
    as_key = dict(access_key=key["access_key"], secret_key=key["secret_key"])
    for args in [("key", "list"), ("key", "create", "x"), ("key", "delete", ROOT_ACCESS_KEY)]:
        proc = arca(*args, check=False, **as_key)
        assert proc.returncode != 0, args
        assert b"AccessDenied" in proc.stderr, proc.stderr
    assert ROOT_ACCESS_KEY in listed_keys(arca)


def test_cli_needs_credentials(server, tmp_path):
    import subprocess

    from conftest import ARCA_BIN, tool_env

    proc = subprocess.run(
        [ARCA_BIN, "key", "list", "--endpoint", server.endpoint], env=tool_env(tmp_path), capture_output=True
    )
    assert proc.returncode != 0
    assert b"credentials missing" in proc.stderr


def test_ownership_and_grants(arca, server, s3):
    alice_key = create_key(arca, "alice")
    bob_key = create_key(arca, "bob")
    alice = client(server, alice_key["access_key"], alice_key["secret_key"])
    bob = client(server, bob_key["access_key"], bob_key["secret_key"])
    alice_owner = {"ID": alice_key["access_key"], "DisplayName": "alice"}

    bucket = unique_name("alice")
    alice.create_bucket(Bucket=bucket)
    alice.put_object(Bucket=bucket, Key="by-alice", Body=b"a")

    listing = alice.list_buckets()
    assert [b["Name"] for b in listing["Buckets"]] == [bucket]
    assert listing["Owner"] == alice_owner
    assert alice.list_objects(Bucket=bucket)["Contents"][0]["Owner"] == alice_owner
    assert alice.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]["Owner"] == alice_owner
    # Root sees every bucket.
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    # Bob may do nothing with Alice's bucket.
    assert bob.list_buckets()["Buckets"] == []
    denied = [
        lambda: bob.head_bucket(Bucket=bucket),
        lambda: bob.list_objects_v2(Bucket=bucket),
        lambda: bob.get_object(Bucket=bucket, Key="by-alice"),
        lambda: bob.head_object(Bucket=bucket, Key="by-alice"),
        lambda: bob.put_object(Bucket=bucket, Key="by-bob", Body=b"b"),
        lambda: bob.delete_object(Bucket=bucket, Key="by-alice"),
        lambda: bob.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "by-alice"}]}),
        lambda: bob.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "by-alice"}),
        lambda: bob.create_multipart_upload(Bucket=bucket, Key="mp"),
        lambda: bob.list_multipart_uploads(Bucket=bucket),
        lambda: bob.get_bucket_location(Bucket=bucket),
        lambda: bob.delete_bucket(Bucket=bucket),
    ]
    for call in denied:
        with pytest.raises(ClientError) as e:
            call()
        code, status = error_of(e)
        assert status == 403 and code in ("AccessDenied", "403"), (code, status)
    # Nor copy out of it into a bucket of his own.
    own = unique_name("bob")
    bob.create_bucket(Bucket=own)
    with pytest.raises(ClientError) as e:
        bob.copy_object(Bucket=own, Key="stolen", CopySource={"Bucket": bucket, "Key": "by-alice"})
    assert error_of(e) == ("AccessDenied", 403)
    assert keys_of(alice, bucket) == ["by-alice"]
    assert keys_of(bob, own) == []

    # Bob cannot grant himself Alice's bucket.
    proc = arca("bucket", "allow", bucket, bob_key["access_key"], check=False,
                access_key=bob_key["access_key"], secret_key=bob_key["secret_key"])
    assert proc.returncode != 0 and b"AccessDenied" in proc.stderr

    # The owner (here via root) grants it.
    out = arca("bucket", "allow", bucket, bob_key["access_key"]).stdout.decode()
    assert bob_key["access_key"] in out and alice_key["access_key"] in out
    assert [b["Name"] for b in bob.list_buckets()["Buckets"]] == sorted([bucket, own])
    assert bob.get_object(Bucket=bucket, Key="by-alice")["Body"].read() == b"a"
    bob.put_object(Bucket=bucket, Key="by-bob", Body=b"b")
    objects = {o["Key"]: o["Owner"] for o in alice.list_objects(Bucket=bucket)["Contents"]}
    assert objects == {"by-alice": alice_owner, "by-bob": {"ID": bob_key["access_key"], "DisplayName": "bob"}}
    # Using a bucket is not owning it.
    with pytest.raises(ClientError) as e:
        bob.delete_bucket(Bucket=bucket)
    assert error_of(e) == ("AccessDenied", 403)

    # The owner can also grant with its own key, and deny again.
    arca("bucket", "deny", bucket, bob_key["access_key"],
         access_key=alice_key["access_key"], secret_key=alice_key["secret_key"])
    assert [b["Name"] for b in bob.list_buckets()["Buckets"]] == [own]
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=bucket, Key="by-alice")
    assert error_of(e) == ("AccessDenied", 403)
    assert sorted(keys_of(alice, bucket)) == ["by-alice", "by-bob"]


def test_grant_errors(arca, s3, bucket):
    proc = arca("bucket", "allow", bucket, "AKNOSUCHKEY000000000", check=False)
    assert proc.returncode != 0 and b"InvalidArgument" in proc.stderr
    key = create_key(arca, "grantee")
    proc = arca("bucket", "allow", unique_name("missing"), key["access_key"], check=False)
    assert proc.returncode != 0 and b"NoSuchBucket" in proc.stderr


def test_deleted_owner_keeps_its_buckets_for_root(arca, server, s3):
    key = create_key(arca, "leaving")
    c = client(server, key["access_key"], key["secret_key"])
    name = unique_name("orphan")
    c.create_bucket(Bucket=name)
    c.put_object(Bucket=name, Key="k", Body=b"kept")
    arca("key", "delete", key["access_key"])
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"kept"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
