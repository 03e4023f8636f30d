//! Logging for the functions: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG` as a level; `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines), with one rule
//! of our own: the runtime's raw-event log line is never written.

use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// At TRACE, `lambda_runtime` logs every raw event, Authorization header and cookies
/// included: that target is held at DEBUG whatever the level asked for.
const RAW_EVENT_TARGET: &str = "lambda_runtime::layers::api_response";

/// The filter for a requested level (INFO when unset or unreadable).
fn filter(level: Option<&str>) -> Targets {
    let level = level
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    Targets::new()
        .with_default(level)
        .with_target(RAW_EVENT_TARGET, level.min(LevelFilter::from(Level::DEBUG)))
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
    fn the_raw_event_line_never_passes_the_filter() {
        let trace = filter(Some("trace"));
        assert!(trace.would_enable("shared::store", &Level::TRACE));
        assert!(!trace.would_enable(RAW_EVENT_TARGET, &Level::TRACE));
        assert!(trace.would_enable(RAW_EVENT_TARGET, &Level::DEBUG));
    }

    #[test]
    fn the_level_defaults_to_info() {
        let default = filter(None);
        assert!(default.would_enable("shared", &Level::INFO));
        assert!(!default.would_enable("shared", &Level::DEBUG));
        assert!(!filter(Some("warn")).would_enable("shared", &Level::INFO));
    }
}
