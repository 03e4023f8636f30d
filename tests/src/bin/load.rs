//! `make load`: a bounded load on loopback against the API as `make run` serves it.
//! LOAD_CLIENTS clients (default 20) for LOAD_SECONDS (default 30), over LOAD_USERS users
//! (default 100): mixed reads (all three read endpoints, bearer and session) and
//! regenerations (bearer and session with CSRF). Each client owns its users, so every
//! answer is predictable: any status but 200 is unexpected. Afterwards every user's last
//! token must still be its current one (none lost) and no token may repeat.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use testkit::local_api::LocalApi;
use ureq::Agent;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct User {
    token: String,
    cookie: String,
    csrf: String,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<(&'static str, Duration)>,
    unexpected: Vec<String>,
    issued: Vec<String>,
}

/// One request; the access token in the answer when there is one.
fn send(agent: &Agent, base: &str, kind: &'static str, user: &User, tally: &mut Tally) -> Option<String> {
    let (method, path) = match kind {
        "GET /api/users/me/" => ("GET", "/api/users/me/"),
        "GET /api/v3/auth/user" => ("GET", "/api/v3/auth/user"),
        "POST regenerate (bearer)" | "POST regenerate (session)" => {
            ("POST", "/api/users/me/token/regenerate/")
        }
        _ => ("GET", "/api/users/me/token/"),
    };
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    request = match kind {
        "GET token (session)" => request.header("Cookie", &user.cookie),
        "POST regenerate (session)" => request
            .header("Cookie", &user.cookie)
            .header("X-CSRFToken", &user.csrf),
        _ => request.header("Authorization", format!("Bearer {}", user.token)),
    };
    let started = Instant::now();
    let outcome = request
        .body(())
        .map_err(|e| e.to_string())
        .and_then(|r| agent.run(r).map_err(|e| e.to_string()));
    tally.latencies.push((kind, started.elapsed()));
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => {
            tally.unexpected.push(format!("{kind}: {error}"));
            return None;
        }
    };
    let status = response.status().as_u16();
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
    if status != 200 {
        tally.unexpected.push(format!("{kind}: {status} {body}"));
        return None;
    }
    let token = body["access_token"].as_str().map(str::to_string);
    if kind.starts_with("POST") {
        tally.issued.extend(token.clone());
    }
    token
}

fn main() {
    let (clients, seconds, users) = (
        setting("LOAD_CLIENTS", 20),
        setting("LOAD_SECONDS", 30),
        setting("LOAD_USERS", 100),
    );
    eprintln!("Starting the local API (make run)...");
    let api = LocalApi::start("warn");
    eprintln!("Creating {users} users with sessions...");
    let mut owned: Vec<Vec<User>> = (0..clients).map(|_| Vec::new()).collect();
    for n in 0..users {
        let (email, token) = api.new_user();
        let (sessionid, csrf) = api.new_session(&email);
        owned[(n % clients) as usize].push(User {
            token,
            cookie: format!("sessionid={sessionid}; csrftoken={csrf}"),
            csrf,
        });
    }
    eprintln!("{clients} clients for {seconds} s...");
    let kinds = [
        "GET /api/users/me/",
        "GET /api/v3/auth/user",
        "GET token (bearer)",
        "GET token (session)",
        "GET /api/users/me/",
        "GET token (bearer)",
        "GET /api/v3/auth/user",
        "POST regenerate (bearer)",
        "GET token (session)",
        "POST regenerate (session)",
    ];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let base = api.base_url.clone();
    let tallies: Vec<(Vec<User>, Tally)> = std::thread::scope(|scope| {
        let handles: Vec<_> = owned
            .into_iter()
            .enumerate()
            .map(|(client, mut users)| {
                let base = base.clone();
                scope.spawn(move || {
                    let agent: Agent = Agent::config_builder().http_status_as_error(false).build().into();
                    let mut tally = Tally::default();
                    let mut step = client;
                    while Instant::now() < deadline && !users.is_empty() {
                        let index = step % users.len();
                        let kind = kinds[step % kinds.len()];
                        let token = send(&agent, &base, kind, &users[index], &mut tally);
                        if let Some(token) = token.filter(|_| kind.starts_with("POST")) {
                            users[index].token = token;
                        }
                        step += 1;
                    }
                    (users, tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a client thread"))
            .collect()
    });

    // Every user's last token is still its current one, and no token was issued twice.
    let agent: Agent = Agent::config_builder().http_status_as_error(false).build().into();
    let mut lost = 0;
    let mut all = Tally::default();
    for (users, tally) in tallies {
        for user in &users {
            let mut check = Tally::default();
            if send(&agent, &base, "GET token (bearer)", user, &mut check).as_deref()
                != Some(user.token.as_str())
            {
                lost += 1;
            }
        }
        all.latencies.extend(tally.latencies);
        all.unexpected.extend(tally.unexpected);
        all.issued.extend(tally.issued);
    }
    let unique: HashSet<&String> = all.issued.iter().collect();
    let duplicated = all.issued.len() - unique.len();

    let mut durations: Vec<Duration> = all.latencies.iter().map(|(_, d)| *d).collect();
    durations.sort();
    let at = |p: f64| durations[((durations.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    println!("\n## Load: {clients} clients, {seconds} s, {users} users, loopback");
    println!(
        "\n| requests | per second | p50 ms | p99 ms | unexpected statuses | tokens issued | lost | duplicated |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.0} | {:.2} | {:.2} | {} | {} | {lost} | {duplicated} |",
        durations.len(),
        durations.len() as f64 / seconds as f64,
        at(0.5),
        at(0.99),
        all.unexpected.len(),
        all.issued.len(),
    );
    for problem in all.unexpected.iter().take(10) {
        println!("unexpected: {problem}");
    }
    if !all.unexpected.is_empty() || lost > 0 || duplicated > 0 {
        std::process::exit(1);
    }
}
