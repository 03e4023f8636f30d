//! The one serving loop: the Lambda runtime, and around every request its CORS headers,
//! its metrics line and the origin of its audit events. The API's functions and the page
//! run the same loop.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::http::header::ORIGIN;
use lambda_http::{Body, Request, Response, service_fn};

use super::cors::AllowedOrigins;
use crate::App;
use crate::obs::audit;
use crate::obs::metrics::Recorder;

/// Serves `handler` with the Lambda runtime until the process ends. Every answer gets one
/// metrics line ([`crate::obs::metrics`]) and, with `origins`, the CORS headers its request's
/// origin is due (the page, only ever loaded from its own origin, has none); audit events
/// raised while handling a request carry its API Gateway request id and source address.
pub async fn serve<F, Fut>(origins: Option<AllowedOrigins>, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    // Both live as long as the process, so they are leaked rather than reference-counted.
    let origins: &'static Option<AllowedOrigins> = Box::leak(Box::new(origins));
    let metrics: &'static Recorder = Box::leak(Box::new(Recorder::from_env()));
    lambda_http::run(service_fn(move |request: Request| {
        let origin = request.headers().get(ORIGIN).cloned();
        metrics.start_request();
        let origin_of_events = audit::Origin::of(&request);
        // Boxed at once: a handler's future holds the SDK's (kilobytes), and every layer
        // that wrapped it unboxed (the audit scope, this block, lambda_http's box) copied it
        // whole: about 70,000 instructions a request (callgrind, `make instructions`).
        let response = audit::within(origin_of_events, Box::pin(handler(request)));
        async move {
            let mut response = response.await;
            if let Some(origins) = origins {
                origins.decorate(origin.as_ref(), response.headers_mut());
            }
            metrics.finish_request(&response);
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}

/// [`serve`] for a handler of the service (`app` lives as long as the process).
pub async fn serve_app<F, Fut>(
    app: App,
    origins: AllowedOrigins,
    handler: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let app: &'static App = Box::leak(Box::new(app));
    serve(Some(origins), move |request| handler(app, request)).await
}
