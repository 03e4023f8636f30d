//! An [`App`] on a fresh table of the test binary's DynamoDB Local, and request helpers.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::App;
use shared::app::NewSession;
use shared::setup::{Settings, aws_sdk_config};
use shared::store::Store;
use shared::tokens::{AccessToken, KeyRing, TokenKey};
use shared::users::{NewUser, User};
use shared::vault::Keys;

use crate::RequestCounter;

/// The key every test app derives tokens with.
pub const KEY: &str = "test-only-key-0123456789abcdef0123456789";

pub struct TestApp {
    pub app: App,
    pub requests: RequestCounter,
}

impl TestApp {
    /// An app on a new, empty table of the shared DynamoDB Local.
    pub async fn new() -> Self {
        Self::with_ttl(None).await
    }

    pub async fn with_ttl(token_ttl_seconds: Option<u64>) -> Self {
        let table = format!("users-{}", shared::tokens::new_user_id().unwrap().simple());
        let test = Self::on(crate::dynamodb_local().endpoint(), &table, token_ttl_seconds).await;
        // With patient timeouts: making the table is set-up, not what a test is about.
        Store::new(patient_client(crate::dynamodb_local().endpoint()).await, &table)
            .create_table()
            .await
            .expect("create the test table");
        test.requests.take();
        test
    }

    /// An app on any endpoint and table (which may not exist).
    pub async fn on(endpoint: &str, table: &str, token_ttl_seconds: Option<u64>) -> Self {
        let key = TokenKey::new(KEY.as_bytes()).expect("the test key is long enough");
        Self::with_keys(endpoint, table, token_ttl_seconds, KeyRing::single(key)).await
    }

    /// An app with these keys (a rotation: another app on the same table with other keys).
    pub async fn with_keys(
        endpoint: &str,
        table: &str,
        token_ttl_seconds: Option<u64>,
        keys: KeyRing,
    ) -> Self {
        let requests = RequestCounter::default();
        let client = Client::from_conf(
            local_client_config(endpoint)
                .await
                .interceptor(requests.clone())
                .build(),
        );
        let ttl = token_ttl_seconds.map(|seconds| seconds.to_string());
        let settings = Settings::from_lookup(|name| match name {
            "TABLE_NAME" => Some(table.to_string()),
            "TOKEN_KEY" => Some(KEY.to_string()),
            "TOKEN_TTL_SECONDS" => ttl.clone(),
            _ => None,
        })
        .expect("test settings");
        let store = Store::new(client, settings.table_name.clone());
        Self {
            app: App::new(store, Keys::fixed(keys), settings.policy()),
            requests,
        }
    }

    pub async fn user(&self, email: &str) -> (User, AccessToken) {
        let new = NewUser {
            email: email.into(),
            ..NewUser::default()
        };
        let created = self.app.create_user(new).await.expect("create user");
        self.requests.take();
        created
    }

    pub async fn session(&self, user: &User, ttl: Duration) -> NewSession {
        let session = self
            .app
            .create_session(user.id, ttl)
            .await
            .expect("create session")
            .expect("user exists");
        self.requests.take();
        session
    }
}

/// The production SDK configuration (timeouts, retries), pointed at a local endpoint.
async fn local_client_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(&aws_sdk_config().await)
        .endpoint_url(endpoint)
        .credentials_provider(crate::local_credentials())
}

/// A client on a local endpoint with time to spare (30 s an attempt, five attempts), for
/// set-up and waiting: never what a test's assertions run through.
pub async fn patient_client(endpoint: &str) -> Client {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(150))
        .build();
    let config = local_client_config(endpoint)
        .await
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .build();
    Client::from_conf(config)
}

/// A plain client on a local endpoint, to look at the table directly.
pub async fn local_client(endpoint: &str) -> Client {
    Client::from_conf(local_client_config(endpoint).await.build())
}

pub fn request(method: &str, path: &str, headers: &[(&str, String)]) -> Request {
    let mut builder = lambda_http::http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::Empty).expect("a valid test request")
}

pub fn bearer(token: &impl std::fmt::Display) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// The cookies and header a browser with this session sends on a POST.
pub fn session_headers(session: &NewSession, with_csrf: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![(
        "cookie",
        format!(
            "sessionid={}; csrftoken={}",
            session.session_id, session.csrf_token
        ),
    )];
    if with_csrf {
        headers.push(("x-csrftoken", session.csrf_token.clone()));
    }
    headers
}

/// Status and JSON body; fails the test unless the response is `application/json`.
pub fn parts(response: &Response<Body>) -> (u16, Value) {
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("a JSON body"),
        other => panic!("not a text body: {other:?}"),
    };
    (response.status().as_u16(), body)
}

pub fn header<'r>(response: &'r Response<Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|value| value.to_str().ok())
}
