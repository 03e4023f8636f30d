//! template.yaml against the code: least privilege measured from what each function really
//! sends to DynamoDB, one set of functions, routes and methods everywhere (template, crates,
//! local router, events/, openapi.yaml), and the table usersctl creates is the stack's.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use shared::{App, api};
use testkit::{TestApp, bearer, request, session_headers, workspace_root};

/// Settings for `sam local invoke --env-vars`, beside the events: not an event.
const LOCAL_ENV: &str = "local-env.json";

/// A function as the template declares it.
#[derive(Debug)]
struct Function {
    method: String,
    path: String,
    /// DynamoDB actions, and the resources of those statements.
    actions: BTreeSet<String>,
    resources: Vec<String>,
    /// What a statement's conditions allow each action, where they limit it.
    limits: BTreeMap<String, Limits>,
    /// Statements on anything but DynamoDB, as `(actions, resource)`.
    others: Vec<(String, String)>,
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// `!Ref X`, `!GetAtt X.Arn` and plain strings, as text (`Ref X`, `GetAtt X.Arn`).
fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(text) => text.clone(),
        Yaml::Tagged(tagged) => format!(
            "{} {}",
            tagged.tag.to_string().trim_start_matches('!'),
            text(&tagged.value)
        ),
        Yaml::Sequence(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

/// A statement's fine-grained conditions (IAM User Guide,
/// reference_policies_examples_dynamodb_attributes and _items).
#[derive(Debug, Default)]
struct Limits {
    /// `ForAllValues:StringEquals dynamodb:Attributes`.
    attributes: BTreeSet<String>,
    /// `ForAllValues:StringLike dynamodb:LeadingKeys` (patterns with `*`).
    leading_keys: Vec<String>,
    /// `StringEqualsIfExists dynamodb:Select = SPECIFIC_ATTRIBUTES`: reads must project.
    projected_reads_only: bool,
}

/// Whether `text` matches an IAM `StringLike` pattern (`*` for any run of characters).
fn string_like(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|skip| {
                    text.is_char_boundary(head.len() + skip) && string_like(rest, &text[head.len() + skip..])
                })
        }
    }
}

/// The account page: static, no store, no key.
const PAGE: &str = "account-page";

/// A resource path as the spec writes it, without its trailing slash (but the root).
fn resource_of(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The table every DynamoDB statement must name: the stack's own, or the adopted one.
const TABLE_ARN: &str = "If [CreateTable, GetAtt UsersTable.Arn, Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ExistingTableName}]";

/// The template's functions by binary name.
fn functions() -> BTreeMap<String, Function> {
    let template = template();
    let mut functions = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        // One route per function, plus OPTIONS on the same resource for CORS preflights
        // (but for the account page: it is only ever loaded from its own origin).
        let events = resource["Properties"]["Events"].as_mapping().unwrap();
        let routes = if binary == PAGE { 1 } else { 2 };
        assert_eq!(events.len(), routes, "{binary}: its route and its preflight");
        for event in events.values() {
            assert_eq!(event["Type"].as_str(), Some("Api"), "{binary}: REST API events");
            assert_eq!(text(&event["Properties"]["RestApiId"]), "Ref Api", "{binary}");
        }
        let (preflight, api): (Vec<&Yaml>, Vec<&Yaml>) = events
            .values()
            .partition(|event| event["Properties"]["Method"].as_str() == Some("OPTIONS"));
        let api = api[0];
        if let Some(preflight) = preflight.first() {
            assert_eq!(
                preflight["Properties"]["Path"], api["Properties"]["Path"],
                "{binary}: the preflight is on the route's resource"
            );
        }
        let mut actions = BTreeSet::new();
        let mut resources = Vec::new();
        let mut limits = BTreeMap::new();
        let mut others = Vec::new();
        for policy in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().expect("inline statements only") {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"));
                let listed = statement["Action"].as_sequence().unwrap();
                if !listed.iter().all(|action| text(action).starts_with("dynamodb:")) {
                    others.push((text(&statement["Action"]), text(&statement["Resource"])));
                    continue;
                }
                actions.extend(listed.iter().map(text));
                resources.push(text(&statement["Resource"]));
                let condition = &statement["Condition"];
                let limited = &condition["ForAllValues:StringEquals"]["dynamodb:Attributes"];
                if let Some(names) = limited.as_sequence() {
                    let leading_keys = &condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                    for action in listed {
                        let previous = limits.insert(
                            text(action),
                            Limits {
                                attributes: names.iter().map(text).collect(),
                                leading_keys: leading_keys
                                    .as_sequence()
                                    .into_iter()
                                    .flatten()
                                    .map(text)
                                    .collect(),
                                projected_reads_only: condition["StringEqualsIfExists"]["dynamodb:Select"]
                                    .as_str()
                                    == Some("SPECIFIC_ATTRIBUTES"),
                            },
                        );
                        assert!(previous.is_none(), "{binary}: one statement per limited action");
                    }
                }
            }
        }
        let function = Function {
            method: api["Properties"]["Method"].as_str().unwrap().to_string(),
            path: api["Properties"]["Path"].as_str().unwrap().to_string(),
            actions,
            resources,
            limits,
            others,
        };
        functions.insert(binary, function);
    }
    functions
}

