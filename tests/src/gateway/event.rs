//! The proxy event a function receives (payload format 1.0).

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::TryRng;
use rand::rngs::SysRng;
use serde_json::{Map, Value, json};

use super::*;

/// An HTTP request as API Gateway received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// As received: percent-encoded, trailing slash kept.
    pub path: String,
    /// The query string without its `?`, if the target had one.
    pub query: Option<String>,
    /// In the order received, names in lower case; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client's address.
    pub source_ip: IpAddr,
    /// The address it connected to (the domain name when there is no Host header).
    pub local_address: SocketAddr,
}

impl Request {
    /// From hyper's request. Header values that are not UTF-8 reach the function transcoded
    /// (its event is JSON).
    pub(super) fn received(
        parts: &hyper::http::request::Parts,
        body: &[u8],
        peer: SocketAddr,
        local_address: SocketAddr,
    ) -> Self {
        let headers = parts.headers.iter().map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        });
        Self {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: headers.collect(),
            body: body.to_vec(),
            source_ip: peer.ip(),
            local_address,
        }
    }
}

/// What API Gateway stamps on each request.
#[derive(Clone, Debug)]
pub struct Stamp {
    pub stage: String,
    pub request_id: String,
    pub extended_request_id: String,
    pub received: SystemTime,
}

impl Stamp {
    /// Fresh ids, now.
    pub fn new(stage: &str) -> Self {
        Self {
            stage: stage.into(),
            request_id: uuid::Builder::from_random_bytes(random_bytes())
                .into_uuid()
                .to_string(),
            extended_request_id: BASE64.encode(random_bytes::<11>()),
            received: SystemTime::now(),
        }
    }
}

/// Random bytes for ids, which only label requests: zeros in the unheard-of case the OS
/// source fails beats failing the request.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    let _ = SysRng.try_fill_bytes(&mut bytes);
    bytes
}

/// The Lambda proxy integration's event (payload format 1.0) for `request` on `matched`.
pub fn event(matched: &Matched, request: &Request, stamp: &Stamp) -> Value {
    let headers = with_forwarding(request);
    let last_header = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.clone())
    };
    let host = last_header("host").unwrap_or_else(|| request.local_address.to_string());
    let (single_headers, multi_headers) = single_and_multi(&headers);
    let query: Vec<(String, String)> = request
        .query
        .iter()
        .flat_map(|query| form_urlencoded::parse(query.as_bytes()).into_owned())
        .collect();
    let (single_query, multi_query) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        single_and_multi(&query)
    };
    let path_parameters = if matched.path_parameters.is_empty() {
        Value::Null
    } else {
        json!(matched.path_parameters)
    };
    let (body, is_base64_encoded) = if request.body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(&request.body) {
            Ok(text) => (json!(text), false),
            Err(_) => (json!(BASE64.encode(&request.body)), true),
        }
    };
    let since_epoch = stamp.received.duration_since(UNIX_EPOCH).unwrap_or_default();
    let resource = &matched.route.resource;
    json!({
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": domain_prefix(&host),
            "extendedRequestId": stamp.extended_request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "apiKey": null,
                "apiKeyId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": request.source_ip.to_string(),
                "user": null,
                "userAgent": last_header("user-agent"),
                "userArn": null,
            },
            "path": format!("/{}{}", stamp.stage, request.path),
            "protocol": "HTTP/1.1",
            "requestId": stamp.request_id,
            "requestTime": request_time(stamp.received),
            "requestTimeEpoch": u64::try_from(since_epoch.as_millis()).unwrap_or_default(),
            "resourceId": resource_id(resource),
            "resourcePath": resource,
            "stage": stamp.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    })
}

/// The request's headers with those API Gateway sets: the client's address appended to
/// `X-Forwarded-For`, and `X-Forwarded-Port` and `-Proto` of the connection.
fn with_forwarding(request: &Request) -> Vec<(String, String)> {
    let mut forwarded_for: Vec<String> = request
        .headers
        .iter()
        .filter(|(name, _)| name == "x-forwarded-for")
        .map(|(_, value)| value.clone())
        .collect();
    forwarded_for.push(request.source_ip.to_string());
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "x-forwarded-for" | "x-forwarded-port" | "x-forwarded-proto"
            )
        })
        .cloned()
        .collect();
    headers.extend([
        ("x-forwarded-for".to_string(), forwarded_for.join(", ")),
        (
            "x-forwarded-port".to_string(),
            request.local_address.port().to_string(),
        ),
        ("x-forwarded-proto".to_string(), "http".to_string()),
    ]);
    headers
}

/// `{name: last value}` and `{name: [every value]}`, as API Gateway gives headers and query
/// parameters.
fn single_and_multi(pairs: &[(String, String)]) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi = Map::new();
    for (name, value) in pairs {
        single.insert(name.clone(), json!(value));
        let values = multi.entry(name.clone()).or_insert_with(|| json!([]));
        if let Value::Array(values) = values {
            values.push(json!(value));
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// The first label of the host name (`abc123` of `abc123.execute-api...`).
fn domain_prefix(host: &str) -> &str {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.split('.').next().unwrap_or(name)
}

/// A stable six-character id per resource, like API Gateway's (`2gxmpl`).
fn resource_id(resource: &str) -> String {
    // FNV-1a: stable across runs and Rust versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in resource.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|i| char::from(alphabet[(hash >> (i * 8)) as usize % alphabet.len()]))
        .collect()
}

/// `09/Apr/2015:12:34:56 +0000`: the HTTP date (`Thu, 09 Apr 2015 12:34:56 GMT`) reordered.
fn request_time(time: SystemTime) -> String {
    let http_date = httpdate::fmt_http_date(time);
    match http_date.split(' ').collect::<Vec<_>>()[..] {
        [_, day, month, year, clock, _] => format!("{day}/{month}/{year}:{clock} +0000"),
        _ => http_date,
    }
}
