use shared::http::{page, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::obs::logging::init();
    // No store, no key and no CORS: the page is only ever loaded from its own origin.
    serve(None, page::account_page).await
}
