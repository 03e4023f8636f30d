//! `make run` stays up while its functions are reloaded (a source change): a request caught
//! by a reload is answered by the instance that took it, new ones go to new instances, and
//! none hangs. (Which files count as a change is `gateway`'s unit test: tool output such as
//! `.schemathesis/` never does.)

use std::sync::Arc;
use std::time::Duration;

use testkit::gateway::{Api, Functions};
use testkit::{TestApp, dynamodb_local, free_port, workspace_root};

#[test]
fn requests_caught_by_reloads_are_all_answered() {
    // The instances inherit this process's environment (as `make run`'s do the script's).
    let table = format!("reload-{}", free_port());
    for (name, value) in testkit::function_settings(&table) {
        // SAFETY: this binary's only test, before it starts any thread of its own.
        unsafe { std::env::set_var(name, value) };
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(async {
        let test = TestApp::on(dynamodb_local().endpoint(), &table, None).await;
        test.app.store().create_table().await.unwrap();
        test.user("ann@example.com").await.1.to_string()
    });

    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let api = Api::from_template(&template).unwrap();
    let functions = Arc::new(Functions::new(&api, &workspace_root().join("target/debug"), 4));
    let pool = functions.pool("get-current-user").unwrap();
    let event = testkit::bearer_event("get-current-user", &token);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (pool, event) = (Arc::clone(&pool), event.clone());
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| pool.invoke(&event).map_err(|error| error.to_string()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // Three reloads while the clients are busy, as a source change would cause.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        functions.reload();
    }
    for client in clients {
        for answer in client.join().unwrap() {
            // Within the function's timeout (the pool's own limit): an answer, a 200.
            let document = answer.unwrap_or_else(|error| panic!("a request got no answer: {error}"));
            let response: serde_json::Value = serde_json::from_str(&document).unwrap();
            assert_eq!(response["statusCode"], 200, "{response}");
        }
    }
    // The reloads did replace instances: more started than the pool ever holds at once.
    assert!(pool.starts() > 4, "{} instances started", pool.starts());
}
