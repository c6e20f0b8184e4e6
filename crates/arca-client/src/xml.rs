//! The few S3 XML documents this client reads and writes: error bodies,
//! ListObjectsV2 pages, InitiateMultipartUpload and CompleteMultipartUpload
//! results, DeleteObjects results; and the CompleteMultipartUpload and
//! Delete requests. Parsing walks quick-xml events and matches element paths
//! by local name, so namespaces and unknown elements are ignored.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::Error;

/// The parts of an S3 `<Error>` body a caller needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The token to pass for the next page, when `is_truncated`.
    pub next_continuation_token: Option<String>,
}

/// A key DeleteObjects could not delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteFailure {
    pub key: String,
    pub code: String,
    pub message: String,
}

/// Calls `visit` at the end of every element with the element's path (local
/// names from the root) and its text content (empty for a parent element).
fn walk(body: &[u8], mut visit: impl FnMut(&[String], &str)) -> Result<(), Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::Protocol("XML body is not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    loop {
        let event = reader.read_event().map_err(|err| Error::Protocol(format!("malformed XML: {err}")))?;
        match event {
            Event::Start(start) => {
                path.push(start.local_name().as_ref().to_owned());
                current.clear();
            }
            Event::Empty(start) => {
                path.push(start.local_name().as_ref().to_owned());
                visit(&path, "");
                path.pop();
            }
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::CData(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    }
                };
                match resolved {
                    Some(c) => current.push(c),
                    None => return Err(Error::Protocol(format!("unknown XML entity &{};", &*r))),
                }
            }
            Event::End(_) => {
                visit(&path, &current);
                current.clear();
                path.pop();
            }
            Event::Eof if path.is_empty() => return Ok(()),
            Event::Eof => return Err(Error::Protocol(format!("XML ends inside <{}>", path.join("><")))),
            _ => {}
        }
    }
}

fn is(path: &[String], expected: &[&str]) -> bool {
    path.len() == expected.len() && path.iter().zip(expected).all(|(a, b)| a == b)
}

/// Reads an `<Error>` body; `None` when the body is not one.
pub fn parse_error(body: &[u8]) -> Option<ErrorBody> {
    let mut error = ErrorBody::default();
    let mut seen = false;
    walk(body, |path, text| {
        if is(path, &["Error"]) {
            seen = true;
        } else if is(path, &["Error", "Code"]) {
            error.code = text.to_owned();
        } else if is(path, &["Error", "Message"]) {
            error.message = text.to_owned();
        } else if is(path, &["Error", "RequestId"]) {
            error.request_id = Some(text.to_owned());
        }
    })
    .ok()?;
    (seen && !error.code.is_empty()).then_some(error)
}

/// Reads a `<ListBucketResult>` of ListObjectsV2.
pub fn parse_list_v2(body: &[u8]) -> Result<ListPage, Error> {
    let mut page = ListPage::default();
    let mut entry = ListEntry::default();
    let mut bad_size = None;
    let mut seen = false;
    walk(body, |path, text| {
        let Some((root, rest)) = path.split_first() else { return };
        if root != "ListBucketResult" {
            return;
        }
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        match rest.as_slice() {
            [] => seen = true,
            ["Contents", "Key"] => entry.key = text.to_owned(),
            ["Contents", "Size"] => match text.trim().parse() {
                Ok(size) => entry.size = size,
                Err(_) => bad_size = Some(text.to_owned()),
            },
            ["Contents", "ETag"] => entry.etag = Some(text.to_owned()),
            ["Contents"] => page.entries.push(std::mem::take(&mut entry)),
            ["CommonPrefixes", "Prefix"] => page.common_prefixes.push(text.to_owned()),
            ["IsTruncated"] => page.is_truncated = text.trim() == "true",
            ["NextContinuationToken"] => page.next_continuation_token = Some(text.to_owned()),
            _ => {}
        }
    })?;
    if !seen {
        return Err(Error::Protocol("ListObjectsV2 answer is not a ListBucketResult".into()));
    }
    if let Some(size) = bad_size {
        return Err(Error::Protocol(format!("listing has a non-numeric Size {size:?}")));
    }
    if page.is_truncated && page.next_continuation_token.is_none() {
        return Err(Error::Protocol("truncated listing without a NextContinuationToken".into()));
    }
    Ok(page)
}

/// Reads the `UploadId` of an `<InitiateMultipartUploadResult>`.
pub fn parse_upload_id(body: &[u8]) -> Result<String, Error> {
    let mut upload_id = None;
    walk(body, |path, text| {
        if is(path, &["InitiateMultipartUploadResult", "UploadId"]) {
            upload_id = Some(text.to_owned());
        }
    })?;
    upload_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::Protocol("InitiateMultipartUploadResult without an UploadId".into()))
}

/// Reads a CompleteMultipartUpload answer, which is an error when the body is
/// an `<Error>` even though the status was 200. Returns the ETag.
pub fn parse_complete_multipart(body: &[u8]) -> Result<Option<String>, Result<ErrorBody, Error>> {
    let mut etag = None;
    let mut complete = false;
    walk(body, |path, text| {
        if is(path, &["CompleteMultipartUploadResult"]) {
            complete = true;
        } else if is(path, &["CompleteMultipartUploadResult", "ETag"]) {
            etag = Some(text.to_owned());
        }
    })
    .map_err(Err)?;
    if complete {
        return Ok(etag);
    }
    match parse_error(body) {
        Some(error) => Err(Ok(error)),
        None => {
            Err(Err(Error::Protocol("CompleteMultipartUpload answered neither a result nor an error".into())))
        }
    }
}

