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

/// What [`FaultyProxy`] does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers `404 {"message":"Not Found"}` for every path that ends in `/` (but `/`), as a
    /// stage whose routes lost their trailing-slash form would.
    SlashPaths404,
    /// Drops the 401 challenge, under both its names.
    DropChallenge,
    /// Never answers the first request (holds it open); forwards the others.
    HangFirst,
    /// Never answers any request.
    HangAll,
}

/// An HTTP proxy on a free loopback port in front of `upstream`, getting one thing wrong on
/// purpose: a broken stack for a deployment check to catch. One request per connection.
pub struct FaultyProxy {
    pub base_url: String,
    /// How many requests it has held without answering.
    pub held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultyProxy {
    pub fn start(upstream: &str, fault: Fault) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or_default();
        let held = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&held);
        let upstream = upstream.trim_end_matches('/').to_string();
        std::thread::spawn(move || {
            let seen = AtomicUsize::new(0);
            for stream in listener.incoming().map_while(Result::ok) {
                let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
                let hang = fault == Fault::HangAll || (fault == Fault::HangFirst && first);
                let (upstream, counter) = (upstream.clone(), Arc::clone(&counter));
                std::thread::spawn(move || {
                    if hang {
                        counter.fetch_add(1, Ordering::SeqCst);
                        // Held open, never answered, until the client gives up.
                        let _ = std::io::copy(&mut &stream, &mut std::io::sink());
                        return;
                    }
                    let _ = forward(stream, &upstream, fault);
                });
            }
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            held,
        }
    }
}

/// One request from `stream` to `upstream` and its answer back, with the fault applied.
fn forward(mut stream: std::net::TcpStream, upstream: &str, fault: Fault) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("GET").to_string(),
        parts.next().unwrap_or("/").to_string(),
    );
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if !["host", "content-length", "connection"].contains(&name.as_str()) {
                headers.push((name, value));
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let reply = if fault == Fault::SlashPaths404 && path.len() > 1 && path.ends_with('/') {
        Reply {
            status: 404,
            headers: vec![("content-type".into(), "application/json".into())],
            text: r#"{"message":"Not Found"}"#.into(),
        }
    } else {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut reply = if body.is_empty() {
            send(upstream, &method, &path, &headers, ())
        } else {
            send(upstream, &method, &path, &headers, body)
        };
        if fault == Fault::DropChallenge {
            reply
                .headers
                .retain(|(name, _)| !name.ends_with("www-authenticate"));
        }
        reply
    };
    let mut head = format!("HTTP/1.1 {} Proxied\r\n", reply.status);
    for (name, value) in &reply.headers {
        if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        reply.text.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(reply.text.as_bytes())
}
