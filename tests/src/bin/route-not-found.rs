//! API Gateway's answer to a path with no route, for the local router of `make run`
//! (the deployed stack gets it from API Gateway itself).

use std::convert::Infallible;

use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Infallible>(shared::responses::route_not_found())
    }))
    .await
}
