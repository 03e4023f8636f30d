//! The API as `make run` serves it (scripts/run-local.sh: DynamoDB Local, the real function
//! binaries behind `local-api`, the REST API emulation), over real HTTP: every endpoint and auth mode, the
//! regenerate flow as a client sees it, API Gateway's 404s, and the spec's own code examples.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::http::Reply;
use testkit::local_api::LocalApi;
use testkit::workspace_root;

use crate::stack as local_api;

fn new_user(api: &LocalApi) -> (String, String) {
    api.new_user()
}

fn new_session(api: &LocalApi, email: &str) -> (String, String) {
    api.new_session(email)
}

fn usersctl(api: &LocalApi, args: &[&str]) -> Value {
    api.usersctl(args)
}

/// A request to the local API, whatever its status.
fn send(method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    testkit::http::call(&local_api().base_url, method, path, headers)
}

/// `(status, content type, JSON body)` of a request to the local API.
fn call(method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let reply = send(method, path, headers);
    if reply.status >= 400 {
        for (_, value) in headers {
            for secret in value.split(['=', ';', ' ']).filter(|part| part.len() >= 32) {
                assert!(
                    !reply.text.contains(secret),
                    "a {} body echoes a credential",
                    reply.status
                );
            }
        }
    }
    let body = serde_json::from_str(&reply.text).unwrap_or_else(|_| panic!("not JSON: {:?}", reply.text));
    let content_type = reply.header("content-type").unwrap_or_default().to_string();
    (reply.status, content_type, body)
}

/// `(status, headers by lower-case name)` of a request to the local API.
fn call_headers(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, std::collections::BTreeMap<String, String>) {
    let reply = send(method, path, headers);
    (reply.status, reply.header_map())
}

