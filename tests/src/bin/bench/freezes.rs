//! Connection life across freezes: a frozen environment whose idle connection the far end closed, and a connection the path dropped silently.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use testkit::proxy::FaultProxy;

use crate::*;

/// Connection life across freezes, in the Lambda-like setting: the far end closes idle
/// connections while the process is stopped; then a path that silently drops one.
pub(crate) fn freezes(
    bench: &mut Bench,
    lambda_like: &Setting,
    proxy: &dyn Fn(Duration, Option<Duration>) -> Arc<FaultProxy>,
    freeze: Duration,
    report: &mut String,
) {
    let closing = Setting {
        rtt: Duration::from_millis(1),
        proxy: proxy(Duration::from_millis(1), Some(SERVER_IDLE_CLOSE)),
        secret: None,
        ..lambda_like.clone()
    };
    let function = "get-current-user";
    let warm = bench.warm(function, &closing, 200);
    let p99 = percentile(&warm.latencies, 0.99);
    let (first, bare) = bench.bare("get", &closing, 50);
    let reconnect = first.saturating_sub(median(&bare));
    let (api, _) = bench.start(function, &closing);
    bench.invoke(&api, function);
    let signal = |name: &str| api.signal_function(name);
    let handshakes = closing.proxy.handshakes();
    signal("-STOP");
    std::thread::sleep(freeze);
    signal("-CONT");
    let thawed = bench.invoke(&api, function);
    let after_thaw = bench.invoke(&api, function);
    let reconnects = closing.proxy.handshakes() - handshakes;
    // The silent path: a NAT forgets the connection; no FIN, no RST.
    let handshakes = closing.proxy.handshakes();
    closing.proxy.silence_open_connections();
    let silenced = bench.invoke(&api, function);
    let after_silence = bench.invoke(&api, function);
    let silent_reconnects = closing.proxy.handshakes() - handshakes;
    let budget = p99 * 3 + reconnect;
    let attempt = shared::setup::aws::ATTEMPT_TIMEOUT;
    let _ = writeln!(
        report,
        "\n## Connection life across freezes ({}, {function}, ms)\n\nWarm p99 here {}; one reconnect (a fresh connection's first call minus a warm one, from `bare-call`) {}. The pool drops connections idle over {} s (shared/src/setup/aws.rs).\n\n| what | the request after it | the next request | new connections | goal |\n|---|---|---|---|---|\n| frozen {} s while the far end closed the idle connection at {} s | {} | {} | {reconnects} | {} |\n| the path silently drops the connection (no FIN, no RST) | {} | {} | {silent_reconnects} | {} |",
        closing.name(),
        ms(p99),
        ms(reconnect),
        shared::setup::aws::POOL_IDLE_TIMEOUT.as_secs(),
        freeze.as_secs(),
        SERVER_IDLE_CLOSE.as_secs(),
        ms(thawed),
        ms(after_thaw),
        if thawed <= budget {
            format!("≤ 3 × p99 + one reconnect = {}: met", ms(budget))
        } else {
            format!("**≤ 3 × p99 + one reconnect = {}: MISSED**", ms(budget))
        },
        ms(silenced),
        ms(after_silence),
        if silenced <= attempt + budget {
            format!("≤ one attempt timeout ({} ms) + that: met", attempt.as_millis())
        } else {
            format!(
                "**≤ one attempt timeout ({} ms) + that: MISSED**",
                attempt.as_millis()
            )
        },
    );
}