async fn call(binary: &str, app: &App, method: &str, headers: &[(&str, String)]) -> Response<Body> {
    let request: Request = request(method, "/", headers);
    call_with(binary, app, request).await
}

async fn call_with(binary: &str, app: &App, request: Request) -> Response<Body> {
    match binary {
        "login" => api::login(app, request).await,
        "logout" => api::logout(app, request).await,
        PAGE => shared::page::account_page(request).await,
        "get-current-user" => api::get_current_user(app, request).await,
        "get-access-token" => api::get_access_token(app, request).await,
        "regenerate-access-token" => api::regenerate_access_token(app, request).await,
        "get-auth-user" => api::get_auth_user(app, request).await,
        other => panic!("template.yaml names a function the API does not have: {other}"),
    }
}

#[tokio::test]
async fn each_function_may_call_exactly_the_dynamodb_actions_its_code_calls() {
    for (binary, declared) in functions() {
        let test = TestApp::new().await;
        let (user, token) = test.user("ann@example.com").await;
        let session = test.session(&user, Duration::from_secs(600)).await;
        // The init phase (App::from_env; the page has none), then every way in.
        if binary != PAGE {
            test.app.store().warm_up().await;
        }
        let forged = testkit::forged(&token);
        let ways = [
            vec![bearer(&token)],
            session_headers(&session, true),
            vec![bearer(&forged)],
            vec![],
        ];
        if binary == "login" {
            // An unknown email and a wrong password (both counted), then the right one (a
            // session opened).
            assert!(test.app.set_password(&user, "the right password").await.unwrap());
            test.requests.take();
            test.app.store().warm_up().await;
            for (email, password) in [
                ("nobody@example.com", "a password"),
                ("ann@example.com", "a wrong password"),
                ("ann@example.com", "the right password"),
            ] {
                let body = serde_json::json!({"email": email, "password": password});
                let request = lambda_http::http::Request::builder()
                    .method("POST")
                    .uri("/api/auth/login/")
                    .header("content-type", "application/json")
                    .body(Body::Text(body.to_string()))
                    .unwrap();
                call_with(&binary, &test.app, request).await;
            }
        }
        for headers in ways {
            let response = call(&binary, &test.app, &declared.method, &headers).await;
            assert!(
                response.status().as_u16() < 500,
                "{binary}: {}",
                response.status()
            );
        }
        let used = test.requests.by_action();
        assert_eq!(
            declared.actions,
            used.keys().cloned().collect(),
            "{binary}: template.yaml grants what the code calls, no more"
        );
        assert!(
            declared.resources.iter().all(|resource| resource == TABLE_ARN),
            "{binary}: {:?}",
            declared.resources
        );
        // Where a role is limited, each action is allowed exactly the attributes its requests
        // name, on the partitions they touch, and reads must project (no whole items).
        for (action, limits) in &declared.limits {
            let used = &used[action];
            assert_eq!(
                limits.attributes, used.attributes,
                "{binary}: {action}: dynamodb:Attributes lists exactly the attributes its requests name"
            );
            if !limits.leading_keys.is_empty() {
                for key in &used.leading_keys {
                    assert!(
                        limits
                            .leading_keys
                            .iter()
                            .any(|pattern| string_like(pattern, key)),
                        "{binary}: {action} on {key} is outside dynamodb:LeadingKeys {:?}",
                        limits.leading_keys
                    );
                }
            }
            if ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"].contains(&action.as_str()) {
                assert!(
                    limits.projected_reads_only,
                    "{binary}: {action} needs dynamodb:Select"
                );
                assert!(!used.unprojected, "{binary}: {action} reads whole items");
            }
        }
        // Each function reads the token key's secret at init, and nothing else beyond the
        // table; the page reads nothing at all.
        let secret = (
            "[secretsmanager:GetSecretValue]".to_string(),
            "If [CreateTokenKey, Ref TokenKey, Ref ExistingTokenKeySecretArn]".to_string(),
        );
        let expected = if binary == PAGE { vec![] } else { vec![secret] };
        assert_eq!(declared.others, expected, "{binary}");
    }
    // The regenerate role can rewrite a token and nothing else; sign-in and sign-out roles
    // touch only what they need: every action they have is limited.
    for limited in ["regenerate-access-token", "login", "logout"] {
        let function = &functions()[limited];
        let limited_actions: BTreeSet<String> = function.limits.keys().cloned().collect();
        assert_eq!(limited_actions, function.actions, "{limited}");
    }
    assert!(string_like("USER#*", "USER#42") && !string_like("USER#*", "EMAIL#a"));
    assert!(string_like("USER#warm-up", "USER#warm-up") && !string_like("USER#warm-up", "USER#x"));
}

