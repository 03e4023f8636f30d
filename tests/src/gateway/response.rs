//! A function's proxy answer, turned back into HTTP as API Gateway does, and the gateway's own answers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

/// Response headers a REST API renames before the client sees them. AWS lists WWW-Authenticate
/// among the headers that "may be remapped to x-amzn-Remapped-HEADER when ... sent back by your
/// integration endpoint" (API Gateway developer guide, known issues), and real deployments show
/// it for Lambda proxy responses (dherault/serverless-offline#236; modelix/modelix.core#1658:
/// "The Amazon API Gateway replaced the WWW-Authenticate header with
/// x-amzn-remapped-www-authenticate"). The other listed headers are not ones our functions send.
const REMAPPED_RESPONSE_HEADERS: [&str; 1] = ["WWW-Authenticate"];

/// A proxy integration's answer (`{statusCode, headers, multiValueHeaders, body,
/// isBase64Encoded}`) as the HTTP response API Gateway makes of it.
#[derive(Debug, PartialEq)]
pub struct ProxyResponse {
    pub status: u16,
    /// Each value its own header line (several `set-cookie`s stay several).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ProxyResponse {
    /// Reads a function's response document; an error is what API Gateway logs as a
    /// "Malformed Lambda proxy response" (and answers 502).
    pub fn parse(document: &str) -> Result<Self, String> {
        let document: Value = serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(fields) = document else {
            return Err("not a JSON object".into());
        };
        // A REST API refuses any other field (a payload 2.0 `cookies` among them).
        let known = [
            "statusCode",
            "headers",
            "multiValueHeaders",
            "body",
            "isBase64Encoded",
        ];
        if let Some(unknown) = fields.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(format!("unexpected field {unknown:?}"));
        }
        let status = match fields.get("statusCode") {
            None | Some(Value::Null) => 200,
            Some(code) => code
                .as_u64()
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (100..=599).contains(code))
                .ok_or_else(|| format!("statusCode {code} is not an HTTP status"))?,
        };
        let mut headers = Vec::new();
        for (name, values) in object(&fields, "multiValueHeaders")?.into_iter().flatten() {
            let values = values
                .as_array()
                .ok_or_else(|| format!("multiValueHeaders.{name} is not a list"))?;
            for value in values {
                headers.push((name.clone(), text(value, name)?));
            }
        }
        // Both maps merge; a pair that is in both appears once.
        for (name, value) in object(&fields, "headers")?.into_iter().flatten() {
            let pair = (name.clone(), text(value, name)?);
            if !headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(&pair.0) && *v == pair.1)
            {
                headers.push(pair);
            }
        }
        for (name, _) in &mut headers {
            if REMAPPED_RESPONSE_HEADERS
                .iter()
                .any(|remapped| name.eq_ignore_ascii_case(remapped))
            {
                *name = format!("x-amzn-Remapped-{name}");
            }
        }
        let body = match fields.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(body)) => body.clone(),
            Some(_) => return Err("body is not a string".into()),
        };
        let body = match fields.get("isBase64Encoded") {
            None | Some(Value::Null | Value::Bool(false)) => body.into_bytes(),
            Some(Value::Bool(true)) => BASE64
                .decode(&body)
                .map_err(|e| format!("body is not base64: {e}"))?,
            Some(_) => return Err("isBase64Encoded is not a boolean".into()),
        };
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// An optional object field of the response document (absent or null: none).
fn object<'a>(fields: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Map<String, Value>>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("{key} is not an object")),
    }
}

fn text(value: &Value, name: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("header {name} has a value that is not a string"))
}
