//! Access keys: the credentials requests are signed with, and the owners of
//! buckets.

use arca_meta::KeyRow;
use arca_meta::raft::{CatalogCommand, CatalogOutcome};
use arca_types::ObjectId;

use crate::ObjectService;
use crate::error::{ObjectError, ObjectResult};

/// What AWS access key ids look like: 20 characters of A-Z and 2-7.
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Secret keys: 40 characters of the base64 alphabet without '+' and '/', so
/// they survive shells, URLs and config files unquoted.
const SECRET_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(prefix: &str, len: usize, alphabet: &[u8]) -> String {
    let mut out = String::from(prefix);
    let mut pool = Vec::new();
    while out.len() < len {
        if pool.is_empty() {
            pool.extend_from_slice(ObjectId::random().as_bytes());
        }
        let byte = pool.pop().unwrap_or_default();
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % alphabet.len();
        if usize::from(byte) < limit {
            out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
        }
    }
    out
}

pub fn generate_access_key() -> String {
    random_string("AK", 20, ACCESS_KEY_ALPHABET)
}

pub fn generate_secret_key() -> String {
    random_string("", 40, SECRET_KEY_ALPHABET)
}

/// Access keys and secrets must be printable ASCII without spaces, as in
/// every S3 tool's configuration files.
fn check_key_text(what: &str, value: &str, min: usize, max: usize) -> ObjectResult<()> {
    if value.len() < min || value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ObjectError::InvalidArgument(format!(
            "{what} must be {min} to {max} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

impl ObjectService {
    /// The live key `access_key`, if any (one created a moment ago on
    /// another gateway included).
    pub async fn key(&self, access_key: &str) -> ObjectResult<Option<KeyRow>> {
        Ok(self.cluster().key(access_key).await?)
    }

    pub async fn list_keys(&self) -> ObjectResult<Vec<KeyRow>> {
        self.cluster().sync_catalog().await?;
        let mut keys: Vec<KeyRow> = self.cluster().catalog().read(|c| c.keys.values().cloned().collect());
        keys.sort_by(|a, b| a.access_key.cmp(&b.access_key));
        Ok(keys)
    }

    /// Creates a key. A given pair is imported as is; a missing part is
    /// generated. Importing a pair that already exists unchanged succeeds (so
    /// scripts can run twice); reusing an access key id with another secret
    /// does not.
    pub async fn create_key(
        &self,
        name: &str,
        access_key: Option<String>,
        secret_key: Option<String>,
        is_root: bool,
    ) -> ObjectResult<KeyRow> {
        let access_key = access_key.unwrap_or_else(generate_access_key);
        let secret_key = secret_key.unwrap_or_else(generate_secret_key);
        check_key_text("An access key", &access_key, 3, 128)?;
        check_key_text("A secret key", &secret_key, 8, 128)?;
        if let Some(existing) = self.key(&access_key).await? {
            if existing.secret_key == secret_key && existing.is_root == is_root {
                return Ok(existing);
            }
            return Err(ObjectError::InvalidArgument(format!("The access key {access_key} already exists")));
        }
        let row = self.new_key(access_key, secret_key, name, is_root);
        self.cluster().catalog_write(CatalogCommand::PutKey { row: row.clone() }).await?;
        Ok(row)
    }

    fn new_key(&self, access_key: String, secret_key: String, name: &str, is_root: bool) -> KeyRow {
        let now = self.clock().now();
        KeyRow {
            access_key,
            secret_key,
            name: name.to_owned(),
            is_root,
            created: now,
            ts: now,
            deleted: false,
        }
    }

    /// Makes `access_key`/`secret_key` the root key, replacing any other
    /// root key (the operator changed ARCA_ROOT_* between starts), in one
    /// catalog change. Nothing is written if it already is the root key.
    pub async fn set_root_key(&self, access_key: &str, secret_key: &str) -> ObjectResult<KeyRow> {
        check_key_text("The root access key", access_key, 3, 128)?;
        check_key_text("The root secret key", secret_key, 8, 128)?;
        let keys = self.list_keys().await?;
        let current =
            keys.iter().find(|k| k.is_root && k.access_key == access_key && k.secret_key == secret_key);
        if let Some(current) = current
            && keys.iter().filter(|k| k.is_root).count() == 1
        {
            return Ok(current.clone());
        }
        let row = self.new_key(access_key.to_owned(), secret_key.to_owned(), "root", true);
        self.cluster().catalog_write(CatalogCommand::SetRootKey { row: row.clone() }).await?;
        Ok(row)
    }

    pub async fn delete_key(&self, access_key: &str) -> ObjectResult<bool> {
        let ts = self.clock().now();
        let command = CatalogCommand::DeleteKey { access_key: access_key.to_owned(), ts };
        match self.cluster().catalog_write(command).await? {
            CatalogOutcome::KeyDeleted(existed) => Ok(existed),
            _ => Err(ObjectError::Internal("unexpected answer to a key deletion".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_aws_shape() {
        let ak = generate_access_key();
        assert_eq!(ak.len(), 20);
        assert!(ak.starts_with("AK"));
        assert!(ak.bytes().all(|b| ACCESS_KEY_ALPHABET.contains(&b)));
        let sk = generate_secret_key();
        assert_eq!(sk.len(), 40);
        assert!(sk.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(generate_secret_key(), sk);
    }
}
