//! The token keys read from Secrets Manager (moto's server, a real emulator): how often a
//! process reads the secret. Each read is a request on the function's request path, so a
//! flood of made-up key ids must not become a flood of Secrets Manager calls.

use shared::tokens::KeyId;
use shared::vault::Keys;
use testkit::RequestCounter;

const KEY: &str = "a key in the secret, at least 32 bytes long";

fn counted_client(requests: &RequestCounter) -> aws_sdk_secretsmanager::Client {
    let config = testkit::secrets_client()
        .config()
        .to_builder()
        .interceptor(requests.clone())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

#[tokio::test]
async fn unknown_key_ids_cost_one_read_of_the_secret_a_minute_at_most() {
    let arn = testkit::create_secret(&format!("reads-{}", testkit::free_port()), KEY).await;
    let requests = RequestCounter::default();
    let keys = Keys::from_secret(counted_client(&requests), arn).await.unwrap();
    assert_eq!(requests.take(), 1, "init reads AWSCURRENT alone");

    // A known key id, or none: no read.
    let current = keys.ring().current().id();
    keys.current(Some(current)).await;
    keys.current(None).await;
    assert_eq!(requests.take(), 0);

    // Made-up key ids: the first is worth a read of both versions, the next ones within the
    // minute are not.
    for n in 0..20u8 {
        let made_up = KeyId::from_bytes(&[n, 0xde, 0xad, 0x01]).unwrap();
        let ring = keys.current(Some(made_up)).await;
        assert!(ring.key(made_up).is_none());
    }
    assert_eq!(
        requests.take(),
        2,
        "one read (AWSCURRENT and AWSPREVIOUS) for twenty unknown ids"
    );
}
