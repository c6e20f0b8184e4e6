//! A blob store opens whatever is on its disk: a volume file of arbitrary
//! bytes must be recovered, quarantined or refused with an error — never a
//! panic — and everything the store then serves must pass its checksum.
#![no_main]

use arca_blob::{BlobStore, BlobStoreConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    // The first volume's name, as a new store would create it.
    std::fs::write(dir.path().join("00000001.vol"), data).expect("write volume");
    let Ok(store) = BlobStore::open(dir.path(), BlobStoreConfig::default()) else { return };
    for partition in store.partitions() {
        for (id, info) in store.partition_blobs(partition) {
            if let Ok(bytes) = store.get(&id) {
                assert_eq!(bytes.len() as u64, info.len);
            }
        }
    }
    let _ = store.scrub();
});
