use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::header::{HOST, HeaderValue};
use lambda_http::RequestExt;
use serde_json::{Value, json};

use super::*;

const TEMPLATE: &str = r#"
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        TABLE_NAME: !Ref UsersTable
        IGNORE_STAGE: "true"
        RETRIES: 2
        EMPTY: ""
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Me:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: me
    Properties:
      Events:
        Api:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /api/users/me, Method: GET}
        Preflight:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /api/users/me, Method: options}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
  Files:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: files
    Properties:
      Timeout: 30
      Events:
        Root: {Type: Api, Properties: {Path: /, Method: GET}}
        One: {Type: Api, Properties: {Path: "/files/{name}", Method: ANY}}
        Readme: {Type: Api, Properties: {Path: /files/readme, Method: GET}}
        Rest: {Type: Api, Properties: {Path: "/files/{name}/{proxy+}", Method: GET}}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      GatewayResponses:
        MISSING_AUTHENTICATION_TOKEN:
          StatusCode: 404
          ResponseTemplates:
            application/json: '{"message":"Not Found"}'
"#;

fn api() -> Api {
    Api::from_template(TEMPLATE).unwrap()
}

/// Function, resource and path parameters.
type Routed = (String, String, Vec<(String, String)>);

fn routed(method: &str, path: &str) -> Option<Routed> {
    let api = api();
    let matched = api.route(method, path)?;
    let parameters = matched.path_parameters.into_iter().collect();
    Some((
        matched.route.function.clone(),
        matched.route.resource.clone(),
        parameters,
    ))
}

fn request(method: &str, path: &str, query: Option<&str>, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        body: body.to_vec(),
        source_ip: "192.0.2.7".parse().unwrap(),
        local_address: "127.0.0.1:3100".parse().unwrap(),
    }
}

fn stamp() -> Stamp {
    Stamp {
        stage: "prod".into(),
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        extended_request_id: "ATfSdF7nPHcErRA=".into(),
        received: UNIX_EPOCH + Duration::from_millis(1_428_582_896_123),
    }
}

fn event_of(api: &Api, request: &Request) -> Value {
    let matched = api.route(&request.method, &request.path).unwrap();
    event(&matched, request, &stamp())
}

#[test]
fn the_template_gives_routes_timeouts_plain_variables_and_the_missing_route_answer() {
    let api = api();
    let routes: Vec<String> = api
        .routes
        .iter()
        .map(|r| format!("{} {} -> {}", r.method, r.resource, r.function))
        .collect();
    assert_eq!(
        routes,
        [
            "GET /api/users/me -> me",
            "OPTIONS /api/users/me -> me",
            "GET / -> files",
            "ANY /files/{name} -> files",
            "GET /files/readme -> files",
            "GET /files/{name}/{proxy+} -> files",
        ]
    );
    assert_eq!(api.timeouts["me"], Duration::from_secs(5));
    assert_eq!(api.timeouts["files"], Duration::from_secs(30));
    let environment: Vec<(&str, &str)> = api
        .environment
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        environment,
        [("IGNORE_STAGE", "true"), ("RETRIES", "2"), ("EMPTY", "")]
    );
    assert_eq!(
        api.missing_route,
        GatewayResponse {
            status: 404,
            body: r#"{"message":"Not Found"}"#.into()
        }
    );
}

#[test]
fn without_a_gateway_response_a_missing_route_gets_api_gateways_403() {
    let api = Api::from_template("Resources: {Api: {Type: AWS::Serverless::Api}}").unwrap();
    assert_eq!(api.missing_route.status, 403);
    assert_eq!(
        api.missing_route.body,
        r#"{"message":"Missing Authentication Token"}"#
    );
    // With a Bearer header, the token is quoted back (why the template answers it).
    let bearer = HeaderValue::from_static("Bearer uat_abc");
    let (answer, error_type) = api.no_route(Some(&bearer));
    assert_eq!(error_type, "IncompleteSignatureException");
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.body,
        r#"{"message":"'uat_abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer uat_abc'."}"#
    );
    assert!(Api::from_template("Resources: {F: {Type: AWS::Serverless::Function}}").is_err());
}