/// Reads a `<DeleteResult>`: the keys that could not be deleted.
pub fn parse_delete_result(body: &[u8]) -> Result<Vec<DeleteFailure>, Error> {
    let mut failures = Vec::new();
    let mut failure = DeleteFailure::default();
    let mut seen = false;
    walk(body, |path, text| {
        if is(path, &["DeleteResult"]) {
            seen = true;
        } else if is(path, &["DeleteResult", "Error", "Key"]) {
            failure.key = text.to_owned();
        } else if is(path, &["DeleteResult", "Error", "Code"]) {
            failure.code = text.to_owned();
        } else if is(path, &["DeleteResult", "Error", "Message"]) {
            failure.message = text.to_owned();
        } else if is(path, &["DeleteResult", "Error"]) {
            failures.push(std::mem::take(&mut failure));
        }
    })?;
    if !seen {
        return Err(Error::Protocol("DeleteObjects answer is not a DeleteResult".into()));
    }
    Ok(failures)
}

/// The body of CompleteMultipartUpload for `(part number, ETag)` pairs.
pub fn complete_multipart_body(parts: &[(u32, String)]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        xml.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>", escape(etag)));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// The body of DeleteObjects for `keys`, in quiet mode (only failures answered).
pub fn delete_objects_body(keys: &[String]) -> String {
    let mut xml = String::from("<Delete><Quiet>true</Quiet>");
    for key in keys {
        xml.push_str("<Object><Key>");
        xml.push_str(&escape(key));
        xml.push_str("</Key></Object>");
    }
    xml.push_str("</Delete>");
    xml
}

/// The CreateBucketConfiguration body naming a region other than us-east-1.
pub fn create_bucket_body(region: &str) -> String {
    format!(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
        escape(region)
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters cannot appear raw in XML 1.0; a character
            // reference keeps keys such as "a\rb" intact.
            c if (c as u32) < 0x20 => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>
<Key>a&amp;b</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        assert_eq!(
            parse_error(body),
            Some(ErrorBody {
                code: "NoSuchKey".into(),
                message: "The specified key does not exist.".into(),
                request_id: Some("4442587FB7D0A2F9".into()),
            })
        );
        assert_eq!(parse_error(b"<html><body>Bad Gateway</body></html>"), None);
        assert_eq!(parse_error(b"not xml at all <"), None);
    }

    #[test]
    fn list_v2_page_with_escaped_keys_and_namespace() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>p/a&amp;b</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>4096</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/&#233;t&#xE9;</Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>"#;
        let page = parse_list_v2(body).expect("a valid page");
        assert_eq!(
            page.entries,
            vec![
                ListEntry {
                    key: "p/a&b".into(),
                    size: 4096,
                    etag: Some("\"9b2cf535f27731c974343645a3985328\"".into())
                },
                ListEntry { key: "p/été".into(), size: 0, etag: None },
            ]
        );
        assert_eq!(page.common_prefixes, vec!["p/dir/".to_owned()]);
        assert!(page.is_truncated);
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
    }

    #[test]
    fn list_v2_last_page_and_bad_answers() {
        let last =
            b"<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
        let page = parse_list_v2(last).expect("a valid page");
        assert!(page.entries.is_empty() && !page.is_truncated);
        let no_token = b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
        assert!(parse_list_v2(no_token).is_err());
        let bad_size =
            b"<ListBucketResult><Contents><Key>a</Key><Size>big</Size></Contents></ListBucketResult>";
        assert!(parse_list_v2(bad_size).is_err());
        assert!(parse_list_v2(b"<ListBucketResult><Contents>").is_err());
        assert!(parse_list_v2(b"").is_err());
        assert!(parse_list_v2(b"<ListAllMyBucketsResult></ListAllMyBucketsResult>").is_err());
    }

    #[test]
    fn upload_id() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            parse_upload_id(body).ok().as_deref(),
            Some("VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA")
        );
        assert!(parse_upload_id(b"<InitiateMultipartUploadResult></InitiateMultipartUploadResult>").is_err());
    }

    #[test]
    fn complete_multipart_result_or_error_with_status_200() {
        let ok =
            b"<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>";
        assert_eq!(parse_complete_multipart(ok).ok().flatten().as_deref(), Some("\"abc-2\""));
        let failed = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>";
        match parse_complete_multipart(failed) {
            Err(Ok(error)) => assert_eq!(error.code, "InternalError"),
            other => panic!("expected an error body, got {other:?}"),
        }
    }

    #[test]
    fn delete_result_failures() {
        let body = b"<DeleteResult><Deleted><Key>a</Key></Deleted>\
            <Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
        assert_eq!(
            parse_delete_result(body).ok(),
            Some(vec![DeleteFailure { key: "b".into(), code: "AccessDenied".into(), message: "no".into() }])
        );
        assert!(parse_delete_result(b"<Error><Code>NotImplemented</Code></Error>").is_err());
    }

    #[test]
    fn request_bodies_escape_their_text() {
        assert_eq!(
            delete_objects_body(&["a<b".into(), "c&d\r".into()]),
            "<Delete><Quiet>true</Quiet><Object><Key>a&lt;b</Key></Object>\
             <Object><Key>c&amp;d&#13;</Key></Object></Delete>"
        );
        assert_eq!(
            complete_multipart_body(&[(1, "\"e1\"".into()), (2, "\"e2\"".into())]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part></CompleteMultipartUpload>"
        );
        // What is written reads back the same.
        let body = delete_objects_body(&["x&y".into()]);
        let mut keys = Vec::new();
        walk(body.as_bytes(), |path, text| {
            if is(path, &["Delete", "Object", "Key"]) {
                keys.push(text.to_owned());
            }
        })
        .expect("well-formed");
        assert_eq!(keys, vec!["x&y".to_owned()]);
    }
}
