//! A local API Gateway: the REST API of template.yaml (Lambda proxy integration, payload
//! format 1.0) in front of the real function binaries. The binary `local-api` serves it for
//! `make run` and the end-to-end tests.
//!
//! - [`Api::from_template`]: the routes, timeouts, environment and "no route" answer.
//! - [`Api::route`]: a request's resource and method, matched as a REST API does.
//! - [`event`]: the proxy event a function receives; [`ProxyResponse::parse`]: its answer.
//! - [`Functions`]: each function's instances, kept as Lambda keeps them, and swapped for
//!   new ones after a rebuild ([`watch`]) without failing or holding up a request.
//! - [`serve`]: the HTTP/1.1 server (hyper) in front of it all.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::http::uri::Authority;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::TryRng;
use rand::rngs::SysRng;
use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;
use tokio::net::TcpListener;

use crate::runtime_api::{NoAnswer, Outcome, RuntimeApi};

/// API Gateway's limit on a request body: 10 MB.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// Lambda's timeout when the template sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Lambda's limit on a function's init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------

/// What serving template.yaml's REST API locally needs from it.
#[derive(Debug)]
pub struct Api {
    /// Every `Api` event of every function, in template order.
    pub routes: Vec<Route>,
    /// Each function's timeout, by binary name.
    pub timeouts: BTreeMap<String, Duration>,
    /// The answer to a request without a route: the `MISSING_AUTHENTICATION_TOKEN` gateway response.
    pub missing_route: GatewayResponse,
    /// The answer to a request without a route that carries an `Authorization` header (API
    /// Gateway reads it as a broken SigV4 signature): the `INCOMPLETE_SIGNATURE` gateway
    /// response, if the template sets one; otherwise API Gateway's 403 quoting the header.
    pub incomplete_signature: Option<GatewayResponse>,
    /// `Globals.Function.Environment.Variables` with plain values (intrinsics such as `!Ref`
    /// have no local value).
    pub environment: Vec<(String, String)>,
}

/// A method on a resource, served by a function.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Upper case; `ANY` serves every method the resource has no route of its own for.
    pub method: String,
    /// The resource path as declared, e.g. `/api/users/me` or `/files/{proxy+}`.
    pub resource: String,
    /// The function's binary.
    pub function: String,
}

/// An answer API Gateway makes itself.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayResponse {
    pub status: u16,
    pub body: String,
}

