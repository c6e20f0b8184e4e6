//! The S3 client parses answers from servers it does not control.
#![no_main]

use arca_client::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse_error(data);
    let _ = xml::parse_list_v2(data);
    let _ = xml::parse_upload_id(data);
    let _ = xml::parse_complete_multipart(data);
    let _ = xml::parse_delete_result(data);
});
