use shared::http::{handlers, serve_app};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::obs::logging::init();
    let (app, origins) = shared::setup::from_env().await?;
    serve_app(app, origins, handlers::regenerate_access_token).await
}
