//! Per-device blob store: append-only volumes, group commit, compaction, scrub.
