//! Plain HTTP/1.1 requests to an API on this machine (no TLS: loopback only), whatever the
//! status: what the end-to-end suites and the examples' checks send.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// An answer: status, headers (lower-case names, in order, repeated ones each), body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Reply {
    /// The body as JSON, or the text as a JSON string when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| Value::String(self.text.clone()))
    }

    /// The first value of the header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(header, _)| header == name);
        found.map(|(_, value)| value.as_str())
    }

    /// Every value of the header (`Set-Cookie`), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The headers by name (the last of repeated ones).
    pub fn header_map(&self) -> BTreeMap<String, String> {
        self.headers.iter().cloned().collect()
    }
}

/// `method base_url+path` with these headers and body; fails the caller if nothing answers.
pub fn send(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl ureq::AsSendBody,
) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base_url}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body).expect("a valid request");
    let mut response = agent
        .run(request)
        .unwrap_or_else(|error| panic!("{method} {base_url}{path}: {error}"));
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or_default().to_string();
            (name.as_str().to_string(), value)
        })
        .collect();
    Reply {
        status: response.status().as_u16(),
        headers,
        text: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// [`send`] without a body.
pub fn call(base_url: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(base_url, method, path, headers, ())
}
