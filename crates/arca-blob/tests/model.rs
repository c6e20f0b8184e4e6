//! Property test: any sequence of puts, deletes, compactions and restarts
//! leaves the store equal to a plain map.

use std::collections::BTreeMap;
use std::path::Path;

use arca_blob::{BlobError, BlobStore, BlobStoreConfig};
use arca_types::{BlobId, ObjectId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put { key: u8, partition: u32, len: usize, fill: u8 },
    Delete { key: u8 },
    Compact { ratio: f64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..8, 0u32..3, 0usize..2500, any::<u8>())
            .prop_map(|(key, partition, len, fill)| Op::Put { key, partition, len, fill }),
        3 => (0u8..8).prop_map(|key| Op::Delete { key }),
        1 => prop_oneof![Just(0.0), Just(0.3), Just(0.8)].prop_map(|ratio| Op::Compact { ratio }),
        1 => Just(Op::Reopen),
    ]
}

fn id(key: u8) -> BlobId {
    BlobId::new(ObjectId([key; 16]), u32::from(key))
}

fn open(dir: &Path) -> BlobStore {
    BlobStore::open(dir, BlobStoreConfig { volume_size_limit: 4096, ..BlobStoreConfig::default() }).unwrap()
}

fn check(store: &BlobStore, model: &BTreeMap<u8, (u32, Vec<u8>)>) -> Result<(), TestCaseError> {
    for key in 0..8u8 {
        match (store.get(&id(key)), model.get(&key)) {
            (Ok(got), Some((_, want))) => prop_assert_eq!(&got, want, "key {}", key),
            (Err(BlobError::NotFound(_)), None) => {}
            (got, want) => {
                prop_assert!(false, "key {}: store {:?}, model {:?}", key, got.map(|g| g.len()), want)
            }
        }
    }
    for partition in 0..3u32 {
        let listed: Vec<(BlobId, u64, u32)> = store
            .partition_blobs(partition)
            .into_iter()
            .map(|(i, info)| (i, info.len, info.crc32c))
            .collect();
        let expected: Vec<(BlobId, u64, u32)> = model
            .iter()
            .filter(|(_, (p, _))| *p == partition)
            .map(|(k, (_, d))| (id(*k), d.len() as u64, crc32c::crc32c(d)))
            .collect();
        prop_assert_eq!(listed, expected);
    }
    prop_assert_eq!(store.stats().blobs, model.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_behaves_like_a_map(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let mut model: BTreeMap<u8, (u32, Vec<u8>)> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put { key, partition, len, fill } => {
                    let data = vec![fill; len];
                    store.put(id(key), partition, &data).unwrap();
                    model.insert(key, (partition, data));
                }
                Op::Delete { key } => {
                    prop_assert_eq!(store.delete(&id(key)).unwrap(), model.remove(&key).is_some());
                }
                Op::Compact { ratio } => {
                    store.compact(ratio).unwrap();
                }
                Op::Reopen => {
                    drop(store);
                    store = open(dir.path());
                }
            }
            check(&store, &model)?;
        }
        drop(store);
        let store = open(dir.path());
        check(&store, &model)?;
        prop_assert!(store.scrub().unwrap().corrupt.is_empty());
    }
}
