//! CloudWatch metrics with no extra call: one line of the Embedded Metric Format (EMF) per
//! request on stdout, which Lambda sends to CloudWatch Logs and CloudWatch turns into metrics
//! ("To publish metrics from a function, write embedded metric format logs to STDOUT":
//! CloudWatch User Guide, CloudWatch_Embedded_Metric_Format_Lambda). The line has no
//! `level`, so Lambda's log-level filter counts it as INFO (Lambda Developer Guide,
//! monitoring-cloudwatchlogs-log-level): the template's `ApplicationLogLevel: INFO` keeps it.
//!
//! Namespace [`NAMESPACE`]; dimensions `FunctionName` and `Outcome` (the response's class,
//! never a credential, a user or a path); metrics `Requests`, `ColdStart`, `StoreLatency`
//! (milliseconds of DynamoDB calls in the request) and `StoreErrors`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use lambda_http::http::StatusCode;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::tokens::Refusal;

pub const NAMESPACE: &str = "UsersTokenApi";

/// What a response was, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome(&'static str);

impl Outcome {
    pub const SUCCESS: Self = Self("2xx");
    pub const BAD_REQUEST: Self = Self("400");
    pub const BAD_CREDENTIALS: Self = Self("401_credentials");
    pub const CSRF: Self = Self("403_csrf");
    pub const NOT_FOUND: Self = Self("404");
    pub const CONFLICT: Self = Self("409");
    pub const TOO_MANY_ATTEMPTS: Self = Self("429");
    /// The store was unreachable, timed out or throttled (503).
    pub const STORE_UNAVAILABLE: Self = Self("5xx_store");
    /// DynamoDB refused the request (a missing permission or table: 500).
    pub const STORE_REFUSED: Self = Self("5xx_store_refused");
    /// A damaged record or a bug (500).
    pub const INTERNAL: Self = Self("5xx_internal");

    /// A refused credential, by why (`401_forged`, `401_superseded`, ...).
    pub fn refused(reason: Refusal) -> Self {
        Self(match reason {
            Refusal::Missing => "401_missing",
            Refusal::Malformed => "401_malformed",
            Refusal::UnknownKey => "401_unknown_key",
            Refusal::Forged => "401_forged",
            Refusal::Expired => "401_expired",
            Refusal::Superseded => "401_superseded",
        })
    }

    /// The class of a response that did not say (a preflight, a 404 of the gateway's).
    pub fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Self::SUCCESS,
            404 => Self::NOT_FOUND,
            500.. => Self::INTERNAL,
            _ => Self::BAD_REQUEST,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether the store made the request fail (an outage, or a refusal of DynamoDB's).
    fn is_store_error(self) -> bool {
        self == Self::STORE_UNAVAILABLE || self == Self::STORE_REFUSED
    }
}

/// One request's figures.
#[derive(Debug)]
pub struct RequestMetrics<'a> {
    pub function: &'a str,
    pub outcome: Outcome,
    pub cold_start: bool,
    /// Milliseconds spent in DynamoDB calls, and how many calls.
    pub store_ms: f64,
    pub store_calls: u64,
    pub timestamp_ms: u128,
}

impl RequestMetrics<'_> {
    /// The EMF document (CloudWatch User Guide, CloudWatch_Embedded_Metric_Format_Specification),
    /// serialized from borrowed structs in one pass, its constant metric directives serialized
    /// once: building it as a `serde_json::Value` tree cost about 50,000 instructions a request
    /// more, and the directives alone about 12,000 (callgrind, `make instructions`).
    pub fn to_line(&self) -> String {
        // No calls, no latency: a refusal before any read must not drag the average down.
        let store_latency = (self.store_calls > 0).then_some(self.store_ms);
        let document = EmfDocument {
            aws: EmfMetadata {
                timestamp: self.timestamp_ms,
                cloud_watch_metrics: directives(store_latency.is_some()),
            },
            function_name: self.function,
            outcome: self.outcome.as_str(),
            requests: 1,
            cold_start: u8::from(self.cold_start),
            store_errors: u8::from(self.outcome.is_store_error()),
            store_latency,
        };
        // Plain structs of strings and numbers: serializing them cannot fail.
        serde_json::to_string(&document).unwrap_or_default()
    }
}

/// The `CloudWatchMetrics` directives, with or without `StoreLatency`, serialized once.
fn directives(with_store_latency: bool) -> &'static RawValue {
    static DIRECTIVES: OnceLock<[Box<RawValue>; 2]> = OnceLock::new();
    const ALL: [MetricDefinition; 4] = [
        MetricDefinition {
            name: "Requests",
            unit: "Count",
        },
        MetricDefinition {
            name: "ColdStart",
            unit: "Count",
        },
        MetricDefinition {
            name: "StoreErrors",
            unit: "Count",
        },
        MetricDefinition {
            name: "StoreLatency",
            unit: "Milliseconds",
        },
    ];
    let [without, with] = DIRECTIVES.get_or_init(|| {
        [&ALL[..3], &ALL[..]].map(|metrics| {
            let directive = [MetricDirective {
                namespace: NAMESPACE,
                dimensions: [&["FunctionName", "Outcome"], &["Outcome"]],
                metrics,
            }];
            // Constant strings: serializing them cannot fail.
            serde_json::value::to_raw_value(&directive).unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    });
    if with_store_latency { with } else { without }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfDocument<'a> {
    #[serde(rename = "_aws")]
    aws: EmfMetadata<'a>,
    function_name: &'a str,
    outcome: &'a str,
    requests: u8,
    cold_start: u8,
    store_errors: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_latency: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EmfMetadata<'a> {
    timestamp: u128,
    cloud_watch_metrics: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDirective<'a> {
    namespace: &'a str,
    dimensions: [&'a [&'a str]; 2],
    metrics: &'a [MetricDefinition],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDefinition {
    name: &'static str,
    unit: &'static str,
}