/// Fails if any of these secrets reached the logs (the functions run at TRACE) or stderr.
fn assert_not_logged(secrets: &[&str]) {
    std::thread::sleep(Duration::from_millis(100)); // let the last log lines arrive
    let logs = local_api().logs.lock().unwrap().clone();
    // What the script prints for the user before "Ready:" is its output, not a log.
    let logs = logs.split("\nReady: ").nth(1).unwrap_or_default();
    for secret in secrets {
        let leaks: Vec<String> = logs
            .lines()
            .filter(|line| line.contains(secret))
            .map(|line| line.replace(secret, "<SECRET>").chars().take(160).collect())
            .collect();
        assert!(leaks.is_empty(), "a secret reached the logs: {leaks:#?}");
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn every_endpoint_answers_bearer_requests_at_both_slash_forms() {
    let api = local_api();
    let (email, token) = new_user(api);
    let auth = bearer(&token);
    for path in ["/api/users/me/", "/api/users/me"] {
        let (status, content_type, body) = call("GET", path, &[("Authorization", &auth)]);
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json"),
            "{path}"
        );
        assert_eq!(body["email"], email.as_str());
        assert_eq!(body["email_verified"], true);
        assert_eq!(body["is_authenticated"], true);
        assert_eq!(body["access_token"], token.as_str());
    }
    for path in ["/api/users/me/token/", "/api/users/me/token"] {
        assert_eq!(
            call("GET", path, &[("Authorization", &auth)]).2,
            json!({"access_token": token})
        );
    }
    for path in ["/api/v3/auth/user", "/api/v3/auth/user/"] {
        let (status, _, body) = call("GET", path, &[("Authorization", &auth)]);
        assert_eq!(status, 200);
        assert_eq!(
            (&body["success"], &body["errno"], &body["error"]),
            (&json!(true), &json!(0), &json!(null))
        );
        assert_eq!(body["data"]["email"], email.as_str());
    }
    assert_not_logged(&[&token]);
}

#[test]
fn missing_and_bad_credentials_are_the_contracts_401s() {
    let v1 = json!({"detail": "Not authenticated"});
    let v3 = json!({"data": null, "success": false, "errno": -100000, "error": "Invalid or expired token"});
    for (method, path, expected) in [
        ("GET", "/api/users/me/", &v1),
        ("GET", "/api/users/me/token/", &v1),
        ("POST", "/api/users/me/token/regenerate/", &v1),
        ("GET", "/api/v3/auth/user", &v3),
    ] {
        for headers in [
            vec![],
            vec![("Authorization", "Bearer")],
            vec![("Authorization", "Bearer nope")],
        ] {
            let (status, content_type, body) = call(method, path, &headers);
            assert_eq!(
                (status, content_type.as_str(), &body),
                (401, "application/json", expected),
                "{path}"
            );
        }
    }
}

#[test]
fn unknown_paths_and_methods_get_api_gateways_404() {
    let not_found = (
        404,
        "application/json".to_string(),
        json!({"message": "Not Found"}),
    );
    for (method, path) in [
        ("POST", "/"),
        ("GET", "/account/"),
        ("GET", "/api/users/"),
        ("GET", "/api/users/me/extra"),
        ("GET", "/API/users/me/"),
        ("POST", "/api/users/me/"),
        ("GET", "/api/users/me/token/regenerate/"),
        ("DELETE", "/api/v3/auth/user"),
    ] {
        assert_eq!(call(method, path, &[]), not_found, "{method} {path}");
        // As every real client sends it: the gateway reads a Bearer header on an unknown
        // route as a broken signature, and the template answers that with the same 404
        // (the token is never quoted back).
        let with_token = call(method, path, &[("Authorization", "Bearer uat_not-a-token")]);
        assert_eq!(with_token, not_found, "{method} {path} with a Bearer header");
    }
    // A query string is no part of the route.
    assert_eq!(call("GET", "/api/users/me/?format=json", &[]).0, 401);
}

/// A REST API hands a Lambda proxy response's WWW-Authenticate to the client renamed
/// (`testkit::gateway` cites the evidence): the challenge is there, under that name.
#[test]
fn a_401_carries_its_challenge_under_the_name_api_gateway_gives_it() {
    let (status, headers) = call_headers("GET", "/api/users/me/", &[("Authorization", "Bearer nope")]);
    assert_eq!(status, 401);
    assert_eq!(headers.get("www-authenticate"), None);
    assert_eq!(
        headers
            .get("x-amzn-remapped-www-authenticate")
            .map(String::as_str),
        Some(r#"Bearer error="invalid_token""#)
    );
}

#[test]
fn browsers_on_the_allowed_origins_may_call_with_credentials_and_no_others() {
    let origin = &local_api().origin;
    let preflight = [
        ("Origin", origin.as_str()),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "authorization,x-csrftoken"),
    ];
    let (status, headers) = call_headers("OPTIONS", "/api/users/me/token/regenerate/", &preflight);
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], *origin);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["access-control-allow-methods"], "POST, OPTIONS");
    assert!(headers["access-control-allow-headers"].contains("X-CSRFToken"));

    let (status, headers) = call_headers("GET", "/api/users/me/", &[("Origin", origin.as_str())]);
    assert_eq!(status, 401);
    assert_eq!(headers["access-control-allow-origin"], *origin);
    let exposed = &headers["access-control-expose-headers"];
    assert!(
        exposed.contains("WWW-Authenticate")
            && exposed.contains("x-amzn-Remapped-WWW-Authenticate")
            && exposed.contains("Retry-After"),
        "{exposed}"
    );

    for evil in ["https://evil.example", "null"] {
        let (status, headers) = call_headers(
            "OPTIONS",
            "/api/users/me/token/regenerate/",
            &[("Origin", evil), ("Access-Control-Request-Method", "POST")],
        );
        assert_eq!(status, 204);
        assert!(
            headers.keys().all(|name| !name.starts_with("access-control-")),
            "{evil}: {headers:?}"
        );
        let (_, headers) = call_headers("GET", "/api/users/me/", &[("Origin", evil)]);
        assert!(
            headers.keys().all(|name| !name.starts_with("access-control-")),
            "{evil}"
        );
    }
}

