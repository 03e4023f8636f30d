//! Logging for the functions: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG` as a level; `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines), with one rule
//! of our own: the libraries that log whole requests and responses at TRACE never do.

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Held at DEBUG whatever the level asked for: at TRACE they log what passes through them.
/// `lambda_runtime` logs every raw event (Authorization header and cookies included); the
/// SDK's runtime, HTTP client and signer log whole DynamoDB and Secrets Manager requests and
/// responses (nonces, personal data, keys).
const HELD_AT_DEBUG: [&str; 9] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
];

/// The filter for a requested level (INFO when unset or unreadable).
fn filter(level: Option<&str>) -> Targets {
    let level = level
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let held = level.min(LevelFilter::from(Level::DEBUG));
    HELD_AT_DEBUG
        .iter()
        .fold(Targets::new().with_default(level), |targets, target| {
            targets.with_target(*target, held)
        })
}

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter(level.as_deref()));
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time();
    if json {
        registry.with(format.json()).init();
    } else {
        registry.with(format).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_logs_whole_requests_never_passes_the_filter_at_trace() {
        let trace = filter(Some("trace"));
        assert!(trace.would_enable("shared::store", &Level::TRACE));
        for target in [
            "lambda_runtime::layers::api_response",
            "aws_smithy_runtime::client::orchestrator",
            "aws_sigv4::http_request::sign",
            "aws_smithy_http_client::client",
        ] {
            assert!(!trace.would_enable(target, &Level::TRACE), "{target}");
            assert!(trace.would_enable(target, &Level::DEBUG), "{target}");
        }
    }

    #[test]
    fn the_level_defaults_to_info() {
        let default = filter(None);
        assert!(default.would_enable("shared", &Level::INFO));
        assert!(!default.would_enable("shared", &Level::DEBUG));
        assert!(!filter(Some("warn")).would_enable("shared", &Level::INFO));
    }
}
