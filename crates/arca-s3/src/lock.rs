//! Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::ArcaS3;
use crate::auth::caller;
use crate::convert::{self, system_time};
use crate::error::IntoS3;
use crate::object::version_ref;

fn period(days: Option<i32>, years: Option<i32>) -> S3Result<arca_object::RetentionPeriod> {
    let positive = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
    let invalid = || s3_error!(InvalidArgument, "Default retention period must be a positive integer value");
    match (days, years) {
        (Some(d), None) => positive(d).map(arca_object::RetentionPeriod::Days).ok_or_else(invalid),
        (None, Some(y)) => positive(y).map(arca_object::RetentionPeriod::Years).ok_or_else(invalid),
        _ => Err(s3_error!(MalformedXML, "A default retention names either Days or Years")),
    }
}

pub(crate) async fn put_object_lock_configuration(
    s3: &ArcaS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let config = input.object_lock_configuration.unwrap_or_default();
    if config.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(s3_error!(MalformedXML, "ObjectLockEnabled must be Enabled"));
    }
    let default = match config.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let mode = d.mode.ok_or_else(|| s3_error!(MalformedXML, "A default retention needs a Mode"))?;
            Some(arca_object::DefaultRetention {
                mode: arca_object::lock_mode(mode.as_str()).s3()?,
                period: period(d.days, d.years)?,
            })
        }
    };
    s3.service.set_lock_configuration(&caller, &input.bucket, default).await.s3()?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub(crate) async fn get_object_lock_configuration(
    s3: &ArcaS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let caller = caller(&req)?;
    let lock = s3.service.lock_configuration(&caller, &req.input.bucket).await.s3()?;
    let rule = lock.default_retention.map(|d| {
        let (days, years) = match d.period {
            arca_object::RetentionPeriod::Days(n) => (Some(n as i32), None),
            arca_object::RetentionPeriod::Years(n) => (None, Some(n as i32)),
        };
        ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(convert::mode_name(d.mode).to_owned())),
                days,
                years,
            }),
        }
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from(ObjectLockEnabled::ENABLED.to_owned())),
            rule,
        }),
    }))
}

pub(crate) async fn put_object_retention(
    s3: &ArcaS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let retention = match input.retention {
        Some(ObjectLockRetention { mode: Some(mode), retain_until_date: Some(until) }) => {
            let until = system_time(Some(until)).unwrap_or(std::time::UNIX_EPOCH);
            Some(convert::retention(mode.as_str(), until)?)
        }
        Some(ObjectLockRetention { mode: None, retain_until_date: None }) | None => None,
        Some(_) => return Err(s3_error!(MalformedXML, "A retention needs both Mode and RetainUntilDate")),
    };
    let bypass = input.bypass_governance_retention.unwrap_or(false);
    s3.service.set_retention(&caller, &input.bucket, &input.key, which, retention, bypass).await.s3()?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

pub(crate) async fn get_object_retention(
    s3: &ArcaS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let (retention, _) = s3.service.object_lock(&caller, &input.bucket, &input.key, which).await.s3()?;
    let Some(r) = retention else {
        return Err(s3_error!(
            NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration"
        ));
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(convert::mode_name(r.mode).to_owned())),
            retain_until_date: Some(Timestamp::from(arca_object::retain_until(&r))),
        }),
    }))
}

pub(crate) async fn put_object_legal_hold(
    s3: &ArcaS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let on = match input.legal_hold.and_then(|h| h.status).as_ref().map(|s| s.as_str()) {
        Some(ObjectLockLegalHoldStatus::ON) => true,
        Some(ObjectLockLegalHoldStatus::OFF) => false,
        _ => return Err(s3_error!(MalformedXML, "The legal hold status must be ON or OFF")),
    };
    s3.service.set_legal_hold(&caller, &input.bucket, &input.key, which, on).await.s3()?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

pub(crate) async fn get_object_legal_hold(
    s3: &ArcaS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let caller = caller(&req)?;
    let input = req.input;
    let which = version_ref(input.version_id.as_deref())?;
    let (_, on) = s3.service.object_lock(&caller, &input.bucket, &input.key, which).await.s3()?;
    let status = if on { ObjectLockLegalHoldStatus::ON } else { ObjectLockLegalHoldStatus::OFF };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from(status.to_owned())),
        }),
    }))
}
