//! The deployment check's HTTP client: HTTPS with the system's trust roots (a deployed API's
//! certificate is a public one), a time limit on every request, and no retries, since a
//! retry could hide the failure the check is there to see.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An answer: status, headers, and the body as text.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The first value of a header, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Every value of a header (`Set-Cookie`).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect()
    }

    /// The 401 challenge under whichever name arrives: a REST API hands a Lambda proxy
    /// integration's `WWW-Authenticate` over as `x-amzn-Remapped-WWW-Authenticate`.
    pub fn challenge(&self) -> Option<&str> {
        self.header("www-authenticate")
            .or_else(|| self.header("x-amzn-remapped-www-authenticate"))
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The API under test, at its base URL (the stage included, no trailing `/`).
pub struct Api {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base_url: String,
    timeout: Duration,
}

impl Api {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        use anyhow::Context;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .context("cannot read the system's trust roots")?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            // hyper would send a request again on a pooled connection the server had closed.
            .retry_canceled_requests(false)
            .build(https);
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    /// `method path` with these headers and body, within the time limit; the error says
    /// what went wrong (never a header's value: they hold credentials).
    pub async fn send(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base_url);
        let mut request = Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|error| error.to_string())?;
            let value = HeaderValue::from_str(value).map_err(|_| format!("an unsendable {name} header"))?;
            request = request.header(name, value);
        }
        let body = match body {
            Some((content_type, text)) => {
                request = request.header("content-type", content_type);
                Full::new(Bytes::from(text))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|error| format!("cannot make the request: {error}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| format!("no answer: {}", source_chain(&error)))?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|error| format!("the answer broke off: {error}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", self.timeout.as_secs_f32())))
    }
}

/// An error and its causes, in one line (hyper's own says only "client error (Connect)").
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
