//! Metadata values are read back from disk (and, later, from replicas):
//! any bytes must decode to a row or fail with `Corrupt`, never panic or
//! allocate without bound; a row that decodes must encode back to the
//! same bytes.
#![no_main]

use arca_meta::codec::{decode, decode_object_head, encode};
use arca_meta::{BucketRow, KeyRow, ObjectRow, PartRow, UploadRow};
use libfuzzer_sys::fuzz_target;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
    if let Ok(row) = decode::<T>(data) {
        let again = encode(&row).expect("a decoded row encodes");
        let back: T = decode(&again).expect("an encoded row decodes");
        assert_eq!(encode(&back).expect("encodes"), again);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ObjectRow>(data);
    round_trip::<BucketRow>(data);
    round_trip::<KeyRow>(data);
    round_trip::<UploadRow>(data);
    round_trip::<PartRow>(data);
    let _ = decode_object_head(data);
});