#[test]
fn the_projects_template_routes_every_function() {
    let text = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap();
    let api = Api::from_template(&text).unwrap();
    let matched = api.route("GET", "/api/users/me/").unwrap();
    assert_eq!(matched.route.function, "get-current-user");
    assert_eq!(api.missing_route.status, 404);
    // An unknown path with a Bearer header: the same 404, never the token quoted back.
    let bearer = HeaderValue::from_static("Bearer uat_abc");
    assert_eq!(api.no_route(Some(&bearer)).0, api.missing_route);
    assert!(
        api.timeouts
            .values()
            .all(|timeout| *timeout == Duration::from_secs(5))
    );
    assert!(
        api.environment
            .contains(&("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH".into(), "true".into()))
    );
    // Declared empty (for sam local invoke's --env-vars): never a key.
    assert!(
        api.environment
            .iter()
            .all(|(name, value)| name != "TOKEN_KEY" || value.is_empty())
    );
}

#[test]
fn a_path_matches_its_resource_with_or_without_one_trailing_slash() {
    for path in ["/api/users/me", "/api/users/me/"] {
        assert_eq!(routed("GET", path).unwrap().1, "/api/users/me", "{path}");
    }
    assert_eq!(routed("OPTIONS", "/api/users/me/").unwrap().0, "me");
    for path in [
        "/api/users/me//",
        "/api/users",
        "/api/users/me/token",
        "/API/users/me",
        "",
        "*",
    ] {
        assert_eq!(routed("GET", path), None, "{path}");
    }
}

#[test]
fn a_method_the_resource_lacks_has_no_route_unless_it_has_any() {
    assert_eq!(routed("POST", "/api/users/me"), None);
    assert_eq!(routed("HEAD", "/api/users/me"), None);
    assert_eq!(routed("DELETE", "/files/a").unwrap().1, "/files/{name}");
    // The literal resource wins the path, and has no POST: no fallback to `{name}`.
    assert_eq!(routed("POST", "/files/readme"), None);
}

#[test]
fn variables_fill_path_parameters_and_literals_win() {
    let parameters = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(routed("GET", "/").unwrap().1, "/");
    assert_eq!(routed("GET", "/files/readme").unwrap().1, "/files/readme");
    let one = routed("GET", "/files/a%20b/").unwrap();
    assert_eq!(
        (one.1.as_str(), one.2),
        ("/files/{name}", parameters(&[("name", "a%20b")]))
    );
    let rest = routed("GET", "/files/a/b/c/").unwrap();
    assert_eq!(
        (rest.1.as_str(), rest.2),
        (
            "/files/{name}/{proxy+}",
            parameters(&[("name", "a"), ("proxy", "b/c/")])
        )
    );
    assert_eq!(routed("GET", "/files//x"), None);
}