/// Time spent in DynamoDB since [`Recorder::start_request`], from an SDK interceptor on the
/// functions' client. A function serves one request at a time and makes one store call at a
/// time, so one clock is enough.
pub struct StoreTiming {
    started: Mutex<Option<Instant>>,
}

static STORE_MICROS: AtomicU64 = AtomicU64::new(0);
static STORE_CALLS: AtomicU64 = AtomicU64::new(0);

impl StoreTiming {
    pub fn new() -> Self {
        Self {
            started: Mutex::new(None),
        }
    }
}

impl Default for StoreTiming {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StoreTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreTiming")
    }
}

impl Intercept for StoreTiming {
    fn name(&self) -> &'static str {
        "StoreTiming"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(started) = self.started.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            STORE_MICROS.fetch_add(micros, Ordering::Relaxed);
            STORE_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Counts one function's requests: the first one after init is its cold start.
pub struct Recorder {
    function: String,
    cold: AtomicBool,
}

impl Recorder {
    /// For the function Lambda names in `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn from_env() -> Self {
        Self {
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into()),
            cold: AtomicBool::new(true),
        }
    }

    /// A request begins: the store clock starts from zero (the init's warm-up is not its).
    pub fn start_request(&self) {
        STORE_MICROS.store(0, Ordering::Relaxed);
        STORE_CALLS.store(0, Ordering::Relaxed);
    }

    /// The request ended with `response`: its EMF line, on stdout. The outcome is the one the
    /// handler put on the response, else its status's class.
    pub fn finish_request<B>(&self, response: &lambda_http::Response<B>) {
        let outcome = response
            .extensions()
            .get::<Outcome>()
            .copied()
            .unwrap_or_else(|| Outcome::of_status(response.status()));
        let metrics = RequestMetrics {
            function: &self.function,
            outcome,
            cold_start: self.cold.swap(false, Ordering::Relaxed),
            store_ms: STORE_MICROS.load(Ordering::Relaxed) as f64 / 1000.0,
            store_calls: STORE_CALLS.load(Ordering::Relaxed),
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis())
                .unwrap_or_default(),
        };
        println!("{}", metrics.to_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_line_is_the_emf_document_cloudwatch_reads() {
        let line = RequestMetrics {
            function: "users-prod-Login",
            outcome: Outcome::refused(Refusal::Forged),
            cold_start: true,
            store_ms: 2.5,
            store_calls: 1,
            timestamp_ms: 1_764_000_000_000,
        }
        .to_line();
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({
                "_aws": {
                    "Timestamp": 1_764_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "UsersTokenApi",
                        "Dimensions": [["FunctionName", "Outcome"], ["Outcome"]],
                        "Metrics": [
                            {"Name": "Requests", "Unit": "Count"},
                            {"Name": "ColdStart", "Unit": "Count"},
                            {"Name": "StoreErrors", "Unit": "Count"},
                            {"Name": "StoreLatency", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "FunctionName": "users-prod-Login",
                "Outcome": "401_forged",
                "Requests": 1,
                "ColdStart": 1,
                "StoreErrors": 0,
                "StoreLatency": 2.5
            })
        );
        assert!(!line.contains('\n'), "one line");
    }

    fn metrics_of(outcome: Outcome) -> RequestMetrics<'static> {
        RequestMetrics {
            function: "f",
            outcome,
            cold_start: false,
            store_ms: 0.0,
            store_calls: 0,
            timestamp_ms: 0,
        }
    }

    #[test]
    fn without_a_store_call_there_is_no_latency_and_a_store_outage_is_a_store_error() {
        let line = metrics_of(Outcome::STORE_UNAVAILABLE).to_line();
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["StoreErrors"], 1);
        assert_eq!(parsed["ColdStart"], 0);
        for (outcome, store_error) in [
            (Outcome::STORE_REFUSED, 1),
            (Outcome::INTERNAL, 0),
            (Outcome::SUCCESS, 0),
        ] {
            let line = RequestMetrics {
                outcome,
                ..metrics_of(Outcome::SUCCESS)
            }
            .to_line();
            let parsed: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(parsed["StoreErrors"], store_error, "{outcome:?}");
        }
        assert!(parsed.get("StoreLatency").is_none());
        let names: Vec<&str> = parsed["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|metric| metric["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Requests", "ColdStart", "StoreErrors"]);
    }
}
