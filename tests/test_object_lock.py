"""S3 Object Lock: buckets created with it, default retention, GOVERNANCE
and COMPLIANCE retention, legal holds — a locked version cannot be deleted,
by a single delete, a batch delete, or anyone's request to shorten the lock."""

import datetime
import time

import pytest
from botocore.exceptions import ClientError

from conftest import error_of, unique_name


def utc_in(seconds):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


@pytest.fixture
def locked_bucket(s3):
    name = unique_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def test_a_bucket_created_with_the_lock_is_versioned_for_good(s3, locked_bucket):
    assert s3.get_bucket_versioning(Bucket=locked_bucket)["Status"] == "Enabled"
    config = s3.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]
    assert config == {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=locked_bucket, VersioningConfiguration={"Status": "Suspended"})
    assert error_of(e) == ("InvalidBucketState", 409)


def test_lock_needs_a_configured_bucket(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error_of(e) == ("ObjectLockConfigurationNotFoundError", 404)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert error_of(e) == ("InvalidRequest", 400)
    enabled = {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enabled)
    assert error_of(e) == ("InvalidBucketState", 409)
    # Once versioning is on, the lock can be enabled on an existing bucket.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enabled)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert s3.get_object_legal_hold(Bucket=bucket, Key="k")["LegalHold"]["Status"] == "ON"


def test_compliance_retention_holds_against_everyone(s3, locked_bucket):
    until = utc_in(86400)
    v = s3.put_object(
        Bucket=locked_bucket, Key="k", Body=b"evidence", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until
    )["VersionId"]
    head = s3.head_object(Bucket=locked_bucket, Key="k")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    got = s3.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=v)["Retention"]
    assert got["Mode"] == "COMPLIANCE"

    for bypass in [False, True]:
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v, BypassGovernanceRetention=bypass)
        assert error_of(e) == ("AccessDenied", 403)
    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": utc_in(3600)}
    weaker = {"Mode": "GOVERNANCE", "RetainUntilDate": utc_in(2 * 86400)}
    for retention in [shorter, weaker]:
        with pytest.raises(ClientError) as e:
            s3.put_object_retention(
                Bucket=locked_bucket, Key="k", VersionId=v, Retention=retention, BypassGovernanceRetention=True
            )
        assert error_of(e) == ("AccessDenied", 403)
    # Extending is always allowed.
    s3.put_object_retention(
        Bucket=locked_bucket, Key="k", VersionId=v, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": utc_in(2 * 86400)}
    )
    # A delete without a version id only adds a marker; the version stays.
    assert s3.delete_object(Bucket=locked_bucket, Key="k")["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked_bucket, Key="k", VersionId=v)["Body"].read() == b"evidence"
    resp = s3.delete_objects(Bucket=locked_bucket, Delete={"Objects": [{"Key": "k", "VersionId": v}]})
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("k", "AccessDenied")]
    assert s3.get_object(Bucket=locked_bucket, Key="k", VersionId=v)["Body"].read() == b"evidence"
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=locked_bucket)
    assert error_of(e) == ("BucketNotEmpty", 409)


def test_governance_retention_yields_to_a_bypass(s3, locked_bucket):
    v = s3.put_object(
        Bucket=locked_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=utc_in(86400)
    )["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v)
    assert error_of(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=locked_bucket, Key="k", VersionId=v, Retention={})
    assert error_of(e) == ("AccessDenied", 403)
    # Made stricter without a bypass; then lifted with one.
    s3.put_object_retention(
        Bucket=locked_bucket, Key="k", VersionId=v, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": utc_in(2 * 86400)}
    )
    s3.put_object_retention(
        Bucket=locked_bucket,
        Key="k",
        VersionId=v,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": utc_in(60)},
        BypassGovernanceRetention=True,
    )
    s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=locked_bucket, Key="k", VersionId=v)
    assert error_of(e) == ("404", 404)


def test_a_legal_hold_blocks_deletes_until_released(s3, locked_bucket):
    v = s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x")["VersionId"]
    s3.put_object_legal_hold(Bucket=locked_bucket, Key="k", VersionId=v, LegalHold={"Status": "ON"})
    assert s3.head_object(Bucket=locked_bucket, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v, BypassGovernanceRetention=True)
    assert error_of(e) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=locked_bucket, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key="k", VersionId=v)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=locked_bucket, Key="k", VersionId=v)
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=v)
    assert error_of(e) == ("NoSuchVersion", 404)


def test_default_retention_applies_to_new_versions_and_ends(s3, locked_bucket):
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(
        Bucket=locked_bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    got = s3.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]
    assert got["Rule"] == rule
    v = s3.put_object(Bucket=locked_bucket, Key="k", Body=b"x")["VersionId"]
    retention = s3.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=v)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert abs((retention["RetainUntilDate"] - utc_in(86400)).total_seconds()) < 60

    # An explicit retention wins over the default, and a retention ends.
    short = s3.put_object(
        Bucket=locked_bucket, Key="short", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=utc_in(2)
    )["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked_bucket, Key="short", VersionId=short)
    assert error_of(e) == ("AccessDenied", 403)
    time.sleep(2.5)
    s3.delete_object(Bucket=locked_bucket, Key="short", VersionId=short)

    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=locked_bucket, Key="past", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=utc_in(-60)
        )
    assert error_of(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(
            Bucket=locked_bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}},
        )
    assert error_of(e) == ("InvalidArgument", 400)
