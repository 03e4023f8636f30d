//! What a deployed stack must answer, check by check: the contract's four endpoints on both
//! slash forms, both families' 401s, a regenerate's effect, the session's life, the gateway's
//! 404s, CORS, and the account page. Each check makes one to three requests, none repeated.

use hyper::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::client::Api;
use super::expect::*;
use super::report::Report;

/// The throwaway user the checks act as, and its credentials as they change.
pub struct Subject {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    /// Its current access token.
    pub token: String,
    /// A token for the same user under a key the stack does not have.
    pub foreign_token: String,
    /// Its current token with a tag no key made.
    pub forged_token: String,
}

/// Every check, in order; results go to `report`. Only a request that cannot even be made
/// ends the run early (the rest of the checks depend on the one before).
pub async fn run(api: &Api, report: &mut Report, subject: &mut Subject, origin: Option<&str>) {
    reads_at_both_slash_forms(api, report, subject).await;
    regenerate_at_both_slash_forms(api, report, subject).await;
    refusals(api, report, subject).await;
    sessions(api, report, subject).await;
    gateway_404s(api, report, subject).await;
    if let Some(origin) = origin {
        cors(api, report, subject, origin).await;
    }
    account_page(api, report).await;
}

/// The three reads answer 200 with exactly the contract's fields, at `/x/` and at `/x`.
async fn reads_at_both_slash_forms(api: &Api, report: &mut Report, subject: &Subject) {
    let authorization = bearer(&subject.token);
    let headers = [("authorization", authorization.as_str())];
    for path in [
        "/api/users/me/",
        "/api/users/me",
        "/api/users/me/token/",
        "/api/users/me/token",
    ] {
        let result = async {
            let reply = api.send(&Method::GET, path, &headers, None).await?;
            status(&reply, 200)?;
            if path.starts_with("/api/users/me/token") {
                let body = json_fields(&reply, &[("access_token", Kind::Text)])?;
                return equals("access_token", &body["access_token"], &json!(subject.token));
            }
            let body = json_fields(&reply, &CURRENT_USER)?;
            equals(
                "external_id",
                &body["external_id"],
                &json!(subject.id.to_string()),
            )?;
            equals("email", &body["email"], &json!(subject.email))?;
            equals("is_authenticated", &body["is_authenticated"], &json!(true))?;
            equals("access_token", &body["access_token"], &json!(subject.token))
        }
        .await;
        report.record(
            &format!("GET {path} (Bearer): 200 with the contract's fields"),
            result,
        );
    }
    for path in ["/api/v3/auth/user", "/api/v3/auth/user/"] {
        let result = async {
            let reply = api.send(&Method::GET, path, &headers, None).await?;
            status(&reply, 200)?;
            let envelope = [
                ("data", Kind::Object),
                ("success", Kind::Bool),
                ("errno", Kind::Number),
                ("error", Kind::TextOrNull),
            ];
            let body = json_fields(&reply, &envelope)?;
            for (field, expected) in [
                ("success", json!(true)),
                ("errno", json!(0)),
                ("error", Value::Null),
            ] {
                equals(field, &body[field], &expected)?;
            }
            has_fields(&body["data"], &AUTH_USER)?;
            equals("data.id", &body["data"]["id"], &json!(subject.id.to_string()))?;
            equals("data.email", &body["data"]["email"], &json!(subject.email))
        }
        .await;
        report.record(&format!("GET {path} (Bearer): 200 in the v3 envelope"), result);
    }
}

