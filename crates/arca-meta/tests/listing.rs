//! Listing against a model: a BTreeMap of keys, listed by the rules S3
//! gives for ListObjects, compared page by page with the store.

mod common;

use std::collections::BTreeMap;

use arca_meta::{ListEntry, ListQuery, MetaStore, PutCondition};
use arca_types::ObjectId;
use common::*;
use proptest::prelude::*;

/// What the model lists: a key or a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Key(String),
    Prefix(String),
}

fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Every entry the whole listing holds, by S3's rules, unpaged.
fn model_list(
    live: &BTreeMap<String, bool>,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
) -> Vec<Expected> {
    let skipped = start_after.and_then(|s| common_prefix(s, prefix, delimiter));
    let mut out: Vec<Expected> = Vec::new();
    for (key, &is_live) in live {
        if !is_live || !key.starts_with(prefix) || start_after.is_some_and(|s| key.as_str() <= s) {
            continue;
        }
        if skipped.is_some_and(|c| key.starts_with(c)) {
            continue;
        }
        match common_prefix(key, prefix, delimiter) {
            Some(c) => {
                if out.last() != Some(&Expected::Prefix(c.to_owned())) {
                    out.push(Expected::Prefix(c.to_owned()));
                }
            }
            None => out.push(Expected::Key(key.clone())),
        }
    }
    out
}

fn seen(entries: &[ListEntry]) -> Vec<Expected> {
    entries
        .iter()
        .map(|e| match e {
            ListEntry::Object(o) => Expected::Key(o.key.clone()),
            ListEntry::CommonPrefix(p) => Expected::Prefix(p.clone()),
        })
        .collect()
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => Just("a"),
            2 => Just("b"),
            1 => Just("0"),
            3 => Just("/"),
            1 => Just("-"),
            1 => Just("é"),
            1 => Just("日"),
            1 => Just("\u{1}"),
            1 => Just("\u{10348}"),
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

#[derive(Debug, Clone)]
enum Op {
    Put(String),
    Delete(String),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![3 => text(6).prop_filter("S3 keys are not empty", |k| !k.is_empty()).prop_map(Op::Put), 1 => text(6).prop_map(Op::Delete)],
        0..60,
    )
}

fn delimiter() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        3 => Just(Some("/".to_owned())),
        1 => Just(Some("-/".to_owned())),
        1 => Just(Some("é".to_owned())),
        1 => Just(Some("日".to_owned())),
        1 => Just(Some(String::new())),
    ]
}

fn apply(store: &MetaStore, bucket: ObjectId, ops: &[Op]) -> BTreeMap<String, bool> {
    let mut model = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let micros = i as u64 + 1;
        match op {
            Op::Put(k) => {
                store.put_object(object(bucket, k, micros, 1), PutCondition::Always).unwrap();
                model.insert(k.clone(), true);
            }
            Op::Delete(k) => {
                store.delete_object(bucket, k, ts(micros)).unwrap();
                model.insert(k.clone(), false);
            }
        }
    }
    model
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn pages_match_the_model_and_paging_by_marker_repeats_nothing(
        ops in ops(),
        prefix in text(3),
        delimiter in delimiter(),
        start_after in proptest::option::of(text(5)),
        max_keys in 0usize..6,
    ) {
        let store = shared();
        let bucket = ObjectId::random();
        // Rows of another bucket sort around this one's and must never show.
        let neighbour = ObjectId::random();
        store.put_object(object(neighbour, "a", 1, 1), PutCondition::Always).unwrap();
        let model = apply(store, bucket, &ops);
        let d = delimiter.as_deref().filter(|d| !d.is_empty());

        // One page, as asked.
        let q = ListQuery { prefix: prefix.clone(), delimiter: delimiter.clone(), start_after: start_after.clone(), max_keys };
        let page = store.list_objects(bucket, &q).unwrap();
        let all = model_list(&model, &prefix, d, start_after.as_deref());
        let want: Vec<Expected> = all.iter().take(max_keys).cloned().collect();
        prop_assert_eq!(seen(&page.entries), want);
        prop_assert_eq!(page.is_truncated, max_keys > 0 && all.len() > max_keys);
        prop_assert_eq!(page.next_marker.is_some(), page.is_truncated);

        // Every page from the start, following next_marker.
        let page_size = max_keys.max(1);
        let all = model_list(&model, &prefix, d, None);
        let mut got = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..=all.len() {
            let q = ListQuery { prefix: prefix.clone(), delimiter: delimiter.clone(), start_after: marker.clone(), max_keys: page_size };
            let page = store.list_objects(bucket, &q).unwrap();
            prop_assert!(page.entries.len() <= page_size);
            got.extend(seen(&page.entries));
            if !page.is_truncated {
                break;
            }
            prop_assert_eq!(page.next_marker.as_deref(), page.entries.last().map(|e| e.marker()));
            marker = page.next_marker;
        }
        prop_assert_eq!(got, all);
    }
}

