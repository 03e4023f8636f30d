//! What an answer must be, said once for every check: a status, a JSON body with exactly
//! the contract's fields and types, a 401 with its challenge, cookies with their attributes.
//! Each returns what was expected and what came when it is not.

use serde_json::Value;

use super::client::Reply;

/// A JSON field's type in the contract.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Bool,
    Number,
    Object,
    TextOrNull,
}

pub(super) const CURRENT_USER: [(&str, Kind); 8] = [
    ("external_id", Kind::Text),
    ("email", Kind::Text),
    ("email_verified", Kind::Bool),
    ("username", Kind::Text),
    ("first_name", Kind::Text),
    ("last_name", Kind::Text),
    ("is_authenticated", Kind::Bool),
    ("access_token", Kind::Text),
];

pub(super) const AUTH_USER: [(&str, Kind); 9] = [
    ("id", Kind::Text),
    ("email", Kind::Text),
    ("emailConfirmedAt", Kind::TextOrNull),
    ("phone", Kind::TextOrNull),
    ("phoneConfirmedAt", Kind::TextOrNull),
    ("createdAt", Kind::Text),
    ("updatedAt", Kind::Text),
    ("userMetadata", Kind::Object),
    ("appMetadata", Kind::Object),
];

pub(super) const NOT_AUTHENTICATED: &str = r#"{"detail":"Not authenticated"}"#;

pub(super) const V3_UNAUTHORIZED: &str =
    r#"{"data":null,"success":false,"errno":-100000,"error":"Invalid or expired token"}"#;

pub(super) const INVALID_TOKEN: &str = r#"Bearer error="invalid_token""#;

pub(super) const NOT_FOUND: &str = r#"{"message":"Not Found"}"#;

/// What came, for a FAIL line: the status and the start of the body.
pub(super) fn got(reply: &Reply) -> String {
    let body: String = reply.body.chars().take(200).collect();
    format!("got {} {body}", reply.status)
}

pub(super) fn status(reply: &Reply, expected: u16) -> Result<(), String> {
    if reply.status == expected {
        Ok(())
    } else {
        Err(format!("expected {expected}, {}", got(reply)))
    }
}

/// A JSON body (`application/json`) with exactly these fields of these types.
pub(super) fn json_fields(reply: &Reply, fields: &[(&str, Kind)]) -> Result<Value, String> {
    let body = json_body(reply)?;
    has_fields(&body, fields).map(|()| body)
}

pub(super) fn json_body(reply: &Reply) -> Result<Value, String> {
    let content_type = reply.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "expected application/json, got content type {content_type:?}"
        ));
    }
    reply
        .json()
        .ok_or_else(|| format!("expected a JSON body, {}", got(reply)))
}

pub(super) fn has_fields(body: &Value, fields: &[(&str, Kind)]) -> Result<(), String> {
    let object = body
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, got {body}"))?;
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    expected.sort_unstable();
    if names != expected {
        return Err(format!("expected exactly the fields {expected:?}, got {names:?}"));
    }
    for (name, kind) in fields {
        let value = &object[*name];
        let fits = match kind {
            Kind::Text => value.is_string(),
            Kind::Bool => value.is_boolean(),
            Kind::Number => value.is_number(),
            Kind::Object => value.is_object(),
            Kind::TextOrNull => value.is_string() || value.is_null(),
        };
        if !fits {
            return Err(format!("{name}: expected {}, got {value}", kind_name(*kind)));
        }
    }
    Ok(())
}

pub(super) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Bool => "a boolean",
        Kind::Number => "a number",
        Kind::Object => "an object",
        Kind::TextOrNull => "a string or null",
    }
}

pub(super) fn equals(what: &str, actual: &Value, expected: &Value) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected}, got {actual}"))
    }
}

/// A new token as the contract gives it: `{"access_token": "..."}`, a token of ours.
pub(super) fn new_token(reply: &Reply) -> Result<String, String> {
    status(reply, 200)?;
    let body = json_fields(reply, &[("access_token", Kind::Text)])?;
    let token = body["access_token"].as_str().unwrap_or_default().to_string();
    if token.len() == 100 && token.starts_with("uat_") {
        Ok(token)
    } else {
        Err(format!(
            "expected a uat_ token of 100 characters, got {} characters",
            token.len()
        ))
    }
}

pub(super) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The contract's 401 for a family, with its challenge under either name.
pub(super) fn unauthorized(reply: &Reply, v3: bool, challenge: &str) -> Result<(), String> {
    status(reply, 401)?;
    let body = json_body(reply)?;
    let expected: Value =
        serde_json::from_str(if v3 { V3_UNAUTHORIZED } else { NOT_AUTHENTICATED }).unwrap_or_default();
    equals("the body", &body, &expected)?;
    match reply.challenge() {
        Some(actual) if actual == challenge => Ok(()),
        actual => Err(format!(
            "expected the challenge {challenge:?} in WWW-Authenticate or x-amzn-Remapped-WWW-Authenticate, got {actual:?}"
        )),
    }
}

/// The value of cookie `name` among `Set-Cookie` lines, and its attributes in lower case.
pub(super) fn set_cookie<'a>(lines: &[&'a str], name: &str) -> Option<(&'a str, Vec<String>)> {
    lines.iter().find_map(|line| {
        let mut parts = line.split(';').map(str::trim);
        let (cookie, value) = parts.next()?.split_once('=')?;
        (cookie == name).then(|| (value, parts.map(str::to_ascii_lowercase).collect()))
    })
}

/// The attributes docs/security.md promises: `Max-Age`, `Path=/`, `Secure`, `SameSite=Lax`, and
/// `HttpOnly` on the session id only (the page's script reads the CSRF token).
pub(super) fn cookie_attributes(attributes: &[String], http_only: bool, expired: bool) -> Result<(), String> {
    let max_age = attributes
        .iter()
        .find_map(|attribute| attribute.strip_prefix("max-age="))
        .and_then(|seconds| seconds.parse::<u64>().ok());
    let age_fits = if expired {
        max_age == Some(0)
    } else {
        max_age.is_some_and(|seconds| seconds > 0)
    };
    let has = |wanted: &str| attributes.iter().any(|attribute| attribute == wanted);
    if age_fits && has("path=/") && has("secure") && has("samesite=lax") && has("httponly") == http_only {
        Ok(())
    } else {
        Err(format!(
            "expected Max-Age{}; Path=/; Secure; SameSite=Lax{}, got {attributes:?}",
            if expired { "=0" } else { " > 0" },
            if http_only {
                "; HttpOnly"
            } else {
                " and no HttpOnly"
            }
        ))
    }
}
