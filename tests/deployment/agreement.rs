//! One set of functions, routes and methods everywhere (template, crates, the local
//! router, events/, openapi.yaml), and the table usersctl creates is the stack's.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use testkit::{TestApp, workspace_root};

use crate::template::*;

/// `cargo metadata`: the workspace's packages and its `[workspace.metadata]`.
fn cargo_metadata() -> Value {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root());
    json_output(&mut cargo)
}

#[test]
fn functions_routes_and_methods_agree_everywhere() {
    let functions = functions();
    let names: BTreeSet<String> = functions.keys().cloned().collect();

    // One crate per function under functions/.
    let metadata = cargo_metadata();
    let crates: BTreeSet<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| package["manifest_path"].as_str().unwrap().contains("/functions/"))
        .map(|package| package["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(crates, names, "functions/ crates vs template.yaml");

    // The spec's paths: each function's resource, with the trailing slash the spec writes
    // (the REST API serves both forms; a resource itself cannot end in "/").
    let spec_paths = [
        "/api/users/me/",
        "/api/users/me/token/",
        "/api/users/me/token/regenerate/",
        "/api/v3/auth/user",
    ];
    for path in spec_paths {
        assert!(
            functions
                .values()
                .any(|function| function.path == resource_of(path)),
            "no resource serves {path}"
        );
    }

    // events/: every function has events, and each event is for its function's route.
    let mut with_events = BTreeSet::new();
    for entry in std::fs::read_dir(workspace_root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file == LOCAL_ENV {
            continue;
        }
        let name = file.split('.').next().unwrap().to_string();
        let function = functions
            .get(&name)
            .unwrap_or_else(|| panic!("events/{file} is for no function"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // What a REST API sends (payload 1.0): the resource it matched, the path as requested.
        let method = if file.contains(".preflight.") {
            "OPTIONS"
        } else {
            function.method.as_str()
        };
        assert_eq!(event["httpMethod"], method, "{file}");
        assert_eq!(event["requestContext"]["httpMethod"], method, "{file}");
        assert_eq!(event["resource"], function.path.as_str(), "{file}");
        assert_eq!(
            event["requestContext"]["resourcePath"],
            function.path.as_str(),
            "{file}"
        );
        let requested = event["path"].as_str().unwrap();
        assert!(
            requested == function.path || resource_of(requested) == function.path,
            "{file}: {requested}"
        );
        let stage = event["requestContext"]["stage"].as_str().unwrap();
        assert_eq!(
            event["requestContext"]["path"],
            format!("/{stage}{requested}").as_str(),
            "{file}"
        );
        for (name, value) in event["headers"].as_object().unwrap() {
            let values = event["multiValueHeaders"][name].as_array().unwrap();
            assert_eq!(values.last(), Some(value), "{file}: {name} in both header maps");
        }
        with_events.insert(name);
    }
    assert_eq!(with_events, names, "events/ vs template.yaml");

    // openapi.yaml: the same routes, with the paths exactly as the spec writes them.
    let openapi: Yaml =
        serde_yaml_ng::from_str(&std::fs::read_to_string(workspace_root().join("openapi.yaml")).unwrap())
            .unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in openapi["paths"].as_mapping().unwrap() {
        for (method, operation) in operations.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
            let id = operation["operationId"].as_str().unwrap().to_string();
            documented.insert((id, method, resource_of(path.as_str().unwrap()).to_string()));
        }
    }
    let declared: BTreeSet<(String, String, String)> = functions
        .iter()
        .map(|(name, function)| (name.clone(), function.method.clone(), function.path.clone()))
        .collect();
    assert_eq!(
        documented, declared,
        "openapi.yaml (operationId = function) vs template.yaml"
    );
}

#[tokio::test]
async fn usersctl_creates_the_table_the_stack_declares() {
    let template = template();
    let table = &template["Resources"]["UsersTable"];
    let properties = &table["Properties"];
    let test = TestApp::new().await;
    let client = testkit::local_client(testkit::dynamodb_local().endpoint()).await;
    let described = client
        .describe_table()
        .table_name(test.app.store().table())
        .send()
        .await
        .unwrap();
    let described = described.table.unwrap();

    let keys = described
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()));
    assert_eq!(
        pairs(keys),
        declared_pairs(&properties["KeySchema"], "AttributeName", "KeyType")
    );
    let attributes = described
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()));
    assert_eq!(
        pairs(attributes),
        declared_pairs(
            &properties["AttributeDefinitions"],
            "AttributeName",
            "AttributeType"
        )
    );
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str().to_string()),
        properties["BillingMode"].as_str().map(str::to_string)
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(test.app.store().table())
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    let declared_ttl = &properties["TimeToLiveSpecification"];
    assert_eq!(ttl.attribute_name(), declared_ttl["AttributeName"].as_str());
    assert_eq!(ttl.attribute_name(), Some(shared::store::TTL_ATTRIBUTE));
    assert_eq!(declared_ttl["Enabled"].as_bool(), Some(true));
}

fn pairs<'a>(described: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeSet<(String, String)> {
    described.map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// `(first, second)` of each entry of a list in the template.
fn declared_pairs(list: &Yaml, first: &str, second: &str) -> BTreeSet<(String, String)> {
    list.as_sequence()
        .unwrap()
        .iter()
        .map(|entry| (text(&entry[first]), text(&entry[second])))
        .collect()
}