#[test]
fn keys_list_in_utf8_binary_order() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    for (i, k) in ["a0", "a/b", "a", "日", "é", "Z", "a\u{1}"].iter().enumerate() {
        store.put_object(object(b, k, i as u64 + 1, 1), PutCondition::Always).unwrap();
    }
    let page = store.list_objects(b, &ListQuery::default()).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.marker()).collect();
    assert_eq!(keys, ["Z", "a", "a\u{1}", "a/b", "a0", "é", "日"]);
}

#[test]
fn delimiter_rolls_up_and_start_after_inside_a_prefix_skips_it() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let keys = ["photos/2025/a.jpg", "photos/2025/b.jpg", "photos/2026/c.jpg", "photos/top.jpg", "readme"];
    for (i, k) in keys.iter().enumerate() {
        store.put_object(object(b, k, i as u64 + 1, 1), PutCondition::Always).unwrap();
    }
    let q = |prefix: &str, start_after: Option<&str>, max_keys| ListQuery {
        prefix: prefix.into(),
        delimiter: Some("/".into()),
        start_after: start_after.map(Into::into),
        max_keys,
    };
    let page = store.list_objects(b, &q("", None, 1000)).unwrap();
    assert_eq!(seen(&page.entries), vec![Expected::Prefix("photos/".into()), Expected::Key("readme".into())]);

    let page = store.list_objects(b, &q("photos/", None, 2)).unwrap();
    assert_eq!(
        seen(&page.entries),
        vec![Expected::Prefix("photos/2025/".into()), Expected::Prefix("photos/2026/".into())]
    );
    assert!(page.is_truncated);
    assert_eq!(page.next_marker.as_deref(), Some("photos/2026/"));

    // A marker inside photos/2025/ skips the rest of that prefix.
    let page = store.list_objects(b, &q("photos/", Some("photos/2025/a.jpg"), 10)).unwrap();
    assert_eq!(
        seen(&page.entries),
        vec![Expected::Prefix("photos/2026/".into()), Expected::Key("photos/top.jpg".into())]
    );
    assert!(!page.is_truncated);

    // A prefix whose only keys are deleted is not listed.
    store.delete_object(b, "photos/2026/c.jpg", ts(100)).unwrap();
    let page = store.list_objects(b, &q("photos/", None, 10)).unwrap();
    assert_eq!(
        seen(&page.entries),
        vec![Expected::Prefix("photos/2025/".into()), Expected::Key("photos/top.jpg".into())]
    );

    let page = store.list_objects(b, &q("photos/", None, 0)).unwrap();
    assert!(page.entries.is_empty() && !page.is_truncated && page.next_marker.is_none());

    // Odd input is an empty page, not an error: no key holds a NUL byte.
    let page = store.list_objects(b, &q("photos\0", None, 10)).unwrap();
    assert!(page.entries.is_empty() && !page.is_truncated);
    let after_nul = ListQuery { start_after: Some("photos/2025/a.jpg\0".into()), ..Default::default() };
    let page = store.list_objects(b, &after_nul).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.marker()).collect();
    assert_eq!(keys, ["photos/2025/b.jpg", "photos/top.jpg", "readme"]);
}

#[test]
fn listing_never_returns_bodies_and_reports_metadata() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    store.put_object(object(b, "k", 9, 40), PutCondition::Always).unwrap();
    let page = store.list_objects(b, &ListQuery::default()).unwrap();
    let ListEntry::Object(summary) = &page.entries[0] else { panic!("expected an object") };
    assert_eq!((summary.key.as_str(), summary.ts, summary.meta.size), ("k", ts(9), 40));
    assert_eq!(summary.meta.etag, "\"etag-9\"");
}

#[test]
fn large_common_prefixes_are_sought_past_and_small_ones_stepped_over() {
    let (_dir, store) = open_temp();
    let b = ObjectId::random();
    let mut rows = Vec::new();
    for i in 0..40 {
        rows.push(object(b, &format!("big/{i:02}"), 1, 1));
    }
    for i in 0..3 {
        rows.push(object(b, &format!("small/{i}"), 1, 1));
    }
    rows.push(object(b, "top", 1, 1));
    for i in 0..20 {
        rows.push(object(b, &format!("zz/{i:02}"), 1, 1));
    }
    store.put_objects(rows).unwrap();
    // Deleted keys under a prefix already emitted are stepped over too.
    store.delete_object(b, "big/03", ts(2)).unwrap();
    let want = vec![
        Expected::Prefix("big/".into()),
        Expected::Prefix("small/".into()),
        Expected::Key("top".into()),
        Expected::Prefix("zz/".into()),
    ];
    let q = ListQuery { delimiter: Some("/".into()), ..Default::default() };
    assert_eq!(seen(&store.list_objects(b, &q).unwrap().entries), want);
    let mut got = Vec::new();
    let mut marker = None;
    loop {
        let q =
            ListQuery { delimiter: Some("/".into()), start_after: marker, max_keys: 1, ..Default::default() };
        let page = store.list_objects(b, &q).unwrap();
        got.extend(seen(&page.entries));
        if !page.is_truncated {
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(got, want);
}
