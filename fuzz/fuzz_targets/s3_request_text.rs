//! The bits of a request the gateway parses itself (s3s parses the rest):
//! any text must be accepted or refused, never panic; a continuation token
//! that decodes must be the base64 of what it decodes to.
#![no_main]

use arca_s3::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = fuzzing::continuation_token(text);
    let _ = fuzzing::copy_source_range(text);
    let _ = fuzzing::content_md5(text);
    // Split the input into header lines "name: value" for the checksum
    // declarations, with the first line as the SDK's algorithm.
    let mut lines = text.lines();
    let algorithm = lines.next();
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().as_bytes(), v.trim().as_bytes()))
        .collect();
    let _ = fuzzing::declared_checksums(&headers, algorithm);
});
