//! Ring and builder files come from disk and from other nodes: any bytes
//! must load as a valid ring or fail with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ring) = arca_ring::Ring::from_bytes(data) {
        // A ring that loads must answer lookups for every partition.
        for partition in 0..ring.partition_count().min(64) {
            let _ = ring.primaries(partition);
            let _ = ring.handoffs(partition).take(4).count();
        }
        let _ = ring.partition_for_key(data);
    }
    if let Ok(builder) = arca_ring::RingBuilder::from_bytes(data) {
        let _ = builder.to_ring();
    }
});