/// A regenerate at each slash form gives a new token at once; after the first, the new token
/// works on every endpoint and the old one on none.
async fn regenerate_at_both_slash_forms(api: &Api, report: &mut Report, subject: &mut Subject) {
    let old = subject.token.clone();
    let path = "/api/users/me/token/regenerate/";
    let result = regenerate(api, path, &old).await;
    report.record(
        &format!("POST {path} (Bearer): 200 with a new token"),
        result.clone().map(|_| ()),
    );
    let Ok(new) = result else { return };
    report.keep_secret(&new);
    subject.token = new.clone();
    for path in ["/api/users/me/", "/api/users/me/token/", "/api/v3/auth/user"] {
        let result = async {
            let authorization = bearer(&new);
            let reply = api
                .send(&Method::GET, path, &[("authorization", &authorization)], None)
                .await?;
            status(&reply, 200)
        }
        .await;
        report.record(&format!("GET {path} with the regenerated token: 200"), result);
    }
    for (method, path) in [
        (Method::GET, "/api/users/me/"),
        (Method::GET, "/api/users/me/token/"),
        (Method::GET, "/api/v3/auth/user"),
        (Method::POST, "/api/users/me/token/regenerate/"),
    ] {
        let result = async {
            let authorization = bearer(&old);
            let reply = api
                .send(&method, path, &[("authorization", &authorization)], None)
                .await?;
            unauthorized(&reply, path.starts_with("/api/v3"), INVALID_TOKEN)
        }
        .await;
        report.record(&format!("{method} {path} with the replaced token: 401"), result);
    }
    let path = "/api/users/me/token/regenerate";
    let result = regenerate(api, path, &subject.token).await;
    if let Ok(newer) = &result {
        report.keep_secret(newer);
        subject.token = newer.clone();
    }
    report.record(
        &format!("POST {path} (Bearer): 200 with a new token"),
        result.map(|_| ()),
    );
    // The forgery is made from the token now current, so only its tag is wrong.
    if let Ok(token) = subject.token.parse::<shared::tokens::AccessToken>() {
        subject.forged_token = token.forged().to_string();
        report.keep_secret(&subject.forged_token);
    }
}

async fn regenerate(api: &Api, path: &str, token: &str) -> Result<String, String> {
    let authorization = bearer(token);
    let reply = api
        .send(&Method::POST, path, &[("authorization", &authorization)], None)
        .await?;
    new_token(&reply)
}

/// Both families' 401 for no credential, a malformed header, a forged token and a token of
/// another key, on every endpoint.
async fn refusals(api: &Api, report: &mut Report, subject: &Subject) {
    let endpoints = [
        (Method::GET, "/api/users/me/"),
        (Method::GET, "/api/users/me/token/"),
        (Method::POST, "/api/users/me/token/regenerate/"),
        (Method::GET, "/api/v3/auth/user"),
    ];
    let forged = bearer(&subject.forged_token);
    let foreign = bearer(&subject.foreign_token);
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("without a credential", None, "Bearer"),
        (
            "with a malformed header",
            Some("Bearer not-a-token"),
            INVALID_TOKEN,
        ),
        ("with a forged token", Some(&forged), INVALID_TOKEN),
        ("with another key's token", Some(&foreign), INVALID_TOKEN),
    ];
    for (method, path) in &endpoints {
        for (case, authorization, challenge) in &cases {
            let result = async {
                let headers: Vec<(&str, &str)> = authorization
                    .iter()
                    .map(|value| ("authorization", *value))
                    .collect();
                let reply = api.send(method, path, &headers, None).await?;
                unauthorized(&reply, path.starts_with("/api/v3"), challenge)
            }
            .await;
            report.record(&format!("{method} {path} {case}: 401 and its challenge"), result);
        }
    }
}

