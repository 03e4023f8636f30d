use shared::{App, api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = App::from_env().await?;
    app.serve(api::logout).await
}
