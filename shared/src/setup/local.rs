//! Which endpoints are this machine's: where the public development key and the test CA
//! may be used. URLs are judged as the HTTP stack parses them, so a look-alike
//! (`http://localhost@evil.example`) is never local.

use lambda_http::http::Uri;

use super::SetupError;
use crate::tokens::{KeyRing, TokenKey};

/// The host a client given the endpoint `url` connects to (`::1` without its brackets), as
/// the HTTP stack parses it; `None` for what is not an absolute URL, or one with user
/// information (`http://localhost@evil.example` connects to evil.example: judged as never
/// local).
fn host(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    uri.scheme()?;
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|bracketed| bracketed.strip_suffix(']'))
        .unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

/// Whether `url`'s host is this machine's loopback interface.
pub fn is_loopback(url: &str) -> bool {
    host(url).is_some_and(|host| {
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    })
}

/// Whether a DynamoDB endpoint is this machine's, or the host of a `sam local` container.
pub fn is_local_store(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|endpoint| {
        is_loopback(endpoint) || host(endpoint).is_some_and(|host| host == "host.docker.internal")
    })
}

/// The public development key (`dev-only-...`) is refused unless the store is a local one:
/// its tokens are forgeable by anyone who has read this repository.
pub fn refuse_public_key_off_local(keys: &KeyRing, store_is_local: bool) -> Result<(), SetupError> {
    let public = keys.keys().any(TokenKey::is_public_dev_key);
    if public && !store_is_local {
        return Err(SetupError(
            "the token key is the public development key (dev-only-...): it is refused unless AWS_ENDPOINT_URL_DYNAMODB is a local DynamoDB (localhost, 127.0.0.1, ::1, host.docker.internal)".into(),
        ));
    }
    Ok(())
}