/// A sign-in with the throwaway password opens a session with the promised cookies; the
/// session reads the token, needs CSRF to regenerate, and ends at sign-out.
async fn sessions(api: &Api, report: &mut Report, subject: &mut Subject) {
    let form = json!({"email": subject.email, "password": subject.password}).to_string();
    let login = async {
        let reply = api
            .send(
                &Method::POST,
                "/api/auth/login/",
                &[],
                Some(("application/json", form)),
            )
            .await?;
        status(&reply, 200)?;
        let body = json_fields(
            &reply,
            &[("external_id", Kind::Text), ("is_authenticated", Kind::Bool)],
        )?;
        equals(
            "external_id",
            &body["external_id"],
            &json!(subject.id.to_string()),
        )?;
        let lines = reply.values("set-cookie");
        let (session, session_attributes) =
            set_cookie(&lines, "sessionid").ok_or("expected a sessionid cookie, got none")?;
        let (csrf, csrf_attributes) =
            set_cookie(&lines, "csrftoken").ok_or("expected a csrftoken cookie, got none")?;
        Ok::<_, String>((
            session.to_string(),
            csrf.to_string(),
            cookie_attributes(&session_attributes, true, false)
                .and_then(|()| cookie_attributes(&csrf_attributes, false, false)),
        ))
    }
    .await;
    let (session, csrf) = match login {
        Ok((session, csrf, attributes)) => {
            report.keep_secret(&session);
            report.keep_secret(&csrf);
            report.record(
                "POST /api/auth/login/: 200, a session in cookies with the promised attributes",
                attributes,
            );
            (session, csrf)
        }
        Err(detail) => {
            report.record(
                "POST /api/auth/login/: 200, a session in cookies with the promised attributes",
                Err(detail),
            );
            return;
        }
    };
    let cookie = format!("sessionid={session}; csrftoken={csrf}");
    let with_cookie = [("cookie", cookie.as_str())];
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrftoken", csrf.as_str())];

    let result = async {
        let reply = api
            .send(&Method::GET, "/api/users/me/token/", &with_cookie, None)
            .await?;
        status(&reply, 200)?;
        let body = json_fields(&reply, &[("access_token", Kind::Text)])?;
        equals("access_token", &body["access_token"], &json!(subject.token))
    }
    .await;
    report.record(
        "GET /api/users/me/token/ (session): 200 with the current token",
        result,
    );

    let path = "/api/users/me/token/regenerate/";
    let result = async {
        let reply = api.send(&Method::POST, path, &with_cookie, None).await?;
        status(&reply, 403)?;
        let body = json_body(&reply)?;
        equals(
            "the body",
            &body,
            &json!({"detail": "CSRF Failed: CSRF token missing."}),
        )
    }
    .await;
    report.record(&format!("POST {path} (session, no CSRF token): 403"), result);

    let result = async {
        let reply = api.send(&Method::POST, path, &with_csrf, None).await?;
        new_token(&reply)
    }
    .await;
    if let Ok(token) = &result {
        report.keep_secret(token);
        subject.token = token.clone();
    }
    report.record(
        &format!("POST {path} (session and CSRF token): 200 with a new token"),
        result.map(|_| ()),
    );

    let result = async {
        let reply = api
            .send(&Method::POST, "/api/auth/logout/", &with_csrf, None)
            .await?;
        status(&reply, 204)?;
        let lines = reply.values("set-cookie");
        for (name, http_only) in [("sessionid", true), ("csrftoken", false)] {
            let (_, attributes) =
                set_cookie(&lines, name).ok_or(format!("expected {name} expired, got no such cookie"))?;
            cookie_attributes(&attributes, http_only, true)?;
        }
        Ok(())
    }
    .await;
    report.record(
        "POST /api/auth/logout/ (session and CSRF token): 204, both cookies expired",
        result,
    );

    let result = async {
        let reply = api
            .send(&Method::GET, "/api/users/me/token/", &with_cookie, None)
            .await?;
        unauthorized(&reply, false, "Bearer")
    }
    .await;
    report.record("GET /api/users/me/token/ (ended session): 401", result);
}

/// An unknown path and an unknown method: the gateway's 404, with and without a Bearer
/// header (a REST API would read the header of an unknown route as a SigV4 signature).
async fn gateway_404s(api: &Api, report: &mut Report, subject: &Subject) {
    let authorization = bearer(&subject.token);
    for (method, path) in [
        (Method::GET, "/api/verify-deployment/unknown"),
        (Method::DELETE, "/api/users/me/"),
    ] {
        for with_bearer in [false, true] {
            let result = async {
                let headers: Vec<(&str, &str)> = if with_bearer {
                    vec![("authorization", authorization.as_str())]
                } else {
                    Vec::new()
                };
                let reply = api.send(&method, path, &headers, None).await?;
                status(&reply, 404)?;
                let expected: Value = serde_json::from_str(NOT_FOUND).unwrap_or_default();
                equals(
                    "the body",
                    &reply.json().unwrap_or(Value::String(reply.body.clone())),
                    &expected,
                )
            }
            .await;
            let how = if with_bearer {
                "with a Bearer header"
            } else {
                "without credentials"
            };
            report.record(&format!("{method} {path} {how}: the gateway's 404"), result);
        }
    }
}