#[test]
fn the_regenerate_flow_as_a_client_sees_it() {
    let api = local_api();
    let (email, old) = new_user(api);
    let (status, _, body) = call(
        "POST",
        "/api/users/me/token/regenerate/",
        &[("Authorization", &bearer(&old))],
    );
    assert_eq!(status, 200);
    let new = body["access_token"].as_str().unwrap().to_string();
    for (method, path) in [
        ("GET", "/api/users/me/"),
        ("GET", "/api/users/me/token/"),
        ("POST", "/api/users/me/token/regenerate/"),
        ("GET", "/api/v3/auth/user"),
    ] {
        assert_eq!(
            call(method, path, &[("Authorization", &bearer(&old))]).0,
            401,
            "old token on {path}"
        );
    }
    assert_eq!(
        call("GET", "/api/users/me/token/", &[("Authorization", &bearer(&new))]).2["access_token"],
        new
    );

    // The web app's session: reading needs only the cookie, regenerating needs CSRF too.
    let (sessionid, csrftoken) = new_session(api, &email);
    let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
    let (status, _, body) = call("GET", "/api/users/me/token/", &[("Cookie", &cookie)]);
    assert_eq!((status, body), (200, json!({"access_token": new})));
    let (status, _, body) = call("POST", "/api/users/me/token/regenerate/", &[("Cookie", &cookie)]);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );
    let with_csrf = [("Cookie", cookie.as_str()), ("X-CSRFToken", csrftoken.as_str())];
    let (status, _, body) = call("POST", "/api/users/me/token/regenerate/", &with_csrf);
    assert_eq!(status, 200);
    assert_ne!(body["access_token"], new.as_str());
    assert_eq!(
        call("GET", "/api/users/me/", &[("Authorization", &bearer(&new))]).0,
        401
    );
    assert_not_logged(&[&old, &new, &sessionid, &csrftoken]);
}

#[test]
fn the_specs_examples_print_what_the_spec_shows() {
    let tokens = testkit::examples::assert_all_print_what_the_spec_shows(local_api());
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    assert_not_logged(&tokens);
}

#[test]
fn make_run_on_someone_elses_store_prints_none_of_their_credentials() {
    let secret_access_key = format!("caller-secret-access-key-{}", std::process::id());
    let token_key = format!("the-callers-own-token-key-of-32-bytes-{}", std::process::id());
    let settings = [
        // The stack's own DynamoDB Local, as someone else's store: another table on it.
        format!(
            "AWS_ENDPOINT_URL_DYNAMODB={}",
            local_api().env["AWS_ENDPOINT_URL_DYNAMODB"]
        ),
        format!("TABLE_NAME=theirs-{}", testkit::free_port()),
        "AWS_ACCESS_KEY_ID=local".to_string(),
        format!("AWS_SECRET_ACCESS_KEY={secret_access_key}"),
        format!("TOKEN_KEY={token_key}"),
    ];
    let first = LocalApi::start_with("info", &settings);
    let printed = first.logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(printed.contains("not printed: they are yours"), "{printed}");
    for secret in [&secret_access_key, &token_key] {
        assert!(
            !printed.contains(secret.as_str()),
            "make run printed a secret of the caller's"
        );
    }
    // Run again on the same store: the demo user is found, with the same token.
    let token = first.env["TOKEN"].clone();
    drop(first);
    let again = LocalApi::start_with("info", &settings);
    assert_eq!(
        again.env["TOKEN"], token,
        "the second run finds the first run's demo user"
    );
}