impl Api {
    /// Reads template.yaml's text. CloudFormation intrinsics (`!Ref`, `!If`, ...) are tagged
    /// values, which count as "not set" wherever a plain value is needed.
    pub fn from_template(text: &str) -> Result<Self, String> {
        let template: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("template: {e}"))?;
        let globals = &template["Globals"]["Function"];
        let default_timeout = seconds(&globals["Timeout"]).unwrap_or(DEFAULT_TIMEOUT);
        let mut api = Api {
            routes: Vec::new(),
            timeouts: BTreeMap::new(),
            // API Gateway's default for an unknown resource or method.
            missing_route: GatewayResponse {
                status: 403,
                body: r#"{"message":"Missing Authentication Token"}"#.into(),
            },
            incomplete_signature: None,
            environment: plain_variables(&globals["Environment"]["Variables"]),
        };
        let resources = template["Resources"]
            .as_mapping()
            .ok_or("template: no Resources")?;
        for (name, resource) in resources {
            let name = plain(name).unwrap_or("?");
            match plain(&resource["Type"]) {
                Some("AWS::Serverless::Function") => api.add_function(name, resource, default_timeout)?,
                Some("AWS::Serverless::Api") => {
                    let responses = &resource["Properties"]["GatewayResponses"];
                    let missing = &responses["MISSING_AUTHENTICATION_TOKEN"];
                    if let Some(status) = status_code(&missing["StatusCode"]) {
                        api.missing_route.status = status;
                    }
                    if let Some(body) = plain(&missing["ResponseTemplates"]["application/json"]) {
                        api.missing_route.body = body.into();
                    }
                    let incomplete = &responses["INCOMPLETE_SIGNATURE"];
                    if let (Some(status), Some(body)) = (
                        status_code(&incomplete["StatusCode"]),
                        plain(&incomplete["ResponseTemplates"]["application/json"]),
                    ) {
                        api.incomplete_signature = Some(GatewayResponse {
                            status,
                            body: body.into(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(api)
    }

    fn add_function(&mut self, name: &str, resource: &Yaml, default_timeout: Duration) -> Result<(), String> {
        let binary = plain(&resource["Metadata"]["BuildProperties"]["Binary"])
            .ok_or_else(|| format!("template: {name} has no Metadata.BuildProperties.Binary"))?;
        let properties = &resource["Properties"];
        let timeout = seconds(&properties["Timeout"]).unwrap_or(default_timeout);
        self.timeouts.insert(binary.into(), timeout);
        for (event_name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            if plain(&event["Type"]) != Some("Api") {
                continue;
            }
            let field = |key: &str| {
                plain(&event["Properties"][key]).ok_or_else(|| {
                    format!("template: {name}, event {event_name:?}: no plain Properties.{key}")
                })
            };
            self.routes.push(Route {
                method: field("Method")?.to_ascii_uppercase(),
                resource: field("Path")?.into(),
                function: binary.into(),
            });
        }
        Ok(())
    }
}

/// The text of a plain string (`as_str` would also read through a tag: `!Ref X` as `X`).
fn plain(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::String(text) => Some(text),
        _ => None,
    }
}

fn seconds(value: &Yaml) -> Option<Duration> {
    match value {
        Yaml::Number(number) => number.as_u64().map(Duration::from_secs),
        _ => None,
    }
}

/// A gateway response's `StatusCode`: CloudFormation types it as a string, YAML may give a number.
fn status_code(value: &Yaml) -> Option<u16> {
    match value {
        Yaml::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Yaml::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// Environment variables with a value known without deploying (CloudFormation stringifies
/// numbers and booleans).
fn plain_variables(variables: &Yaml) -> Vec<(String, String)> {
    let Yaml::Mapping(variables) = variables else {
        return Vec::new();
    };
    variables
        .iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Yaml::String(text) => text.clone(),
                Yaml::Number(number) => number.to_string(),
                Yaml::Bool(flag) => flag.to_string(),
                _ => return None,
            };
            Some((plain(name)?.to_string(), value))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

/// A request's route and the values of its resource's `{name}` segments.
#[derive(Debug, PartialEq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

impl Api {
    /// The route a REST API takes for `method` on `path` (as received: percent-encoded, no
    /// query string): the most specific resource matching the path, then that resource's
    /// method, else its `ANY`. None: API Gateway answers [`missing_route`](Self::missing_route).
    pub fn route(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let (_, resource, path_parameters) = self
            .routes
            .iter()
            .filter_map(|route| {
                let (rank, parameters) = match_resource(&route.resource, path)?;
                Some((rank, &route.resource, parameters))
            })
            .min_by(|a, b| a.0.cmp(&b.0))?;
        let on_resource = || self.routes.iter().filter(|route| &route.resource == resource);
        let route = on_resource()
            .find(|route| route.method == method)
            .or_else(|| on_resource().find(|route| route.method == "ANY"))?;
        Some(Matched {
            route,
            path_parameters,
        })
    }
}

/// Whether `path` matches `resource`, with the path parameters it fills and its rank: one
/// number per segment, literal 0, `{name}` 1, `{proxy+}` 2, so the lowest is the most
/// specific, as API Gateway prefers literal segments over variables from left to right.
fn match_resource(resource: &str, path: &str) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let path = path.strip_prefix('/')?;
    // The resource `/x` also serves `/x/` (one trailing slash).
    let segments = split_segments(path.strip_suffix('/').unwrap_or(path));
    let mut rank = Vec::new();
    let mut parameters = BTreeMap::new();
    let patterns = split_segments(resource.strip_prefix('/')?);
    for (index, pattern) in patterns.iter().enumerate() {
        if let Some(name) = variable(pattern, "+}") {
            // Greedy: the rest of the path, at least one segment, its trailing slash kept.
            let rest = path.splitn(index + 1, '/').last().unwrap_or_default();
            if index >= segments.len() || index + 1 != patterns.len() {
                return None;
            }
            parameters.insert(name.to_string(), rest.to_string());
            rank.push(2);
            return Some((rank, parameters));
        }
        let segment = segments.get(index)?;
        if let Some(name) = variable(pattern, "}") {
            if segment.is_empty() {
                return None;
            }
            parameters.insert(name.to_string(), segment.to_string());
            rank.push(1);
        } else if pattern == segment {
            rank.push(0);
        } else {
            return None;
        }
    }
    (segments.len() == patterns.len()).then_some((rank, parameters))
}

/// `a/b` as `[a, b]`; the root's empty path has no segment.
fn split_segments(path: &str) -> Vec<&str> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// `name` of a `{name}` segment (`close` = `}`) or of a `{name+}` one (`close` = `+}`).
fn variable<'a>(segment: &'a str, close: &str) -> Option<&'a str> {
    segment
        .strip_prefix('{')?
        .strip_suffix(close)
        .filter(|name| !name.ends_with('+'))
}

// ---------------------------------------------------------------------------------------
// The event
// ---------------------------------------------------------------------------------------

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
    fn received(
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

// ---------------------------------------------------------------------------------------
// The function's answer
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Function instances
// ---------------------------------------------------------------------------------------

/// Why API Gateway answers 502 instead of the function.
#[derive(Debug)]
pub enum IntegrationError {
    /// The function reported an error (Runtime API `/error`).
    Function(String),
    /// No answer: it timed out (then it was stopped), crashed or failed its init.
    NoAnswer(NoAnswer),
    /// An answer that is not a proxy response.
    Malformed(String),
    /// The instance could not be run at all.
    Local(String),
}

impl fmt::Display for IntegrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function(error) => write!(f, "function error: {error}"),
            Self::NoAnswer(NoAnswer::TimedOut(limit)) => {
                write!(f, "task timed out after {:.2} seconds", limit.as_secs_f64())
            }
            Self::NoAnswer(no_answer) => no_answer.fmt(f),
            Self::Malformed(reason) => write!(f, "malformed Lambda proxy response: {reason}"),
            Self::Local(reason) => f.write_str(reason),
        }
    }
}

/// Every function's instances.
pub struct Functions {
    pools: BTreeMap<String, Arc<Pool>>,
}

impl Functions {
    /// Pools for the template's functions, whose binaries are in `bin_dir`, each up to
    /// `limit` instances. Instances get the template's plain variables, except those this
    /// process's environment sets (`make run`'s DynamoDB Local endpoint over the template's
    /// empty one); everything else they inherit.
    pub fn new(api: &Api, bin_dir: &Path, limit: usize) -> Self {
        let environment: Arc<[(String, String)]> = api
            .environment
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .cloned()
            .collect();
        let pools = api
            .timeouts
            .iter()
            .map(|(binary, timeout)| {
                let pool = Pool {
                    binary: bin_dir.join(binary),
                    timeout: *timeout,
                    environment: Arc::clone(&environment),
                    limit: limit.max(1),
                    instances: Mutex::default(),
                    changed: Condvar::new(),
                    starts: AtomicUsize::new(0),
                };
                (binary.clone(), Arc::new(pool))
            })
            .collect();
        Self { pools }
    }

    pub fn pool(&self, function: &str) -> Option<Arc<Pool>> {
        self.pools.get(function).cloned()
    }

    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values().map(|pool| &**pool)
    }

    /// Starts one instance of each function, all at once; the errors of those that failed.
    pub fn warm(&self) -> Vec<(String, IntegrationError)> {
        std::thread::scope(|scope| {
            let starts: Vec<_> = self
                .pools
                .iter()
                .map(|(name, pool)| (name, scope.spawn(|| pool.warm())))
                .collect();
            starts
                .into_iter()
                .filter_map(|(name, start)| {
                    let result = start
                        .join()
                        .unwrap_or_else(|_| Err(IntegrationError::Local("the start panicked".into())));
                    result.err().map(|error| (name.clone(), error))
                })
                .collect()
        })
    }

    /// New binaries: idle instances stop now, busy ones once they have answered; every
    /// invocation from now on gets an instance of the new binary.
    pub fn reload(&self) {
        for pool in self.pools.values() {
            pool.reload();
        }
    }
}

/// One function's instances, as Lambda keeps them: an idle one serves the next invocation;
/// with none idle a new one starts (a cold start), up to `limit`; past that the invocation
/// waits for one to be free.
pub struct Pool {
    binary: PathBuf,
    timeout: Duration,
    environment: Arc<[(String, String)]>,
    limit: usize,
    instances: Mutex<Instances>,
    /// Signalled when an instance becomes idle or goes away.
    changed: Condvar,
    /// Instances started so far (cold starts).
    starts: AtomicUsize,
}

#[derive(Default)]
struct Instances {
    idle: Vec<Instance>,
    /// Idle, busy and starting.
    count: usize,
    /// Bumped on each reload: instances of an older one are not reused.
    generation: u64,
}

struct Instance {
    api: RuntimeApi,
    generation: u64,
}

impl Pool {
    /// The binary's name, also its crate's.
    pub fn name(&self) -> &str {
        self.binary
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("function")
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// How many instances have been started (cold starts), reloads included.
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }

    /// Runs one invocation and returns the function's response document. Blocks (it waits
    /// for the function): call it off the async runtime.
    pub fn invoke(&self, event: &str) -> Result<String, IntegrationError> {
        let mut lease = self.lease();
        let instance = match lease.instance.take() {
            Some(instance) => instance,
            None => self.start(lease.generation)?,
        };
        let outcome = instance.api.try_invoke(event, self.timeout);
        // Lambda keeps an instance whose invocation reported an error, not one that did not answer.
        lease.broken = outcome.is_err();
        lease.instance = Some(instance);
        match outcome {
            Ok(Outcome::Response(document)) => Ok(document),
            Ok(Outcome::Error(error)) => Err(IntegrationError::Function(error)),
            Err(no_answer) => Err(IntegrationError::NoAnswer(no_answer)),
        }
    }

    /// Makes sure one instance has started (and left idle).
    fn warm(&self) -> Result<(), IntegrationError> {
        let mut lease = self.lease();
        if lease.instance.is_none() {
            lease.instance = Some(self.start(lease.generation)?);
        }
        Ok(())
    }

    /// An idle instance, else the right to start one, else waits for either.
    fn lease(&self) -> Lease<'_> {
        let mut instances = self.lock();
        loop {
            let generation = instances.generation;
            if let Some(instance) = instances.idle.pop() {
                return Lease::new(self, Some(instance), generation);
            }
            if instances.count < self.limit {
                instances.count += 1;
                return Lease::new(self, None, generation);
            }
            instances = self
                .changed
                .wait(instances)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A cold start: a Runtime API endpoint with a new process of the binary behind it,
    /// through its init. The function's stdout (its logs) is this process's stdout.
    fn start(&self, generation: u64) -> Result<Instance, IntegrationError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        let mut api = RuntimeApi::start();
        api.spawn_function(&self.binary, &self.environment, Stdio::inherit());
        api.try_wait_for_init(INIT_LIMIT)
            .map_err(IntegrationError::NoAnswer)?;
        Ok(Instance { api, generation })
    }

