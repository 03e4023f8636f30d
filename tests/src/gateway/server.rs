//! The HTTP/1.1 server (hyper) in front of it all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::http::uri::Authority;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use super::*;

/// The gateway: routes, functions and the stage name requests carry.
pub struct Gateway {
    pub api: Api,
    pub functions: Arc<Functions>,
    pub stage: String,
}

type HttpResponse = hyper::Response<Full<Bytes>>;

/// The headers API Gateway adds to its answers (`x-amzn-RequestId`, `x-amzn-ErrorType`).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Serves HTTP/1.1 (keep-alive, any number of connections) on `listener`, for ever.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // E.g. out of file descriptors: keep serving the open connections.
                eprintln!("local-api: accept: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(local_address) = stream.local_addr() else {
            continue;
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.answer(request, peer, local_address).await) }
            });
            // Errors here are the client's (a reset, a malformed request): hyper has
            // answered what could be answered.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Gateway {
    async fn answer(
        &self,
        request: hyper::Request<Incoming>,
        peer: SocketAddr,
        local_address: SocketAddr,
    ) -> HttpResponse {
        let stamp = Stamp::new(&self.stage);
        let (parts, body) = request.into_parts();
        let declared_length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > MAX_BODY as u64) {
            return too_large(&stamp);
        }
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => return too_large(&stamp),
            // The client went away mid-body: nobody reads this answer.
            Err(_) => return gateway_answer(400, BAD_REQUEST, None, &stamp),
        };
        if !valid_host(&parts.headers) {
            return gateway_answer(400, BAD_REQUEST, None, &stamp);
        }
        let Some(matched) = self.api.route(parts.method.as_str(), parts.uri.path()) else {
            let (answer, error_type) = self.api.no_route(parts.headers.get(AUTHORIZATION));
            return gateway_answer(answer.status, &answer.body, Some(error_type), &stamp);
        };
        let request = Request::received(&parts, &body, peer, local_address);
        let function = matched.route.function.clone();
        let event = event(&matched, &request, &stamp).to_string();
        let outcome = match self.functions.pool(&function) {
            Some(pool) => tokio::task::spawn_blocking(move || pool.invoke(&event))
                .await
                .unwrap_or_else(|error| {
                    Err(IntegrationError::Local(format!(
                        "the invocation panicked: {error}"
                    )))
                }),
            None => Err(IntegrationError::Local("no such function".into())),
        };
        let response = outcome.and_then(|document| {
            let response = ProxyResponse::parse(&document).map_err(IntegrationError::Malformed)?;
            http_response(response, &stamp).map_err(IntegrationError::Malformed)
        });
        response.unwrap_or_else(|error| {
            eprintln!(
                "local-api: {function}: {error} (request {}: 502)",
                stamp.request_id
            );
            let error_type = Some("InternalServerErrorException");
            gateway_answer(502, r#"{"message": "Internal server error"}"#, error_type, &stamp)
        })
    }
}

const BAD_REQUEST: &str = r#"{"message":"Bad Request"}"#;

/// Whether the Host header, if any, is a host name and port. Behind API Gateway it is always
/// the API's domain name; lambda_http cannot build a request URL from anything else.
pub(super) fn valid_host(headers: &hyper::HeaderMap) -> bool {
    headers.get(HOST).is_none_or(|host| {
        host.to_str()
            .ok()
            .and_then(|host| host.parse::<Authority>().ok())
            .is_some_and(|authority| !authority.as_str().contains('@'))
    })
}

/// The function's response on the wire. API Gateway frames the body itself (Content-Length)
/// and defaults the content type to JSON.
pub(super) fn http_response(response: ProxyResponse, stamp: &Stamp) -> Result<HttpResponse, String> {
    let mut builder = hyper::Response::builder().status(response.status);
    let mut has_content_type = false;
    for (name, value) in &response.headers {
        let name = name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        has_content_type |= name == "content-type";
        builder = builder.header(name, value);
    }
    if !has_content_type {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    builder
        .header(CONTENT_LENGTH, response.body.len())
        .header(REQUEST_ID, &stamp.request_id)
        .body(Full::new(Bytes::from(response.body)))
        .map_err(|error| format!("invalid header: {error}"))
}

/// An answer of API Gateway's own.
pub(super) fn gateway_answer(
    status: u16,
    body: &str,
    error_type: Option<&'static str>,
    stamp: &Stamp,
) -> HttpResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, body.len().into());
    if let Ok(id) = HeaderValue::from_str(&stamp.request_id) {
        headers.insert(REQUEST_ID, id);
    }
    if let Some(error_type) = error_type {
        headers.insert(ERROR_TYPE, HeaderValue::from_static(error_type));
    }
    response
}

impl Api {
    /// API Gateway's answer to a request no route takes, and its error type. A REST API
    /// reads an `Authorization` header there as a SigV4 signature, so a Bearer client gets
    /// IncompleteSignatureException ("'<token>' not a valid key=value pair (missing
    /// equal-sign) in Authorization header: 'Bearer <token>'.": HumanCellAtlas/data-store#328,
    /// amazon-archives/aws-cognito-angular-quickstart#50) unless the template answers it.
    pub fn no_route(&self, authorization: Option<&HeaderValue>) -> (GatewayResponse, &'static str) {
        let Some(header) = authorization else {
            return (self.missing_route.clone(), "MissingAuthenticationTokenException");
        };
        let answer = self.incomplete_signature.clone().unwrap_or_else(|| {
            let header = String::from_utf8_lossy(header.as_bytes()).into_owned();
            let pair = header.split_once(' ').map_or(header.as_str(), |(_, rest)| rest);
            GatewayResponse {
                status: 403,
                body: json!({
                    "message": format!(
                        "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
                    )
                })
                .to_string(),
            }
        });
        (answer, "IncompleteSignatureException")
    }
}

pub(super) fn too_large(stamp: &Stamp) -> HttpResponse {
    gateway_answer(413, r#"{"message":"Request Entity Too Large"}"#, None, stamp)
}