#[test]
fn make_run_on_its_own_store_prints_only_public_credentials() {
    // A shell that holds real-looking AWS credentials and its own key: the local store gets
    // fixed public credentials instead, and the key is not printed.
    let secret_access_key = format!("caller-secret-access-key-{}", std::process::id());
    let token_key = format!("the-callers-own-token-key-of-32-bytes-{}", std::process::id());
    let settings = [
        "AWS_ACCESS_KEY_ID=AKIACALLERSOWNKEY".to_string(),
        format!("AWS_SECRET_ACCESS_KEY={secret_access_key}"),
        format!("TOKEN_KEY={token_key}"),
    ];
    let api = LocalApi::start_with("info", &settings);
    let printed = api.logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for secret in [
        secret_access_key.as_str(),
        token_key.as_str(),
        "AKIACALLERSOWNKEY",
    ] {
        assert!(!printed.contains(secret), "make run printed {secret}");
    }
    assert_eq!(api.env["AWS_ACCESS_KEY_ID"], "local");
    assert!(!api.env.contains_key("TOKEN_KEY"), "the key is not printed");
    assert!(printed.contains("(and your TOKEN_KEY, not printed)"), "{printed}");
}

#[test]
fn the_logs_never_hold_a_secret_even_at_trace() {
    let api = local_api();
    let (email, token) = new_user(api);
    let (sessionid, csrftoken) = new_session(api, &email);
    let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
    call("GET", "/api/users/me/", &[("Authorization", &bearer(&token))]);
    call("GET", "/api/users/me/token/", &[("Cookie", &cookie)]);
    let regenerate = [("Cookie", cookie.as_str()), ("X-CSRFToken", csrftoken.as_str())];
    let (_, _, body) = call("POST", "/api/users/me/token/regenerate/", &regenerate);
    let new = body["access_token"].as_str().unwrap().to_string();
    assert!(
        api.logs.lock().unwrap().contains("TRACE"),
        "the functions log at TRACE"
    );
    assert_not_logged(&[&token, &sessionid, &csrftoken, &new, &api.env["TOKEN_KEY"]]);
}

/// Inputs picked for being nasty: each gets a contract 4xx, never a 5xx.
#[test]
fn hand_picked_nasty_requests_get_clean_4xx() {
    let api = local_api();
    let (email, token) = new_user(api);
    let (sessionid, csrftoken) = new_session(api, &email);
    let v1 = json!({"detail": "Not authenticated"});
    let huge = format!("Bearer {}", "A".repeat(16 * 1024));
    let wrong_secret = {
        // The user part of a real token with the rest of another one.
        let (_, other) = new_user(api);
        format!("Bearer {}{}", &token[..22], &other[22..])
    };
    let (deleted_email, deleted_token) = new_user(api);
    usersctl(api, &["delete-user", "--email", &deleted_email]);
    for (what, headers, expected) in [
        (
            "a 16 KB Authorization header",
            vec![("Authorization", huge.clone())],
            (401, v1.clone()),
        ),
        (
            "Bearer alone",
            vec![("Authorization", "Bearer".to_string())],
            (401, v1.clone()),
        ),
        (
            // API Gateway joins repeated headers with commas (the local emulator keeps the first).
            "two Authorization headers, as API Gateway delivers them",
            vec![("Authorization", format!("{},{}", bearer(&token), bearer(&token)))],
            (401, v1.clone()),
        ),
        (
            "a real user part with a wrong secret",
            vec![("Authorization", wrong_secret.clone())],
            (401, v1.clone()),
        ),
        (
            "the token of a deleted user",
            vec![("Authorization", bearer(&deleted_token))],
            (401, v1.clone()),
        ),
        (
            "a repeated sessionid, the valid one first",
            vec![("Cookie", format!("sessionid={sessionid}; sessionid=junk"))],
            (200, json!({"access_token": token})),
        ),
        (
            // Another application's cookie on the domain, not ASCII (UTF-8 "é").
            "a non-ASCII cookie of another application beside the session",
            vec![("Cookie", format!("theme=caf\u{e9}; sessionid={sessionid}"))],
            (200, json!({"access_token": token})),
        ),
        (
            "a repeated sessionid, junk first",
            vec![("Cookie", format!("sessionid=junk; sessionid={sessionid}"))],
            (401, v1.clone()),
        ),
    ] {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let (status, content_type, body) = call("GET", "/api/users/me/token/", &headers);
        assert_eq!((status, body), expected, "{what}");
        assert_eq!(content_type, "application/json", "{what}");
    }

    let csrf_without_cookie = [
        ("Cookie", format!("sessionid={sessionid}")),
        ("X-CSRFToken", csrftoken.clone()),
    ];
    let headers: Vec<(&str, &str)> = csrf_without_cookie
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    let (status, _, body) = call("POST", "/api/users/me/token/regenerate/", &headers);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF cookie not set."}))
    );

    // Bytes that are not UTF-8 in a cookie reach a function only transcoded (its event is
    // JSON), as non-ASCII text: sent so, byte for byte. (Raw invalid bytes never get past
    // the HTTP layer in front of the function; the parsers' own tests feed them directly.)
    let mut cookie = b"sessionid=".to_vec();
    cookie.extend_from_slice("\u{ff}\u{fe}\u{80}".as_bytes());
    let (status, body) = raw_request("GET", "/api/users/me/token/", &[(b"Cookie", &cookie)]);
    assert_eq!(
        (status, body),
        (401, v1.to_string()),
        "non-ASCII bytes in a cookie"
    );
    assert_not_logged(&[&token, &sessionid, &csrftoken, &wrong_secret[7..]]);
}