/// The preflight allows `origin` with credentials, answers expose the challenge and
/// `Retry-After`, and another origin gets no allow header.
async fn cors(api: &Api, report: &mut Report, subject: &Subject, origin: &str) {
    let path = "/api/users/me/token/regenerate/";
    let preflight = |origin: &str| {
        [
            ("origin", origin.to_string()),
            ("access-control-request-method", "POST".to_string()),
            ("access-control-request-headers", "x-csrftoken".to_string()),
        ]
    };
    let result = async {
        let headers = preflight(origin);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let reply = api.send(&Method::OPTIONS, path, &headers, None).await?;
        if !(200..300).contains(&reply.status) {
            return Err(format!("expected 2xx, {}", got(&reply)));
        }
        let header = |name: &str| reply.header(name).unwrap_or_default().to_string();
        if header("access-control-allow-origin") != origin
            || header("access-control-allow-credentials") != "true"
        {
            return Err(format!(
                "expected Access-Control-Allow-Origin {origin} with credentials, got {:?} and {:?}",
                header("access-control-allow-origin"),
                header("access-control-allow-credentials")
            ));
        }
        let allowed = header("access-control-allow-headers").to_ascii_lowercase();
        if !header("access-control-allow-methods").contains("POST") || !allowed.contains("x-csrftoken") {
            return Err(format!(
                "expected POST and X-CSRFToken allowed, got methods {:?} and headers {allowed:?}",
                header("access-control-allow-methods")
            ));
        }
        Ok(())
    }
    .await;
    report.record(
        &format!("OPTIONS {path} from {origin}: allowed, with credentials"),
        result,
    );

    let result = async {
        let authorization = bearer(&subject.token);
        let headers = [("origin", origin), ("authorization", authorization.as_str())];
        let reply = api.send(&Method::GET, "/api/users/me/", &headers, None).await?;
        status(&reply, 200)?;
        let exposed = reply
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if exposed.contains("www-authenticate") && exposed.contains("retry-after") {
            Ok(())
        } else {
            Err(format!(
                "expected WWW-Authenticate and Retry-After exposed, got {exposed:?}"
            ))
        }
    }
    .await;
    report.record(
        &format!("GET /api/users/me/ from {origin}: the challenge and Retry-After exposed"),
        result,
    );

    let other = "https://verify-deployment.example.invalid";
    let result = async {
        let headers = preflight(other);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let reply = api.send(&Method::OPTIONS, path, &headers, None).await?;
        match reply.header("access-control-allow-origin") {
            None => Ok(()),
            Some(allowed) => Err(format!(
                "expected no Access-Control-Allow-Origin, got {allowed:?}"
            )),
        }
    }
    .await;
    report.record(
        &format!("OPTIONS {path} from another origin: no allow header"),
        result,
    );
}

/// `GET /`: the account page, HTML under its Content-Security-Policy.
async fn account_page(api: &Api, report: &mut Report) {
    let result = async {
        let reply = api.send(&Method::GET, "/", &[], None).await?;
        status(&reply, 200)?;
        let content_type = reply.header("content-type").unwrap_or_default();
        if !content_type.starts_with("text/html") {
            return Err(format!("expected text/html, got {content_type:?}"));
        }
        match reply.header("content-security-policy") {
            Some(policy) if policy.starts_with("default-src 'none'") => Ok(()),
            policy => Err(format!(
                "expected a Content-Security-Policy of default-src 'none', got {policy:?}"
            )),
        }
    }
    .await;
    report.record(
        "GET /: the account page, HTML with its Content-Security-Policy",
        result,
    );
}
