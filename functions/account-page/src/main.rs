use lambda_http::service_fn;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    lambda_http::run(service_fn(|request| async {
        Ok::<_, std::convert::Infallible>(shared::page::account_page(request).await)
    }))
    .await
}