/// Status and body of a request written byte for byte over TCP.
fn raw_request(method: &str, path: &str, headers: &[(&[u8], &[u8])]) -> (u16, String) {
    use std::io::{Read, Write};
    let address = local_api().base_url.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name);
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Schemathesis from openapi.yaml against the local API: with a valid token and without
/// one, at least 1,000 generated requests each, no 5xx, nothing outside the spec.
#[test]
fn generated_requests_find_no_server_error_and_nothing_outside_the_spec() {
    let api = local_api();
    let (_, token) = new_user(api);
    let authorization = format!("Authorization: {}", bearer(&token));
    let (_, post_token) = new_user(api);
    let post_authorization = format!("Authorization: {}", bearer(&post_token));
    let runs: [(&str, Vec<&str>); 3] = [
        // The reads, with a token that stays valid throughout.
        (
            "with a valid token",
            vec!["-H", &authorization, "--include-method", "GET", "-n", "2000"],
        ),
        ("without a token", vec!["-n", "1000"]),
        // The regenerate: its first success ends the token, as it should.
        (
            "regenerating",
            vec!["-H", &post_authorization, "--include-method", "POST", "-n", "300"],
        ),
    ];
    let scratch = std::env::temp_dir().join(format!("schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for (what, args) in runs {
        let output = Command::new(workspace_root().join(".tools/venv/bin/schemathesis"))
            .current_dir(&scratch)
            .args([
                "run",
                &workspace_root().join("openapi.yaml").display().to_string(),
                "--url",
                &api.base_url,
            ])
            .args([
                "--checks",
                "all",
                "--seed",
                "20261121",
                "--generation-database",
                "none",
            ])
            // The API answers a method it does not serve as API Gateway does (404), not 405.
            .args(["--exclude-checks", "unsupported_method"])
            .args(args)
            .output()
            .expect("schemathesis is installed (make test)");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis {what} found problems:\n{stdout}"
        );
        let generated: usize = stdout
            .lines()
            .find_map(|line| {
                line.trim()
                    .split_once(" generated")
                    .and_then(|(count, _)| count.parse().ok())
            })
            .unwrap_or_else(|| panic!("no count in:\n{stdout}"));
        eprintln!("schemathesis {what}: {generated} generated requests, no failure");
        if what != "regenerating" {
            assert!(
                generated >= 1000,
                "schemathesis {what}: only {generated} requests"
            );
        }
    }
    assert_not_logged(&[&token, &post_token]);
}