/// `cargo metadata`: the workspace's packages and its `[workspace.metadata]`.
fn cargo_metadata() -> Value {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root());
    json_output(&mut cargo)
}

/// What `command` prints on stdout, as JSON; the test fails with its stderr if it fails.
fn json_output(command: &mut Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
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

#[test]
fn a_stack_update_or_deletion_never_loses_users_or_the_key() {
    let template = template();
    for name in ["UsersTable", "TokenKey"] {
        let resource = &template["Resources"][name];
        assert_eq!(resource["DeletionPolicy"].as_str(), Some("Retain"), "{name}");
        assert_eq!(resource["UpdateReplacePolicy"].as_str(), Some("Retain"), "{name}");
    }
    let table = &template["Resources"]["UsersTable"]["Properties"];
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    // Graviton unless a build asks for x86_64 (`sam local` on an x86_64 machine).
    assert_eq!(text(&globals["Architectures"][0]), "Ref Architecture");
    assert_eq!(
        template["Parameters"]["Architecture"]["Default"].as_str(),
        Some("arm64")
    );
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let variables = &globals["Environment"]["Variables"];
    assert_eq!(
        text(&variables["ALLOWED_ORIGINS"]),
        "Join [,, Ref AllowedOrigins]",
        "CORS origins are a parameter (the Rules refuse *)"
    );
    // A deleted stack leaves both behind; a new stack can adopt them instead of making empty ones.
    assert_eq!(
        text(&variables["TABLE_NAME"]),
        "If [CreateTable, Ref UsersTable, Ref ExistingTableName]"
    );
    assert_eq!(
        template["Resources"]["UsersTable"]["Condition"].as_str(),
        Some("CreateTable")
    );
    assert_eq!(
        template["Resources"]["TokenKey"]["Condition"].as_str(),
        Some("CreateTokenKey")
    );
}

#[test]
fn no_key_is_in_the_template_or_a_functions_configuration() {
    let source = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    // No dynamic reference: it would resolve the secret into the function configuration.
    assert!(
        !source.contains("{{resolve:"),
        "a dynamic reference in template.yaml"
    );
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        text(&globals["TOKEN_KEY_SECRET_ARN"]),
        "If [CreateTokenKey, Ref TokenKey, Ref ExistingTokenKeySecretArn]",
        "the functions get the secret's ARN"
    );
    // Declared empty, for sam local invoke's --env-vars only.
    assert_eq!(globals["TOKEN_KEY"].as_str(), Some(""));
    assert!(globals.get("TOKEN_KEY_PREVIOUS").is_none());
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let variables = &resource["Properties"]["Environment"]["Variables"];
        for key in ["TOKEN_KEY", "TOKEN_KEY_PREVIOUS"] {
            assert!(variables.get(key).is_none(), "{name:?} sets {key}");
        }
    }
    // sam local invoke's settings: the local store and the public development key only.
    let local: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events").join(LOCAL_ENV)).unwrap(),
    )
    .unwrap();
    let local = &local["Parameters"];
    assert!(local["TOKEN_KEY"].as_str().unwrap().starts_with("dev-only-"));
    assert_eq!(
        local["TOKEN_KEY_SECRET_ARN"], "",
        "the key from the environment, not a secret"
    );
    for name in local.as_object().unwrap().keys() {
        assert!(
            globals.get(name).is_some(),
            "{name} is not declared: --env-vars would ignore it"
        );
    }
}

