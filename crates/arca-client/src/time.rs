//! The request timestamp SigV4 wants (`YYYYMMDD'T'HHMMSS'Z'`, UTC), computed
//! from the system clock without a date-time crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as an `x-amz-date` value. Times before 1970 clamp to the epoch.
pub fn amz_datetime(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
// `civil_from_days`), exact for every day a u64 second count can name.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> String {
        amz_datetime(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "19700101T000000Z");
        // The time of the AWS signing examples: Fri, 24 May 2013 00:00:00 GMT.
        assert_eq!(at(1_369_353_600), "20130524T000000Z");
        // A leap day and the last second of a leap year.
        assert_eq!(at(951_782_400), "20000229T000000Z");
        assert_eq!(at(1_735_689_599), "20241231T235959Z");
        assert_eq!(at(4_102_444_800), "21000101T000000Z");
    }
}
