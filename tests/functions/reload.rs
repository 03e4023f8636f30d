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
    let settings: Vec<(String, String)> = testkit::function_settings(&table)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(async {
        let test = TestApp::on(dynamodb_local().endpoint(), &table, None).await;
        let patient = testkit::patient_client(dynamodb_local().endpoint()).await;
        shared::store::Store::new(patient, &table)
            .create_table()
            .await
            .unwrap();
        test.user("ann@example.com").await.1.to_string()
    });

    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let api = Api::from_template(&template).unwrap();
    let bin_dir = workspace_root().join("target/debug");
    let functions = Arc::new(Functions::with_settings_of_their_own(
        &api, &bin_dir, 4, &settings,
    ));
    let pool = functions.pool("get-current-user").unwrap();
    let event = testkit::bearer_event("get-current-user", &token);
    // The clients keep calling until the reloads are over, however fast the machine.
    let reloading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (pool, event, reloading) = (Arc::clone(&pool), event.clone(), Arc::clone(&reloading));
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while reloading.load(std::sync::atomic::Ordering::SeqCst) || answers.len() < 5 {
                    answers.push(pool.invoke(&event).map_err(|error| error.to_string()));
                }
                answers
            })
        })
        .collect();
    // Three reloads while the clients are busy, as a source change would cause, each once
    // the previous generation has answered. (Counted per generation: the clients may have
    // started every instance they need before this thread looks.)
    for reload in 0..3 {
        let since = std::time::Instant::now();
        while pool.starts_since_reload() == 0 {
            // The reloads do replace instances: new ones start for the requests that follow.
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "no instance started in 60 s after reload {reload}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        functions.reload();
    }
    std::thread::sleep(Duration::from_millis(200));
    reloading.store(false, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        for answer in client.join().unwrap() {
            // Within the function's timeout (the pool's own limit): an answer, a 200.
            let document = answer.unwrap_or_else(|error| panic!("a request got no answer: {error}"));
            let response: serde_json::Value = serde_json::from_str(&document).unwrap();
            assert_eq!(response["statusCode"], 200, "{response}");
        }
    }
}
