//! The stack as CloudFormation receives it: what outlives it, where its key is (nowhere in
//! sight), its gateway answers, its stage's wait for the log role, its parameters, its alarms.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use testkit::workspace_root;

use crate::template::*;

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
        let (status, function_body) = testkit::parts(&shared::http::responses::route_not_found());
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
    let max = shared::setup::settings::MAX_TTL_SECONDS;
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
    use shared::obs::metrics::{NAMESPACE, Outcome};
    use shared::tokens::Refusal;
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
        &shared::obs::metrics::RequestMetrics {
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

#[test]
fn every_function_has_a_memory_size_the_bench_measured_and_says_why() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template = template();
    let functions: Vec<(String, &serde_yaml_ng::Value)> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, resource)| (name.as_str().unwrap_or_default().to_string(), resource))
        .collect();
    assert!(functions.len() >= 7, "{} functions", functions.len());
    assert!(
        template["Globals"]["Function"]["MemorySize"].is_null(),
        "no default size: each function chooses its own"
    );
    // Every `MemorySize:` line carries its reason beside it, as a comment.
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.trim_start().starts_with("MemorySize:"))
        .collect();
    assert_eq!(lines.len(), functions.len(), "{lines:#?}");
    for line in &lines {
        assert!(
            line.split_once('#')
                .is_some_and(|(_, reason)| reason.trim().len() > 20),
            "a reason beside it: {line}"
        );
    }
    for (name, function) in functions {
        let size = function["Properties"]["MemorySize"].as_u64();
        assert!(
            size.is_some_and(|size| testkit::cpu::MEMORY_SIZES.contains(&(size as u32))),
            "{name}: MemorySize {size:?} is not one of the memory table's sizes"
        );
    }
}
