//! The cost at init of reading the token key from Secrets Manager.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use testkit::KEY;

use crate::*;

/// What reading the key from Secrets Manager at init costs: the same cold start with the key
/// in the environment and in a secret (moto behind a TLS proxy with the setting's RTT), and
/// each store's first call alone (`bare-call`: connect, handshake, one request, at the
/// init's CPU).
pub(crate) fn key_from_secret(
    runtime: &tokio::runtime::Runtime,
    bench: &mut Bench,
    settings: &[Setting],
    runs: usize,
    report: &mut String,
) {
    let arn = runtime.block_on(testkit::create_secret(
        &format!("bench-key-{}", std::process::id()),
        KEY,
    ));
    let _ = writeln!(
        report,
        "\n## The key from Secrets Manager at init ({runs} runs each, medians, ms)\n\nThe key is read concurrently with the DynamoDB warm-up, over the same HTTPS client, so init should grow by at most the difference between the two first calls (each measured alone by `bare-call`: connection, TLS handshake, one request), not by their sum. Secrets Manager here is moto (a Python server, slower per request than the real one) behind its own TLS proxy with the same RTT.\n\n| setting | init, key in environment | init, key from the secret | growth | first DynamoDB call alone | first GetSecretValue alone |\n|---|---|---|---|---|---|"
    );
    for setting in settings.iter().filter(|s| s.rtt == Duration::from_millis(1)) {
        let with_secret = Setting {
            secret: Some(Arc::new(KeySecret {
                arn: arn.clone(),
                proxy: tls_proxy(testkit::moto().address(), &bench.ca, setting.rtt, None),
            })),
            ..setting.clone()
        };
        let from_env = bench.cold("get-current-user", setting, runs);
        let from_secret = bench.cold("get-current-user", &with_secret, runs);
        // The first calls stand for an init's, so they run at the init's CPU.
        let at_init = |setting: &Setting| Setting {
            invocation_cpu: None,
            ..setting.clone()
        };
        let (store_first, _) = bench.bare("get", &at_init(setting), 1);
        let (secret_first, _) = bench.bare("secret", &at_init(&with_secret), 1);
        let (env_init, secret_init) = (median(&from_env.init), median(&from_secret.init));
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} |",
            setting.name(),
            ms(env_init),
            ms(secret_init),
            ms(secret_init.saturating_sub(env_init)),
            ms(store_first),
            ms(secret_first)
        );
        eprintln!("key from the secret measured: {}", setting.name());
    }
}
