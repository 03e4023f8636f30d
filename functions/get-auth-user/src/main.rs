use shared::{App, api};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    app.serve(api::get_auth_user).await
}
