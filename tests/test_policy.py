"""Bucket policies evaluated on every request (anonymous ones included),
their conditions, Deny beating what a grant allows, the public access block,
ownership controls and the owner-only ACLs."""

import datetime
import json

import boto3
import pytest
from botocore import UNSIGNED
from botocore.client import Config
from botocore.exceptions import ClientError

from conftest import REGION, client, error_of, unique_name
from test_keys import create_key


def anonymous(server):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=REGION,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, action, resource, **extra):
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **extra}


def deny(principal, action, resource, **extra):
    return {"Effect": "Deny", "Principal": principal, "Action": action, "Resource": resource, **extra}


def test_a_public_read_policy_serves_anonymous_reads_only(s3, server, bucket):
    s3.put_object(Bucket=bucket, Key="pub/a.txt", Body=b"public")
    anon = anonymous(server)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="pub/a.txt")
    assert error_of(e) == ("AccessDenied", 403)

    doc = policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/pub/*"))
    s3.put_bucket_policy(Bucket=bucket, Policy=doc)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(doc)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True

    assert anon.get_object(Bucket=bucket, Key="pub/a.txt")["Body"].read() == b"public"
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    for call in [
        lambda: anon.get_object(Bucket=bucket, Key="private.txt"),
        lambda: anon.put_object(Bucket=bucket, Key="pub/b.txt", Body=b"x"),
        lambda: anon.list_objects_v2(Bucket=bucket),
        lambda: anon.delete_object(Bucket=bucket, Key="pub/a.txt"),
        lambda: anon.list_buckets(),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("AccessDenied", 403)

    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(e) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="pub/a.txt")
    assert error_of(e) == ("AccessDenied", 403)


def test_a_deny_beats_the_owners_grant_and_an_allow_admits_another_key(arca, server, s3, bucket):
    bob_key = create_key(arca, "policy-bob")
    carol_key = create_key(arca, "policy-carol")
    bob = client(server, bob_key["access_key"], bob_key["secret_key"])
    carol = client(server, carol_key["access_key"], carol_key["secret_key"])
    arca("bucket", "allow", bucket, bob_key["access_key"])
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            deny({"AWS": bob_key["access_key"]}, "s3:DeleteObject", f"arn:aws:s3:::{bucket}/*"),
            allow({"AWS": f"arn:aws:iam:::user/{carol_key['access_key']}"}, ["s3:GetObject", "s3:ListBucket"],
                  [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
        ),
    )
    # Bob's grant lets him write, but the Deny wins for deletes.
    bob.put_object(Bucket=bucket, Key="by-bob", Body=b"b")
    with pytest.raises(ClientError) as e:
        bob.delete_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    # Carol has no grant; the policy lets her read and list, nothing more.
    assert carol.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert [o["Key"] for o in carol.list_objects_v2(Bucket=bucket)["Contents"]] == ["by-bob", "k"]
    with pytest.raises(ClientError) as e:
        carol.put_object(Bucket=bucket, Key="by-carol", Body=b"c")
    assert error_of(e) == ("AccessDenied", 403)
    # Only the owner manages the policy.
    with pytest.raises(ClientError) as e:
        carol.get_bucket_policy(Bucket=bucket)
    assert error_of(e) == ("AccessDenied", 403)


def test_conditions_on_address_prefix_and_tags(s3, server, bucket):
    anon = anonymous(server)
    s3.put_object(Bucket=bucket, Key="docs/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="public=yes")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"u")
    arn = f"arn:aws:s3:::{bucket}"
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            allow("*", "s3:ListBucket", arn, Condition={"StringLike": {"s3:prefix": "docs/*"}}),
            allow("*", "s3:GetObject", f"{arn}/*", Condition={"StringEquals": {"s3:ExistingObjectTag/public": "yes"}}),
            allow("*", "s3:GetObject", f"{arn}/docs/*", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
            allow("*", "s3:PutObject", f"{arn}/*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        ),
    )
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket, Prefix="docs/")["Contents"]] == ["docs/a"]
    with pytest.raises(ClientError) as e:
        anon.list_objects_v2(Bucket=bucket)
    assert error_of(e) == ("AccessDenied", 403)
    assert anon.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t"
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="untagged")
    assert error_of(e) == ("AccessDenied", 403)
    # The client is on 127.0.0.1: inside the first range, outside the second.
    assert anon.get_object(Bucket=bucket, Key="docs/a")["Body"].read() == b"a"
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket=bucket, Key="from-far", Body=b"x")
    assert error_of(e) == ("AccessDenied", 403)


def test_malformed_policies_are_refused(s3, bucket):
    cases = [
        "not json",
        json.dumps({"Version": "2012-10-17"}),
        policy({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}),
        policy(allow("*", "ec2:RunInstances", f"arn:aws:s3:::{bucket}/*")),
        policy(allow("*", "s3:GetObject", "arn:aws:s3:::another-bucket/*")),
        policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", Condition={"Foo": {"aws:SourceIp": "1"}})),
        policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", Condition={"IpAddress": {"aws:SourceIp": "300.0.0.1"}})),
    ]
    for doc in cases:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=doc)
        assert error_of(e) == ("MalformedPolicy", 400), doc
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_of(e) == ("NoSuchBucketPolicy", 404)


def test_the_public_access_block(s3, server, bucket):
    public = policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*"))
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": True, "RestrictPublicBuckets": False}
    )
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got["BlockPublicPolicy"] is True and got["RestrictPublicBuckets"] is False
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=public)
    assert error_of(e) == ("AccessDenied", 403)
    # A policy tied to an address is not public.
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}})),
    )
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False

    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    s3.put_bucket_policy(Bucket=bucket, Policy=public)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        anonymous(server).get_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("AccessDenied", 403)
    s3.delete_public_access_block(Bucket=bucket)
    assert anonymous(server).get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket=bucket)
    assert error_of(e) == ("NoSuchPublicAccessBlockConfiguration", 404)


def test_acls_take_effect_once_ownership_enables_them(arca, server, s3, bucket):
    carol_key = create_key(arca, "acl-carol")
    carol = client(server, carol_key["access_key"], carol_key["secret_key"])
    anon = anonymous(server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # BucketOwnerEnforced (the default): ACLs are off.
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert error_of(e) == ("AccessControlListNotSupported", 400)

    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_object(Bucket=bucket, Key="public", Body=b"p", ACL="public-read")
    assert anon.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    grants = s3.get_object_acl(Bucket=bucket, Key="public")["Grants"]
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants} >= {
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")
    }
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="k")
    assert error_of(e) == ("AccessDenied", 403)

    # A grant to one key: Carol may read that object, and write through the bucket's ACL.
    s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{carol_key["access_key"]}"')
    assert carol.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        carol.put_object(Bucket=bucket, Key="by-carol", Body=b"c")
    assert error_of(e) == ("AccessDenied", 403)
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{carol_key["access_key"]}"', GrantRead=f'id="{carol_key["access_key"]}"')
    carol.put_object(Bucket=bucket, Key="by-carol", Body=b"c")
    assert "by-carol" in [o["Key"] for o in carol.list_objects_v2(Bucket=bucket)["Contents"]]
    bucket_grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {(g["Grantee"].get("ID"), g["Permission"]) for g in bucket_grants} >= {
        (carol_key["access_key"], "WRITE"),
        (carol_key["access_key"], "READ"),
    }

    # A policy Deny beats the ACL's allow.
    s3.put_bucket_policy(
        Bucket=bucket, Policy=policy(deny("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/public"))
    )
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="public")
    assert error_of(e) == ("AccessDenied", 403)
    s3.delete_bucket_policy(Bucket=bucket)

    # The public access block: IgnorePublicAcls and BlockPublicAcls.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="public")
    assert error_of(e) == ("AccessDenied", 403)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="p2", Body=b"x", ACL="public-read-write")
    assert error_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='emailAddress="x@example.com"')
    assert error_of(e) == ("UnresolvableGrantByEmailAddress", 400)


def test_ownership_controls_and_owner_only_acls(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=bucket)
    assert error_of(e) == ("OwnershipControlsNotFoundError", 404)
    rules = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=rules)
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"] == rules
    s3.delete_bucket_ownership_controls(Bucket=bucket)

    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert [g["Permission"] for g in s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]] == ["FULL_CONTROL"]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert error_of(e) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError) as e:
        s3.get_object_acl(Bucket=bucket, Key="absent")
    assert error_of(e) == ("NoSuchKey", 404)


def test_the_aws_cli_drives_policies_tags_and_encryption(aws, server, s3, bucket, tmp_path):
    doc = tmp_path / "policy.json"
    doc.write_text(policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/public/*")))
    aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", f"file://{doc}")
    stored = json.loads(json.loads(aws("s3api", "get-bucket-policy", "--bucket", bucket).stdout)["Policy"])
    assert stored["Statement"][0]["Action"] == "s3:GetObject"

    src = tmp_path / "f.txt"
    src.write_text("sealed and public")
    aws("s3", "cp", str(src), f"s3://{bucket}/public/f.txt", "--sse", "AES256", "--only-show-errors")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "public/f.txt").stdout)
    assert head["ServerSideEncryption"] == "AES256"
    assert anonymous(server).get_object(Bucket=bucket, Key="public/f.txt")["Body"].read() == b"sealed and public"

    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "public/f.txt",
        "--tagging", "TagSet=[{Key=team,Value=storage}]")
    tags = json.loads(aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "public/f.txt").stdout)
    assert tags["TagSet"] == [{"Key": "team", "Value": "storage"}]
    aws("s3api", "delete-bucket-policy", "--bucket", bucket)
    with pytest.raises(ClientError) as e:
        anonymous(server).get_object(Bucket=bucket, Key="public/f.txt")
    assert error_of(e) == ("AccessDenied", 403)


def test_copies_deletes_and_bypasses_are_each_decided_on_their_own(arca, server, s3, bucket):
    carol_key = create_key(arca, "scope-carol")
    carol = client(server, carol_key["access_key"], carol_key["secret_key"])
    carol_arn = {"AWS": carol_key["access_key"]}
    arn = f"arn:aws:s3:::{bucket}"
    s3.put_object(Bucket=bucket, Key="partnerA/x", Body=b"a")
    s3.put_object(Bucket=bucket, Key="partnerB/secret", Body=b"s")
    s3.put_object(Bucket=bucket, Key="protected/p", Body=b"p")
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            allow(carol_arn, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{arn}/partnerA/*"),
            allow(carol_arn, "s3:DeleteObject", f"{arn}/protected/*"),
            deny(carol_arn, "s3:DeleteObject", f"{arn}/protected/*"),
        ),
    )
    # A copy's source is judged as a read of the source, not by the target's allowance.
    carol.copy_object(Bucket=bucket, Key="partnerA/y", CopySource={"Bucket": bucket, "Key": "partnerA/x"})
    with pytest.raises(ClientError) as e:
        carol.copy_object(Bucket=bucket, Key="partnerA/loot", CopySource={"Bucket": bucket, "Key": "partnerB/secret"})
    assert error_of(e) == ("AccessDenied", 403)
    # DeleteObjects: each key as its own DeleteObject.
    resp = carol.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "protected/p"}, {"Key": "partnerA/y"}, {"Key": "partnerB/secret"}]}
    )
    assert sorted((e["Key"], e["Code"]) for e in resp["Errors"]) == [
        ("partnerB/secret", "AccessDenied"),
        ("protected/p", "AccessDenied"),
    ]
    assert [d["Key"] for d in resp["Deleted"]] == ["partnerA/y"]
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "partnerA/x", "partnerB/secret", "protected/p",
    ]


def test_lifting_a_governance_retention_needs_its_own_permission(arca, server, s3):
    bucket = unique_name("bypass")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    carol_key = create_key(arca, "bypass-carol")
    carol = client(server, carol_key["access_key"], carol_key["secret_key"])
    carol_arn = {"AWS": carol_key["access_key"]}
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow(carol_arn, "s3:DeleteObjectVersion", f"arn:aws:s3:::{bucket}/*")))
    with pytest.raises(ClientError) as e:
        carol.delete_object(Bucket=bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert error_of(e) == ("AccessDenied", 403)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=policy(
            allow(carol_arn, ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"], f"arn:aws:s3:::{bucket}/*")
        ),
    )
    carol.delete_object(Bucket=bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_an_acl_write_grant_never_deletes_versions(arca, server, s3, bucket):
    carol_key = create_key(arca, "aclver-carol")
    carol = client(server, carol_key["access_key"], carol_key["secret_key"])
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{carol_key["access_key"]}"')
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as e:
        carol.delete_object(Bucket=bucket, Key="k", VersionId=v)
    assert error_of(e) == ("AccessDenied", 403)
    assert carol.delete_object(Bucket=bucket, Key="k")["DeleteMarker"] is True
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v)["Body"].read() == b"x"


def test_bucket_settings_changed_at_once_all_stay(server, s3):
    """Each setting is a read-modify-write of the bucket's catalog row;
    changed at the same moment from different clients, none is lost."""
    import threading

    for round_no in range(3):
        bucket = unique_name("settings")
        s3.create_bucket(Bucket=bucket)
        clients = [client(server) for _ in range(5)]
        calls = [
            lambda c: c.put_bucket_policy(Bucket=bucket, Policy=policy(allow("*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*"))),
            lambda c: c.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "round", "Value": str(round_no)}]}),
            lambda c: c.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}),
            lambda c: c.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            ),
            lambda c: c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
        ]
        errors = []

        def run(call, c):
            try:
                call(c)
            except Exception as e:  # recorded and asserted below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(call, c)) for call, c in zip(calls, clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert "Policy" in s3.get_bucket_policy(Bucket=bucket)
        assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "round", "Value": str(round_no)}]
        assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"] == ["GET"]
        assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