    fn reload(&self) {
        let retired = {
            let mut instances = self.lock();
            instances.generation += 1;
            let idle = std::mem::take(&mut instances.idle);
            instances.count -= idle.len();
            idle
        };
        self.changed.notify_all();
        // Dropping a RuntimeApi stops its process (and waits for it): outside the lock.
        drop(retired);
    }

    fn lock(&self) -> MutexGuard<'_, Instances> {
        self.instances.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An instance (or the right to start one) taken from a pool for one invocation. When
/// dropped, even by a panic, the instance goes back to the idle ones, or is stopped if it
/// is broken or of an older generation.
struct Lease<'a> {
    pool: &'a Pool,
    instance: Option<Instance>,
    generation: u64,
    broken: bool,
}

impl<'a> Lease<'a> {
    fn new(pool: &'a Pool, instance: Option<Instance>, generation: u64) -> Self {
        Self {
            pool,
            instance,
            generation,
            broken: false,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let instance = self.instance.take();
        let retired = {
            let mut instances = self.pool.lock();
            match instance {
                Some(instance) if !self.broken && instance.generation == instances.generation => {
                    instances.idle.push(instance);
                    None
                }
                other => {
                    instances.count -= 1;
                    other
                }
            }
        };
        self.pool.changed.notify_all();
        drop(retired);
    }
}

// ---------------------------------------------------------------------------------------
// Reloading
// ---------------------------------------------------------------------------------------

/// What a source change is: a file of these kinds under `shared/` or `functions/`, or the
/// workspace's Cargo.toml and Cargo.lock. Nothing else (`target/`, `.tools/`, test output)
/// triggers a rebuild.
const SOURCE_EXTENSIONS: [&str; 6] = ["rs", "toml", "html", "css", "js", "svg"];

/// Polls the sources every 500 ms; after a change rebuilds the function binaries and, if
/// that succeeds, moves new invocations to them ([`Functions::reload`]). A failed build
/// leaves the running instances as they are.
pub fn watch(root: PathBuf, functions: Arc<Functions>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = sources(&root);
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = sources(&root);
            if now == seen {
                continue;
            }
            // A change made during the build is a difference at the next poll.
            seen = now;
            println!("local-api: sources changed, rebuilding");
            match build(&root, &functions) {
                Ok(()) => {
                    functions.reload();
                    println!("local-api: rebuilt; new requests go to the new binaries");
                }
                Err(error) => eprintln!("local-api: {error}; still serving the previous binaries"),
            }
        }
    })
}

/// `cargo build` of the function binaries, its output inherited. testkit is selected too
/// (none of its targets is built) so that features resolve as in `cargo build --workspace`,
/// which `make run` runs: hyper's `server` feature, which only local-api uses, would
/// otherwise differ and make cargo rebuild hyper and everything above it.
fn build(root: &Path, functions: &Functions) -> Result<(), String> {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(root)
        .args(["build", "--locked", "-p", "testkit"]);
    for pool in functions.pools() {
        command.args(["-p", pool.name(), "--bin", pool.name()]);
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("the build failed ({status})")),
        Err(error) => Err(format!("cannot run cargo: {error}")),
    }
}

/// Every source file and its modification time.
fn sources(root: &Path) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut files = BTreeMap::new();
    for manifest in ["Cargo.toml", "Cargo.lock"] {
        let path = root.join(manifest);
        let modified = modified(&path);
        files.insert(path, modified);
    }
    for dir in ["shared", "functions"] {
        collect_sources(&root.join(dir), &mut files);
    }
    files
}

fn collect_sources(dir: &Path, files: &mut BTreeMap<PathBuf, Option<SystemTime>>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_sources(&path, files),
            Ok(kind) if kind.is_file() => {
                let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
                if SOURCE_EXTENSIONS.contains(&extension) {
                    let modified = modified(&path);
                    files.insert(path, modified);
                }
            }
            _ => {}
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

// ---------------------------------------------------------------------------------------
// The HTTP server
// ---------------------------------------------------------------------------------------

/// The gateway: routes, functions and the stage name requests carry.
pub struct Gateway {
    pub api: Api,
    pub functions: Arc<Functions>,
    pub stage: String,
}

type HttpResponse = hyper::Response<Full<Bytes>>;

/// The headers API Gateway adds to its answers (`x-amzn-RequestId`, `x-amzn-ErrorType`).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Serves HTTP/1.1 (keep-alive, any number of connections) on `listener`, for ever.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // E.g. out of file descriptors: keep serving the open connections.
                eprintln!("local-api: accept: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(local_address) = stream.local_addr() else {
            continue;
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.answer(request, peer, local_address).await) }
            });
            // Errors here are the client's (a reset, a malformed request): hyper has
            // answered what could be answered.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Gateway {
    async fn answer(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
        local_address: SocketAddr,
    ) -> HttpResponse {
        let stamp = Stamp::new(&self.stage);
        let (parts, body) = request.into_parts();
        let declared_length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > MAX_BODY as u64) {
            return too_large(&stamp);
        }
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => return too_large(&stamp),
            // The client went away mid-body: nobody reads this answer.
            Err(_) => return gateway_answer(400, BAD_REQUEST, None, &stamp),
        };
        if !valid_host(&parts.headers) {
            return gateway_answer(400, BAD_REQUEST, None, &stamp);
        }
        let Some(matched) = self.api.route(parts.method.as_str(), parts.uri.path()) else {
            let (answer, error_type) = self.api.no_route(parts.headers.get(AUTHORIZATION));
            return gateway_answer(answer.status, &answer.body, Some(error_type), &stamp);
        };
        let request = Request::received(&parts, &body, peer, local_address);
        let function = matched.route.function.clone();
        let event = event(&matched, &request, &stamp).to_string();
        let outcome = match self.functions.pool(&function) {
            Some(pool) => tokio::task::spawn_blocking(move || pool.invoke(&event))
                .await
                .unwrap_or_else(|error| {
                    Err(IntegrationError::Local(format!(
                        "the invocation panicked: {error}"
                    )))
                }),
            None => Err(IntegrationError::Local("no such function".into())),
        };
        let response = outcome.and_then(|document| {
            let response = ProxyResponse::parse(&document).map_err(IntegrationError::Malformed)?;
            http_response(response, &stamp).map_err(IntegrationError::Malformed)
        });
        response.unwrap_or_else(|error| {
            eprintln!(
                "local-api: {function}: {error} (request {}: 502)",
                stamp.request_id
            );
            let error_type = Some("InternalServerErrorException");
            gateway_answer(502, r#"{"message": "Internal server error"}"#, error_type, &stamp)
        })
    }
}

