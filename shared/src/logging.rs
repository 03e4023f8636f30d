//! Logging for the functions: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! `AWS_LAMBDA_LOG_FORMAT=JSON`), as `lambda_runtime`'s default subscriber reads them, with
//! one difference: the runtime's raw-event log line is never written.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// At TRACE, `lambda_runtime` logs every raw event, Authorization header and cookies
/// included: that target is held at DEBUG whatever the level asked for.
const RAW_EVENT_TARGET_CAP: &str = "lambda_runtime::layers::api_response=debug";

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let mut filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    if let Ok(cap) = RAW_EVENT_TARGET_CAP.parse() {
        filter = filter.add_directive(cap);
    }
    let subscriber = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cap_is_a_valid_directive() {
        assert!(
            super::RAW_EVENT_TARGET_CAP
                .parse::<tracing_subscriber::filter::Directive>()
                .is_ok()
        );
    }
}
