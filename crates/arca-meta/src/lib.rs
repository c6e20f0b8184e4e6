//! Metadata index on fjall: catalog, object rows, multipart, counters, event log.