#[test]
fn the_event_is_a_rest_api_proxy_event() {
    let api = api();
    let request = request(
        "GET",
        "/api/users/me/",
        Some("a=1&a=2&b=x+y%2Bz&empty="),
        &[
            ("host", "127.0.0.1:3100"),
            ("user-agent", "curl/8.5.0"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("x-forwarded-for", "203.0.113.1"),
        ],
        b"",
    );
    let event = event_of(&api, &request);
    assert_eq!(event["resource"], "/api/users/me");
    assert_eq!(event["path"], "/api/users/me/");
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["headers"]["cookie"], "b=2");
    assert_eq!(event["multiValueHeaders"]["cookie"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-forwarded-for"], "203.0.113.1, 192.0.2.7");
    assert_eq!(event["headers"]["x-forwarded-port"], "3100");
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    assert_eq!(
        event["queryStringParameters"],
        json!({"a": "2", "b": "x y+z", "empty": ""})
    );
    assert_eq!(event["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
    for null in ["pathParameters", "stageVariables", "body"] {
        assert_eq!(event[null], Value::Null, "{null}");
    }
    assert_eq!(event["isBase64Encoded"], false);
    let context = &event["requestContext"];
    assert_eq!(context["path"], "/prod/api/users/me/");
    assert_eq!(context["resourcePath"], "/api/users/me");
    assert_eq!(context["stage"], "prod");
    assert_eq!(context["domainName"], "127.0.0.1:3100");
    assert_eq!(context["domainPrefix"], "127");
    assert_eq!(context["requestTime"], "09/Apr/2015:12:34:56 +0000");
    assert_eq!(context["requestTimeEpoch"], 1_428_582_896_123_u64);
    assert_eq!(context["identity"]["sourceIp"], "192.0.2.7");
    assert_eq!(context["identity"]["userAgent"], "curl/8.5.0");
    assert_eq!(context["identity"]["user"], Value::Null);
    assert_eq!(context["resourceId"].as_str().map(str::len), Some(6));
}

#[test]
fn lambda_http_reads_the_event_as_the_request_that_was_sent() {
    let api = api();
    let request = request(
        "GET",
        "/files/a%20b/x/y",
        Some("q=1&q=2"),
        &[
            ("host", "127.0.0.1:3100"),
            ("authorization", "Bearer one"),
            ("authorization", "Bearer two"),
        ],
        b"{\"a\":1}",
    );
    let text = event_of(&api, &request).to_string();
    let parsed = lambda_http::request::from_str(&text).unwrap();
    assert_eq!(parsed.method(), "GET");
    assert!(
        parsed.uri().path().ends_with("/files/a%20b/x/y"),
        "{}",
        parsed.uri()
    );
    assert_eq!(parsed.headers()["authorization"], "Bearer two");
    assert_eq!(parsed.query_string_parameters().all("q"), Some(vec!["1", "2"]));
    assert_eq!(parsed.path_parameters().first("proxy"), Some("x/y"));
    assert_eq!(&parsed.body()[..], b"{\"a\":1}");
}

#[test]
fn a_body_that_is_not_utf8_travels_in_base64() {
    let api = api();
    let bytes = [0xff, 0xfe, 0x00, 0x80];
    let event = event_of(&api, &request("GET", "/", None, &[], &bytes));
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], BASE64.encode(bytes));
    assert_eq!(event["queryStringParameters"], Value::Null);
    assert_eq!(event["requestContext"]["domainName"], "127.0.0.1:3100");
    let text = event_of(&api, &request("GET", "/", Some(""), &[], "λ".as_bytes()));
    assert_eq!(
        (&text["body"], &text["isBase64Encoded"]),
        (&json!("λ"), &json!(false))
    );
    assert_eq!(text["multiValueQueryStringParameters"], Value::Null);
}

#[test]
fn every_set_cookie_value_is_a_header_line_and_base64_bodies_are_decoded() {
    let document = json!({
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "set-cookie": "b=2"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Cache-Control": ["no-store"]},
        "body": BASE64.encode([0xff, 0x00]),
        "isBase64Encoded": true,
    });
    let response = ProxyResponse::parse(&document.to_string()).unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(response.body, [0xff, 0x00]);
    let http = http_response(response, &stamp()).unwrap();
    let cookies: Vec<_> = http.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(http.headers()["content-type"], "text/plain");
    assert_eq!(http.headers()["content-length"], "2");
    assert_eq!(http.headers()["x-amzn-requestid"], stamp().request_id.as_str());
}

#[test]
fn a_www_authenticate_challenge_reaches_the_client_remapped() {
    let document = json!({
        "statusCode": 401,
        "multiValueHeaders": {"www-authenticate": ["Bearer"], "retry-after": ["1"]},
        "body": "{}",
    });
    let http = http_response(ProxyResponse::parse(&document.to_string()).unwrap(), &stamp()).unwrap();
    assert_eq!(http.headers().get("www-authenticate"), None);
    assert_eq!(http.headers()["x-amzn-remapped-www-authenticate"], "Bearer");
    assert_eq!(http.headers()["retry-after"], "1");
}

#[test]
fn a_minimal_answer_is_200_json_and_framing_is_the_gateways() {
    let response = ProxyResponse::parse(r#"{"body": "{}", "headers": {"Content-Length": "99"}}"#).unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, b"{}".as_slice())
    );
    let http = http_response(response, &stamp()).unwrap();
    assert_eq!(http.headers()["content-length"], "2");
    assert_eq!(http.headers()["content-type"], "application/json");
    let empty = ProxyResponse::parse(r#"{"statusCode": 204, "body": null}"#).unwrap();
    assert!(empty.body.is_empty());
}

#[test]
fn an_answer_that_is_not_a_proxy_response_is_refused() {
    for document in [
        "not json",
        "[]",
        r#"{"statusCode": "200"}"#,
        r#"{"statusCode": 42}"#,
        r#"{"statusCode": 200, "body": {"a": 1}}"#,
        r#"{"statusCode": 200, "headers": {"a": 1}}"#,
        r#"{"statusCode": 200, "multiValueHeaders": {"a": "b"}}"#,
        r#"{"statusCode": 200, "body": "!!", "isBase64Encoded": true}"#,
        r#"{"statusCode": 200, "cookies": ["a=1"]}"#,
        // hello-world's echo of its event
        r#"{"resource": "/", "path": "/", "httpMethod": "GET", "body": null}"#,
    ] {
        assert!(ProxyResponse::parse(document).is_err(), "{document}");
    }
    let bad_header = ProxyResponse::parse(r#"{"headers": {"bad name": "x"}}"#).unwrap();
    assert!(http_response(bad_header, &stamp()).is_err());
}

#[test]
fn a_host_must_be_a_host_name_and_port() {
    let with_host = |host: &str| {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host).unwrap());
        valid_host(&headers)
    };
    assert!(valid_host(&hyper::HeaderMap::new()));
    for host in [
        "127.0.0.1:3000",
        "localhost",
        "abc.execute-api.us-east-1.amazonaws.com",
        "[::1]:80",
    ] {
        assert!(with_host(host), "{host}");
    }
    for host in ["bad host", "a@b", "", "x/y", "[::1"] {
        assert!(!with_host(host), "{host}");
    }
}

#[test]
fn gateway_answers_are_json_with_their_error_type() {
    let answer = gateway_answer(
        404,
        r#"{"message":"Not Found"}"#,
        Some("MissingAuthenticationTokenException"),
        &stamp(),
    );
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.headers()["content-length"], "23");
    assert_eq!(
        answer.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
}

#[test]
fn only_source_files_count_as_changes() {
    let root = std::env::temp_dir().join(format!("local-api-sources-{}", std::process::id()));
    let write = |path: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    };
    write("shared/src/lib.rs");
    let before = sources(&root);
    for ignored in [
        "target/debug/x.rs",
        ".schemathesis/report.js",
        "shared/src/notes.txt",
        "README.md",
    ] {
        write(ignored);
    }
    assert_eq!(sources(&root), before);
    write("functions/f/src/main.rs");
    assert_ne!(sources(&root), before);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn only_sources_count_as_changes_never_tool_output() {
    let root = std::env::temp_dir().join(format!("sources-{}", crate::free_port()));
    for dir in [
        "shared/src",
        "functions/f/src",
        ".schemathesis/default/cache",
        "target/debug",
        "tests",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "shared/src/lib.rs",
        "functions/f/src/main.rs",
    ] {
        std::fs::write(root.join(file), "").unwrap();
    }
    let before = sources(&root);
    // What tools write while `make run` serves: schemathesis' cache, build output, logs.
    for file in [
        ".schemathesis/default/cache/manifest.json",
        "target/debug/x.rs",
        "tests/out.json",
        "run.log",
    ] {
        std::fs::write(root.join(file), "{}").unwrap();
    }
    assert_eq!(sources(&root), before, "tool output is not a source change");
    std::fs::write(root.join("shared/src/new.rs"), "").unwrap();
    assert_ne!(sources(&root), before, "a new source file is");
    let _ = std::fs::remove_dir_all(&root);
}