#[test]
fn the_api_fails_loudly_and_answers_unknown_routes_as_the_contract_does() {
    let template = template();
    let api = &template["Resources"]["Api"];
    assert_eq!(api["Type"].as_str(), Some("AWS::Serverless::Api"));
    let properties = &api["Properties"];
    assert_eq!(
        properties["FailOnWarnings"].as_bool(),
        Some(true),
        "a route that cannot be created fails the deploy"
    );
    // The gateway's own answer for an unknown path or method is the functions' 404, with or
    // without an Authorization header (INCOMPLETE_SIGNATURE: see the template).
    for response_type in ["MISSING_AUTHENTICATION_TOKEN", "INCOMPLETE_SIGNATURE"] {
        let missing = &properties["GatewayResponses"][response_type];
        assert_eq!(missing["StatusCode"].as_u64(), Some(404), "{response_type}");
        let template_body: Value =
            serde_json::from_str(missing["ResponseTemplates"]["application/json"].as_str().unwrap()).unwrap();
        let (status, function_body) = testkit::parts(&shared::responses::route_not_found());
        assert_eq!((404, template_body), (status, function_body), "{response_type}");
    }
    // Access logs never hold a credential: no header, and not the error message (an
    // INCOMPLETE_SIGNATURE message quotes the Authorization header).
    let format = text(&properties["AccessLogSetting"]);
    for leak in [
        "$context.error.message",
        "$input",
        "$method.request.header",
        "$context.authorizer",
    ] {
        assert!(!format.contains(leak), "the access log format names {leak}");
    }
    // Sign-in has a throttle of its own, tighter than the API's.
    let settings = properties["MethodSettings"].as_sequence().unwrap();
    let login = settings
        .iter()
        .find(|setting| setting["ResourcePath"].as_str() == Some("/~1api~1auth~1login"))
        .expect("a method setting for POST /api/auth/login/");
    assert_eq!(login["HttpMethod"].as_str(), Some("POST"));
    assert_eq!(
        text(&login["ThrottlingRateLimit"]),
        "Ref LoginThrottlingRateLimit"
    );
    assert_eq!(
        text(&login["ThrottlingBurstLimit"]),
        "Ref LoginThrottlingBurstLimit"
    );
}

/// template.yaml as CloudFormation receives it: SAM's own transform, run offline by
/// `tests/sam_transform.py` with the translator `make test` installs (`None` without it).
fn transformed() -> Option<Value> {
    let python = workspace_root().join(".tools/venv/bin/python");
    if !python.exists() {
        return None;
    }
    let mut transform = Command::new(python);
    transform
        .arg(workspace_root().join("tests/sam_transform.py"))
        .arg(workspace_root().join("template.yaml"))
        .env("AWS_DEFAULT_REGION", "us-east-1");
    Some(json_output(&mut transform))
}

