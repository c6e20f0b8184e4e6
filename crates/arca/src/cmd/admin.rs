//! What `arca key` and `arca bucket` share: talking to a running server's
//! admin API (`/_arca/admin/...`), signed with the root (or another) key.

use arca_client::{Client, ClientConfig, Credentials, Request, RequestBody};
use http::Method;
use serde_json::Value;

/// Where the server is and whose credentials sign the requests.
#[derive(clap::Args, Debug)]
pub struct EndpointArgs {
    /// The server's URL.
    #[arg(long, global = true, env = "ARCA_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    // Named apart from `key create --access-key`: clap merges arguments of
    // one name, and the signing key would be imported as the new key.
    /// The access key to sign with (the root key manages keys).
    #[arg(long = "root-access-key", global = true, env = "ARCA_ROOT_ACCESS_KEY")]
    pub root_access_key: Option<String>,
    /// The secret key to sign with.
    #[arg(long = "root-secret-key", global = true, env = "ARCA_ROOT_SECRET_KEY", hide_env_values = true)]
    pub root_secret_key: Option<String>,
    /// The region the server signs for.
    #[arg(long, global = true, env = "ARCA_REGION", default_value = "us-east-1")]
    pub region: String,
}

/// Admin answers are small JSON documents.
const MAX_ANSWER: usize = 1 << 20;

/// Sends one admin request and returns its JSON answer, or the server's
/// error as a message.
pub fn call(args: &EndpointArgs, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (Some(access_key), Some(secret_key)) = (&args.root_access_key, &args.root_secret_key) else {
        return Err("credentials missing: set ARCA_ROOT_ACCESS_KEY and ARCA_ROOT_SECRET_KEY, or pass \
                    --root-access-key and --root-secret-key"
            .to_owned());
    };
    runtime.block_on(async {
        let mut config =
            ClientConfig::new(args.endpoint.trim_end_matches('/'), Credentials::new(access_key, secret_key));
        config.region = args.region.clone();
        let client = Client::new(config).map_err(|e| e.to_string())?;
        let mut request = Request::new(method, format!("/_arca/admin/{path}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(RequestBody::full(serde_json::to_vec(&body).map_err(|e| e.to_string())?));
        }
        let answer = client.send_checked(request).await.map_err(|e| e.to_string())?;
        let bytes = answer.bytes(MAX_ANSWER).await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the server's answer is not JSON: {e}"))
    })
}