const BAD_REQUEST: &str = r#"{"message":"Bad Request"}"#;

/// Whether the Host header, if any, is a host name and port. Behind API Gateway it is always
/// the API's domain name; lambda_http cannot build a request URL from anything else.
fn valid_host(headers: &hyper::HeaderMap) -> bool {
    headers.get(HOST).is_none_or(|host| {
        host.to_str()
            .ok()
            .and_then(|host| host.parse::<Authority>().ok())
            .is_some_and(|authority| !authority.as_str().contains('@'))
    })
}

/// The function's response on the wire. API Gateway frames the body itself (Content-Length)
/// and defaults the content type to JSON.
fn http_response(response: ProxyResponse, stamp: &Stamp) -> Result<HttpResponse, String> {
    let mut builder = hyper::Response::builder().status(response.status);
    let mut has_content_type = false;
    for (name, value) in &response.headers {
        let name = name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        has_content_type |= name == "content-type";
        builder = builder.header(name, value);
    }
    if !has_content_type {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    builder
        .header(CONTENT_LENGTH, response.body.len())
        .header(REQUEST_ID, &stamp.request_id)
        .body(Full::new(Bytes::from(response.body)))
        .map_err(|error| format!("invalid header: {error}"))
}

/// An answer of API Gateway's own.
fn gateway_answer(status: u16, body: &str, error_type: Option<&'static str>, stamp: &Stamp) -> HttpResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, body.len().into());
    if let Ok(id) = HeaderValue::from_str(&stamp.request_id) {
        headers.insert(REQUEST_ID, id);
    }
    if let Some(error_type) = error_type {
        headers.insert(ERROR_TYPE, HeaderValue::from_static(error_type));
    }
    response
}

impl Api {
    /// API Gateway's answer to a request no route takes, and its error type. A REST API
    /// reads an `Authorization` header there as a SigV4 signature, so a Bearer client gets
    /// IncompleteSignatureException ("'<token>' not a valid key=value pair (missing
    /// equal-sign) in Authorization header: 'Bearer <token>'.": HumanCellAtlas/data-store#328,
    /// amazon-archives/aws-cognito-angular-quickstart#50) unless the template answers it.
    pub fn no_route(&self, authorization: Option<&HeaderValue>) -> (GatewayResponse, &'static str) {
        let Some(header) = authorization else {
            return (self.missing_route.clone(), "MissingAuthenticationTokenException");
        };
        let answer = self.incomplete_signature.clone().unwrap_or_else(|| {
            let header = String::from_utf8_lossy(header.as_bytes()).into_owned();
            let pair = header.split_once(' ').map_or(header.as_str(), |(_, rest)| rest);
            GatewayResponse {
                status: 403,
                body: json!({
                    "message": format!(
                        "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
                    )
                })
                .to_string(),
            }
        });
        (answer, "IncompleteSignatureException")
    }
}

fn too_large(stamp: &Stamp) -> HttpResponse {
    gateway_answer(413, r#"{"message":"Request Entity Too Large"}"#, None, stamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    const TEMPLATE: &str = r#"
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        TABLE_NAME: !Ref UsersTable
        IGNORE_STAGE: "true"
        RETRIES: 2
        EMPTY: ""
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Me:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: me
    Properties:
      Events:
        Api:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /api/users/me, Method: GET}
        Preflight:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /api/users/me, Method: options}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
  Files:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: files
    Properties:
      Timeout: 30
      Events:
        Root: {Type: Api, Properties: {Path: /, Method: GET}}
        One: {Type: Api, Properties: {Path: "/files/{name}", Method: ANY}}
        Readme: {Type: Api, Properties: {Path: /files/readme, Method: GET}}
        Rest: {Type: Api, Properties: {Path: "/files/{name}/{proxy+}", Method: GET}}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      GatewayResponses:
        MISSING_AUTHENTICATION_TOKEN:
          StatusCode: 404
          ResponseTemplates:
            application/json: '{"message":"Not Found"}'
"#;

    fn api() -> Api {
        Api::from_template(TEMPLATE).unwrap()
    }

    /// Function, resource and path parameters.
    type Routed = (String, String, Vec<(String, String)>);

    fn routed(method: &str, path: &str) -> Option<Routed> {
        let api = api();
        let matched = api.route(method, path)?;
        let parameters = matched.path_parameters.into_iter().collect();
        Some((
            matched.route.function.clone(),
            matched.route.resource.clone(),
            parameters,
        ))
    }

    fn request(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_string),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.to_vec(),
            source_ip: "192.0.2.7".parse().unwrap(),
            local_address: "127.0.0.1:3100".parse().unwrap(),
        }
    }

    fn stamp() -> Stamp {
        Stamp {
            stage: "prod".into(),
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
            extended_request_id: "ATfSdF7nPHcErRA=".into(),
            received: UNIX_EPOCH + Duration::from_millis(1_428_582_896_123),
        }
    }

    fn event_of(api: &Api, request: &Request) -> Value {
        let matched = api.route(&request.method, &request.path).unwrap();
        event(&matched, request, &stamp())
    }

    #[test]
    fn the_template_gives_routes_timeouts_plain_variables_and_the_missing_route_answer() {
        let api = api();
        let routes: Vec<String> = api
            .routes
            .iter()
            .map(|r| format!("{} {} -> {}", r.method, r.resource, r.function))
            .collect();
        assert_eq!(
            routes,
            [
                "GET /api/users/me -> me",
                "OPTIONS /api/users/me -> me",
                "GET / -> files",
                "ANY /files/{name} -> files",
                "GET /files/readme -> files",
                "GET /files/{name}/{proxy+} -> files",
            ]
        );
        assert_eq!(api.timeouts["me"], Duration::from_secs(5));
        assert_eq!(api.timeouts["files"], Duration::from_secs(30));
        let environment: Vec<(&str, &str)> = api
            .environment
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(
            environment,
            [("IGNORE_STAGE", "true"), ("RETRIES", "2"), ("EMPTY", "")]
        );
        assert_eq!(
            api.missing_route,
            GatewayResponse {
                status: 404,
                body: r#"{"message":"Not Found"}"#.into()
            }
        );
    }

    #[test]
    fn without_a_gateway_response_a_missing_route_gets_api_gateways_403() {
        let api = Api::from_template("Resources: {Api: {Type: AWS::Serverless::Api}}").unwrap();
        assert_eq!(api.missing_route.status, 403);
        assert_eq!(
            api.missing_route.body,
            r#"{"message":"Missing Authentication Token"}"#
        );
        // With a Bearer header, the token is quoted back (why the template answers it).
        let bearer = HeaderValue::from_static("Bearer uat_abc");
        let (answer, error_type) = api.no_route(Some(&bearer));
        assert_eq!(error_type, "IncompleteSignatureException");
        assert_eq!(answer.status, 403);
        assert_eq!(
            answer.body,
            r#"{"message":"'uat_abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer uat_abc'."}"#
        );
        assert!(Api::from_template("Resources: {F: {Type: AWS::Serverless::Function}}").is_err());
    }

    #[test]
    fn the_projects_template_routes_every_function() {
        let text = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap();
        let api = Api::from_template(&text).unwrap();
        let matched = api.route("GET", "/api/users/me/").unwrap();
        assert_eq!(matched.route.function, "get-current-user");
        assert_eq!(api.missing_route.status, 404);
        // An unknown path with a Bearer header: the same 404, never the token quoted back.
        let bearer = HeaderValue::from_static("Bearer uat_abc");
        assert_eq!(api.no_route(Some(&bearer)).0, api.missing_route);
        assert!(
            api.timeouts
                .values()
                .all(|timeout| *timeout == Duration::from_secs(5))
        );
        assert!(
            api.environment
                .contains(&("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH".into(), "true".into()))
        );
        // Declared empty (for sam local invoke's --env-vars): never a key.
        assert!(
            api.environment
                .iter()
                .all(|(name, value)| name != "TOKEN_KEY" || value.is_empty())
        );
    }

    #[test]
    fn a_path_matches_its_resource_with_or_without_one_trailing_slash() {
        for path in ["/api/users/me", "/api/users/me/"] {
            assert_eq!(routed("GET", path).unwrap().1, "/api/users/me", "{path}");
        }
        assert_eq!(routed("OPTIONS", "/api/users/me/").unwrap().0, "me");
        for path in [
            "/api/users/me//",
            "/api/users",
            "/api/users/me/token",
            "/API/users/me",
            "",
            "*",
        ] {
            assert_eq!(routed("GET", path), None, "{path}");
        }
    }

    #[test]
    fn a_method_the_resource_lacks_has_no_route_unless_it_has_any() {
        assert_eq!(routed("POST", "/api/users/me"), None);
        assert_eq!(routed("HEAD", "/api/users/me"), None);
        assert_eq!(routed("DELETE", "/files/a").unwrap().1, "/files/{name}");
        // The literal resource wins the path, and has no POST: no fallback to `{name}`.
        assert_eq!(routed("POST", "/files/readme"), None);
    }

    #[test]
    fn variables_fill_path_parameters_and_literals_win() {
        let parameters = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(routed("GET", "/").unwrap().1, "/");
        assert_eq!(routed("GET", "/files/readme").unwrap().1, "/files/readme");
        let one = routed("GET", "/files/a%20b/").unwrap();
        assert_eq!(
            (one.1.as_str(), one.2),
            ("/files/{name}", parameters(&[("name", "a%20b")]))
        );
        let rest = routed("GET", "/files/a/b/c/").unwrap();
        assert_eq!(
            (rest.1.as_str(), rest.2),
            (
                "/files/{name}/{proxy+}",
                parameters(&[("name", "a"), ("proxy", "b/c/")])
            )
        );
        assert_eq!(routed("GET", "/files//x"), None);
    }

    #[test]
    fn the_event_is_a_rest_api_proxy_event() {
        let api = api();
        let request = request(
            "GET",
            "/api/users/me/",
            Some("a=1&a=2&b=x+y%2Bz&empty="),
            &[
                ("host", "127.0.0.1:3100"),
                ("user-agent", "curl/8.5.0"),
                ("cookie", "a=1"),
                ("cookie", "b=2"),
                ("x-forwarded-for", "203.0.113.1"),
            ],
            b"",
        );
        let event = event_of(&api, &request);
        assert_eq!(event["resource"], "/api/users/me");
        assert_eq!(event["path"], "/api/users/me/");
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["headers"]["cookie"], "b=2");
        assert_eq!(event["multiValueHeaders"]["cookie"], json!(["a=1", "b=2"]));
        assert_eq!(event["headers"]["x-forwarded-for"], "203.0.113.1, 192.0.2.7");
        assert_eq!(event["headers"]["x-forwarded-port"], "3100");
        assert_eq!(event["headers"]["x-forwarded-proto"], "http");
        assert_eq!(
            event["queryStringParameters"],
            json!({"a": "2", "b": "x y+z", "empty": ""})
        );
        assert_eq!(event["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
        for null in ["pathParameters", "stageVariables", "body"] {
            assert_eq!(event[null], Value::Null, "{null}");
        }
        assert_eq!(event["isBase64Encoded"], false);
        let context = &event["requestContext"];
        assert_eq!(context["path"], "/prod/api/users/me/");
        assert_eq!(context["resourcePath"], "/api/users/me");
        assert_eq!(context["stage"], "prod");
        assert_eq!(context["domainName"], "127.0.0.1:3100");
        assert_eq!(context["domainPrefix"], "127");
        assert_eq!(context["requestTime"], "09/Apr/2015:12:34:56 +0000");
        assert_eq!(context["requestTimeEpoch"], 1_428_582_896_123_u64);
        assert_eq!(context["identity"]["sourceIp"], "192.0.2.7");
        assert_eq!(context["identity"]["userAgent"], "curl/8.5.0");
        assert_eq!(context["identity"]["user"], Value::Null);
        assert_eq!(context["resourceId"].as_str().map(str::len), Some(6));
    }

    #[test]
    fn lambda_http_reads_the_event_as_the_request_that_was_sent() {
        let api = api();
        let request = request(
            "GET",
            "/files/a%20b/x/y",
            Some("q=1&q=2"),
            &[
                ("host", "127.0.0.1:3100"),
                ("authorization", "Bearer one"),
                ("authorization", "Bearer two"),
            ],
            b"{\"a\":1}",
        );
        let text = event_of(&api, &request).to_string();
        let parsed = lambda_http::request::from_str(&text).unwrap();
        assert_eq!(parsed.method(), "GET");
        assert!(
            parsed.uri().path().ends_with("/files/a%20b/x/y"),
            "{}",
            parsed.uri()
        );
        assert_eq!(parsed.headers()["authorization"], "Bearer two");
        assert_eq!(parsed.query_string_parameters().all("q"), Some(vec!["1", "2"]));
        assert_eq!(parsed.path_parameters().first("proxy"), Some("x/y"));
        assert_eq!(&parsed.body()[..], b"{\"a\":1}");
    }

    #[test]
    fn a_body_that_is_not_utf8_travels_in_base64() {
        let api = api();
        let bytes = [0xff, 0xfe, 0x00, 0x80];
        let event = event_of(&api, &request("GET", "/", None, &[], &bytes));
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], BASE64.encode(bytes));
        assert_eq!(event["queryStringParameters"], Value::Null);
        assert_eq!(event["requestContext"]["domainName"], "127.0.0.1:3100");
        let text = event_of(&api, &request("GET", "/", Some(""), &[], "λ".as_bytes()));
        assert_eq!(
            (&text["body"], &text["isBase64Encoded"]),
            (&json!("λ"), &json!(false))
        );
        assert_eq!(text["multiValueQueryStringParameters"], Value::Null);
    }

    #[test]
    fn every_set_cookie_value_is_a_header_line_and_base64_bodies_are_decoded() {
        let document = json!({
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "set-cookie": "b=2"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Cache-Control": ["no-store"]},
            "body": BASE64.encode([0xff, 0x00]),
            "isBase64Encoded": true,
        });
        let response = ProxyResponse::parse(&document.to_string()).unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.body, [0xff, 0x00]);
        let http = http_response(response, &stamp()).unwrap();
        let cookies: Vec<_> = http.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(http.headers()["content-type"], "text/plain");
        assert_eq!(http.headers()["content-length"], "2");
        assert_eq!(http.headers()["x-amzn-requestid"], stamp().request_id.as_str());
    }

    #[test]
    fn a_www_authenticate_challenge_reaches_the_client_remapped() {
        let document = json!({
            "statusCode": 401,
            "multiValueHeaders": {"www-authenticate": ["Bearer"], "retry-after": ["1"]},
            "body": "{}",
        });
        let http = http_response(ProxyResponse::parse(&document.to_string()).unwrap(), &stamp()).unwrap();
        assert_eq!(http.headers().get("www-authenticate"), None);
        assert_eq!(http.headers()["x-amzn-remapped-www-authenticate"], "Bearer");
        assert_eq!(http.headers()["retry-after"], "1");
    }

    #[test]
    fn a_minimal_answer_is_200_json_and_framing_is_the_gateways() {
        let response =
            ProxyResponse::parse(r#"{"body": "{}", "headers": {"Content-Length": "99"}}"#).unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, b"{}".as_slice())
        );
        let http = http_response(response, &stamp()).unwrap();
        assert_eq!(http.headers()["content-length"], "2");
        assert_eq!(http.headers()["content-type"], "application/json");
        let empty = ProxyResponse::parse(r#"{"statusCode": 204, "body": null}"#).unwrap();
        assert!(empty.body.is_empty());
    }

    #[test]
    fn an_answer_that_is_not_a_proxy_response_is_refused() {
        for document in [
            "not json",
            "[]",
            r#"{"statusCode": "200"}"#,
            r#"{"statusCode": 42}"#,
            r#"{"statusCode": 200, "body": {"a": 1}}"#,
            r#"{"statusCode": 200, "headers": {"a": 1}}"#,
            r#"{"statusCode": 200, "multiValueHeaders": {"a": "b"}}"#,
            r#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#,
            r#"{"statusCode": 200, "cookies": ["a=1"]}"#,
            // hello-world's echo of its event
            r#"{"resource": "/", "path": "/", "httpMethod": "GET", "body": null}"#,
        ] {
            assert!(ProxyResponse::parse(document).is_err(), "{document}");
        }
        let bad_header = ProxyResponse::parse(r#"{"headers": {"bad name": "x"}}"#).unwrap();
        assert!(http_response(bad_header, &stamp()).is_err());
    }

    #[test]
    fn a_host_must_be_a_host_name_and_port() {
        let with_host = |host: &str| {
            let mut headers = hyper::HeaderMap::new();
            headers.insert(HOST, HeaderValue::from_str(host).unwrap());
            valid_host(&headers)
        };
        assert!(valid_host(&hyper::HeaderMap::new()));
        for host in [
            "127.0.0.1:3000",
            "localhost",
            "abc.execute-api.us-east-1.amazonaws.com",
            "[::1]:80",
        ] {
            assert!(with_host(host), "{host}");
        }
        for host in ["bad host", "a@b", "", "x/y", "[::1"] {
            assert!(!with_host(host), "{host}");
        }
    }

    #[test]
    fn gateway_answers_are_json_with_their_error_type() {
        let answer = gateway_answer(
            404,
            r#"{"message":"Not Found"}"#,
            Some("MissingAuthenticationTokenException"),
            &stamp(),
        );
        assert_eq!(answer.status(), 404);
        assert_eq!(answer.headers()["content-type"], "application/json");
        assert_eq!(answer.headers()["content-length"], "23");
        assert_eq!(
            answer.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
    }

    #[test]
    fn only_source_files_count_as_changes() {
        let root = std::env::temp_dir().join(format!("local-api-sources-{}", std::process::id()));
        let write = |path: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        };
        write("shared/src/lib.rs");
        let before = sources(&root);
        for ignored in [
            "target/debug/x.rs",
            ".schemathesis/report.js",
            "shared/src/notes.txt",
            "README.md",
        ] {
            write(ignored);
        }
        assert_eq!(sources(&root), before);
        write("functions/f/src/main.rs");
        assert_ne!(sources(&root), before);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn only_sources_count_as_changes_never_tool_output() {
        let root = std::env::temp_dir().join(format!("sources-{}", crate::free_port()));
        for dir in [
            "shared/src",
            "functions/f/src",
            ".schemathesis/default/cache",
            "target/debug",
            "tests",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "shared/src/lib.rs",
            "functions/f/src/main.rs",
        ] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let before = sources(&root);
        // What tools write while `make run` serves: schemathesis' cache, build output, logs.
        for file in [
            ".schemathesis/default/cache/manifest.json",
            "target/debug/x.rs",
            "tests/out.json",
            "run.log",
        ] {
            std::fs::write(root.join(file), "{}").unwrap();
        }
        assert_eq!(sources(&root), before, "tool output is not a source change");
        std::fs::write(root.join("shared/src/new.rs"), "").unwrap();
        assert_ne!(sources(&root), before, "a new source file is");
        let _ = std::fs::remove_dir_all(&root);
    }
}