/// What a resource refers to: `Ref`, `Fn::GetAtt` and `DependsOn`, anywhere in it.
fn references(resource: &Value, found: &mut BTreeSet<String>) {
    match resource {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("Ref" | "DependsOn", Value::String(name)) => {
                        found.insert(name.clone());
                    }
                    ("DependsOn", Value::Array(names)) => {
                        found.extend(names.iter().filter_map(Value::as_str).map(str::to_string));
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        found.extend(parts.first().and_then(Value::as_str).map(str::to_string));
                    }
                    _ => references(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn the_deployed_stage_waits_for_the_accounts_log_role() {
    let Some(cloudformation) = transformed() else {
        testkit::skip("the SAM translator is not installed (make test installs it)");
        return;
    };
    let resources = cloudformation["Resources"].as_object().unwrap();
    // Everything the stage depends on, directly or not.
    let mut seen = BTreeSet::new();
    let mut next = vec!["ApiStage".to_string()];
    while let Some(name) = next.pop() {
        let Some(resource) = resources.get(&name) else {
            continue;
        };
        let mut found = BTreeSet::new();
        references(resource, &mut found);
        for dependency in found {
            if seen.insert(dependency.clone()) {
                next.push(dependency);
            }
        }
    }
    assert_eq!(
        resources["ApiStage"]["Type"], "AWS::ApiGateway::Stage",
        "SAM names the stage ApiStage"
    );
    assert!(
        resources["ApiStage"]["Properties"]["AccessLogSetting"].is_object(),
        "the stage writes access logs"
    );
    assert!(
        seen.contains("ApiGatewayAccount"),
        "a stage with access logs is created only after the account's log role: {seen:?}"
    );
    // The gateway responses reach the REST API's definition.
    let body = &resources["Api"]["Properties"]["Body"];
    let responses = &body["x-amazon-apigateway-gateway-responses"];
    for response_type in ["MISSING_AUTHENTICATION_TOKEN", "INCOMPLETE_SIGNATURE"] {
        assert_eq!(responses[response_type]["statusCode"], "404", "{response_type}");
    }
    // Every route is a resource of the definition, without its trailing slash.
    let paths: BTreeSet<&str> = body["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let declared: BTreeSet<String> = functions().into_values().map(|f| f.path).collect();
    assert_eq!(paths, declared.iter().map(String::as_str).collect());
}

#[test]
fn parameters_refuse_what_the_functions_would_refuse_at_cold_start() {
    let template = template();
    let pattern = template["Parameters"]["TokenTtlSeconds"]["AllowedPattern"]
        .as_str()
        .unwrap();
    let python = workspace_root().join(".tools/venv/bin/python");
    if !python.exists() {
        testkit::skip("Python's venv is not installed (make test installs it)");
        return;
    }
    let max = shared::config::MAX_TTL_SECONDS;
    let matches = |value: &str| {
        Command::new(&python)
            .args([
                "-c",
                "import re, sys; sys.exit(0 if re.fullmatch(sys.argv[1], sys.argv[2]) else 1)",
            ])
            .args([pattern, value])
            .status()
            .unwrap()
            .success()
    };
    for accepted in ["", "1", "3600", &max.to_string()] {
        assert!(matches(accepted), "TokenTtlSeconds refuses {accepted:?}");
    }
    for refused in ["0", "-1", "1h", &(max + 1).to_string()] {
        assert!(!matches(refused), "TokenTtlSeconds accepts {refused:?}");
    }
}

#[test]
fn the_alarms_watch_every_function_and_the_metrics_the_functions_emit() {
    use shared::metrics::{NAMESPACE, Outcome};
    use shared::responses::Refusal;
    let template = template();
    let resources = &template["Resources"];
    // (namespace, metric, [(dimension, value)]) of each metric an alarm's math reads.
    type Watched = (String, String, Vec<(String, String)>);
    let watched = |alarm: &str| -> Vec<Watched> {
        resources[alarm]["Properties"]["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|metric| {
                let metric = &metric["MetricStat"]["Metric"];
                let dimensions = metric["Dimensions"].as_sequence()?;
                Some((
                    text(&metric["Namespace"]),
                    text(&metric["MetricName"]),
                    dimensions
                        .iter()
                        .map(|d| (text(&d["Name"]), text(&d["Value"])))
                        .collect(),
                ))
            })
            .collect()
    };
    let functions: BTreeSet<String> = resources
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, _)| format!("Ref {}", name.as_str().unwrap()))
        .collect();
    for alarm in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
        let refs: BTreeSet<String> = watched(alarm)
            .into_iter()
            .map(|(namespace, _, dimensions)| {
                assert_eq!(namespace, "AWS/Lambda", "{alarm}");
                assert_eq!(dimensions.len(), 1, "{alarm}");
                assert_eq!(dimensions[0].0, "FunctionName", "{alarm}");
                dimensions[0].1.clone()
            })
            .collect();
        assert_eq!(refs, functions, "{alarm} watches every function");
    }
    // An alarm on an EMF metric matches only a dimension set the lines declare exactly: the
    // alarm's must be one of the line's.
    let line: Value = serde_json::from_str(
        &shared::metrics::RequestMetrics {
            function: "f",
            outcome: Outcome::refused(Refusal::Forged),
            cold_start: false,
            store_ms: 0.0,
            store_calls: 0,
            timestamp_ms: 0,
        }
        .to_line(),
    )
    .unwrap();
    let declared_sets: Vec<Vec<String>> =
        serde_json::from_value(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone()).unwrap();
    let suspicious: BTreeSet<Watched> = watched("SuspiciousTokensAlarm").into_iter().collect();
    let expected: BTreeSet<_> = [Refusal::Forged, Refusal::Superseded]
        .into_iter()
        .map(|reason| {
            let outcome = Outcome::refused(reason).as_str().to_string();
            (
                NAMESPACE.to_string(),
                "Requests".to_string(),
                vec![("Outcome".to_string(), outcome)],
            )
        })
        .collect();
    assert_eq!(
        suspicious, expected,
        "the alarm counts what shared::metrics emits"
    );
    for (_, _, dimensions) in &suspicious {
        let names: Vec<String> = dimensions.iter().map(|(name, _)| name.clone()).collect();
        assert!(
            declared_sets.contains(&names),
            "{names:?} is not a dimension set of the lines: {declared_sets:?}"
        );
    }
}