/// A POST with a body; `(status, Set-Cookie values, JSON body or Null)`.
fn post(path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<String>, Value) {
    let reply = testkit::http::send(&local_api().base_url, "POST", path, headers, body);
    let cookies = reply.values("set-cookie").map(str::to_string).collect();
    let body = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    (reply.status, cookies, body)
}

/// The value a `Set-Cookie` line gives `name`.
fn cookie_value<'a>(cookies: &'a [String], name: &str) -> Option<&'a str> {
    cookies
        .iter()
        .find_map(|cookie| cookie.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or_default())
}

/// What a browser (or curl) does on the account page's API, over HTTP through the emulated
/// REST API: a wrong password, a sign-in that ignores a session id the client chose, the
/// token read with the session, a sign-out, and what the logs say of it (never a secret).
#[test]
fn sign_in_and_out_over_http() {
    let api = local_api();
    let email = format!("signin-{}@example.com", std::process::id());
    let password = "a password that is long enough";
    api.usersctl_with_stdin(
        &["create-user", "--email", &email, "--password-stdin"],
        &format!("{password}\n"),
    );
    let json = [("Content-Type", "application/json")];
    let body = |password: &str| json!({"email": email, "password": password}).to_string();

    let (status, cookies, answer) = post("/api/auth/login/", &json, &body("not the password"));
    assert_eq!(
        (status, answer),
        (401, json!({"detail": "Invalid email or password."}))
    );
    assert!(cookies.is_empty(), "{cookies:?}");

    // A session id planted by someone else (fixation) is never the one opened.
    let planted = "sessionid=planted-by-an-attacker-0123456789abcdefghijklmnopqrstuvwxyz";
    let with_planted = [json[0], ("Cookie", planted)];
    let (status, cookies, answer) = post("/api/auth/login/", &with_planted, &body(password));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["is_authenticated"], true);
    let sessionid = cookie_value(&cookies, "sessionid")
        .expect("a session cookie")
        .to_string();
    let csrftoken = cookie_value(&cookies, "csrftoken")
        .expect("a CSRF cookie")
        .to_string();
    assert!(!planted.contains(&sessionid), "a fresh session id");
    let session_cookie = cookies.iter().find(|c| c.starts_with("sessionid=")).unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }

    // The session reads the token; a sign-out needs the CSRF token, then ends the session.
    let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
    let (status, _, token) = call("GET", "/api/users/me/token/", &[("Cookie", &cookie)]);
    assert_eq!(status, 200, "{token}");
    let (status, _, refused) = post("/api/auth/logout/", &[("Cookie", &cookie)], "");
    assert_eq!(
        (status, refused),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );
    let with_csrf = [("Cookie", cookie.as_str()), ("X-CSRFToken", csrftoken.as_str())];
    let (status, cookies, _) = post("/api/auth/logout/", &with_csrf, "");
    assert_eq!(status, 204);
    for name in ["sessionid", "csrftoken"] {
        let expired = cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap();
        assert!(expired.contains("Max-Age=0"), "{expired}");
    }
    let (status, _, _) = call("GET", "/api/users/me/token/", &[("Cookie", &cookie)]);
    assert_eq!(status, 401, "the session is gone");

    // The audit trail has each step (at TRACE too, never a password or a session id).
    std::thread::sleep(Duration::from_millis(100));
    let logs = api.logs.lock().unwrap().clone();
    for (event, detail) in [
        ("sign_in_failed", "wrong_password"),
        ("session_opened", "sign_in"),
        ("session_revoked", "sign_out"),
    ] {
        assert!(
            logs.lines().any(|line| line.contains("audit")
                && line.contains(&format!("event=\"{event}\""))
                && line.contains(&format!("detail=\"{detail}\""))),
            "no {event} ({detail}) audit line"
        );
    }
    let token = token["access_token"].as_str().unwrap();
    assert_not_logged(&[
        password,
        "not the password",
        &sessionid,
        &csrftoken,
        token,
        &email,
    ]);
}
