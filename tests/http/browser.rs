//! The account page in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver, spoken to with plain HTTP: no client crate), against `make run`'s stack.
//! Where Chromium or chromedriver is not installed, the test says so and passes without
//! running (`make test` installs both as root). A screenshot of the account page is left in
//! `target/artefacts/account-page.png`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{TiedProcess, free_port, workspace_root};
use ureq::Agent;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    agent: Agent,
    session: String,
    _driver: TiedProcess,
}

impl Browser {
    /// Headless Chromium at a phone's width (390 x 844, an iPhone 12-14).
    fn start() -> Self {
        let port = free_port();
        let port_arg = format!("--port={port}");
        let mut driver = TiedProcess::spawn(CHROMEDRIVER, &[port_arg.as_ref()], Stdio::null());
        testkit::wait_for_port(port, &mut driver, "chromedriver");
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=390,844"]
            }
        }}});
        let mut response = agent
            .post(format!("{base}/session"))
            .send_json(&capabilities)
            .unwrap();
        let created: Value = response.body_mut().read_json().unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver made no session: {created}"))
            .to_string();
        Self {
            agent,
            session: format!("{base}/session/{session}"),
            _driver: driver,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut response = match body {
            Some(body) => self.agent.post(&url).send_json(&body),
            None if method == "DELETE" => self.agent.delete(&url).call(),
            None => self.agent.get(&url).call(),
        }
        .unwrap();
        let answer: Value = response.body_mut().read_json().unwrap();
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// The element for a CSS selector, once it exists.
    fn find(&self, selector: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": selector})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {selector}: {found}"))
            .to_string()
    }

    fn type_into(&self, selector: &str, text: &str) {
        let element = self.find(selector);
        self.command("POST", &format!("/element/{element}/clear"), Some(json!({})));
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, selector: &str) {
        let element = self.find(selector);
        self.command("POST", &format!("/element/{element}/click"), Some(json!({})));
    }

    /// Runs `script` in the page and returns its value.
    fn eval(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits until `script` returns something truthy (a string, `true`), and returns it.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script);
            let truthy = match &value {
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Null => false,
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "waited 30 s for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        let dir = workspace_root().join("target/artefacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
    }
}

/// `GET /api/users/me/` with a Bearer token, as curl would: the status.
fn bearer_status(base_url: &str, token: &str) -> u16 {
    let agent: Agent = Agent::config_builder().http_status_as_error(false).build().into();
    agent
        .get(format!("{base_url}/api/users/me/"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

const VISIBLE: &str = "return !document.getElementById('ID').hidden";
/// The confirmation's text, once it shows.
const CONFIRMATION: &str =
    "const c = document.getElementById('confirm-regenerate'); return !c.hidden && c.textContent";

fn browsers_installed() -> bool {
    let installed = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !installed {
        testkit::skip(&format!(
            "{CHROMIUM} or {CHROMEDRIVER} is not installed (make test installs them as root; apt-get install chromium chromium-driver)"
        ));
    }
    installed
}

#[test]
fn a_person_signs_in_copies_regenerates_and_signs_out_in_chromium() {
    if !browsers_installed() {
        return;
    }
    let api = crate::stack();
    let email = format!("browser-{}@example.com", std::process::id());
    let password = "a long enough password";
    let created = api.usersctl_with_stdin(
        &[
            "create-user",
            "--email",
            &email,
            "--email-confirmed",
            "--password-stdin",
        ],
        password,
    );
    let first_token = created["access_token"].as_str().unwrap().to_string();

    let browser = Browser::start();
    browser.open(&format!("{}/", api.base_url));
    browser.wait_for("the sign-in form", &VISIBLE.replace("ID", "sign-in"));

    // A wrong password: the generic refusal, still on the form.
    browser.type_into("#email", &email);
    browser.type_into("#password", "not the password");
    browser.click("#sign-in-button");
    let error = browser.wait_for(
        "the refusal",
        "return document.getElementById('sign-in-error').textContent",
    );
    assert_eq!(error, "Invalid email or password.");

    // The right one: the account, with the user's email and current token.
    browser.type_into("#password", password);
    browser.click("#sign-in-button");
    browser.wait_for("the account", &VISIBLE.replace("ID", "account"));
    let shown = browser.wait_for("the token", "return document.getElementById('token').value");
    assert_eq!(shown, json!(first_token));
    let email_shown = browser.wait_for(
        "the email",
        "return document.getElementById('user-email').textContent",
    );
    assert_eq!(email_shown, json!(email));
    let cookies = browser.eval("return document.cookie");
    assert!(
        cookies.as_str().unwrap_or_default().contains("csrftoken=")
            && !cookies.as_str().unwrap_or_default().contains("sessionid="),
        "the page's script reads the CSRF token, never the session id: {cookies}"
    );
    assert_eq!(
        bearer_status(&api.base_url, &first_token),
        200,
        "the token on the page works"
    );
    // At a phone's width nothing overflows sideways.
    let fits = browser.eval("return document.documentElement.scrollWidth <= window.innerWidth");
    assert_eq!(fits, json!(true), "the page scrolls sideways at a phone's width");
    // Copy: to the clipboard, or (where the browser refuses it) the token selected for the
    // keyboard's copy.
    browser.click("#copy");
    let copied = browser.wait_for(
        "the copy",
        "const s = document.getElementById('status').textContent; return s !== '' && s",
    );
    let selected = browser.eval(
        "const t = document.getElementById('token'); return t.selectionStart === 0 && t.selectionEnd === t.value.length",
    );
    assert!(
        copied == json!("Copied.")
            || (copied.as_str().unwrap_or_default().starts_with("Press") && selected == json!(true)),
        "copy: {copied}, selected: {selected}"
    );
    browser.screenshot("account-page.png");

    // Regenerate in the page: it asks first, saying the old token dies; then the old token is
    // shown dead, and is; the new one works.
    browser.click("#regenerate");
    let warning = browser.wait_for("the confirmation", CONFIRMATION);
    assert!(
        warning
            .as_str()
            .unwrap_or_default()
            .contains("Update all apps that are using the old token"),
        "{warning}"
    );
    assert_eq!(
        bearer_status(&api.base_url, &first_token),
        200,
        "asking kills nothing"
    );
    browser.click("#confirm-regenerate-yes");
    let new_token = browser.wait_for(
        "a new token",
        &format!("const v = document.getElementById('token').value; return v !== '{first_token}' && v"),
    );
    let new_token = new_token.as_str().unwrap().to_string();
    assert!(
        new_token.starts_with("uat_") && new_token.len() == 100,
        "{new_token}"
    );
    let dead = browser.wait_for("the old token marked dead", "return !document.getElementById('old-token').hidden && document.getElementById('old-token').textContent");
    assert!(dead.as_str().unwrap().contains("(401)"), "{dead}");
    assert_eq!(
        bearer_status(&api.base_url, &first_token),
        401,
        "the old token is dead"
    );
    assert_eq!(
        bearer_status(&api.base_url, &new_token),
        200,
        "the new token works"
    );
    browser.screenshot("account-page-regenerated.png");

    // Sign out: back to the form, and the session is gone (a reload does not sign in).
    browser.click("#sign-out");
    browser.wait_for("the sign-in form", &VISIBLE.replace("ID", "sign-in"));
    let said = browser.eval("return document.getElementById('sign-in-error').textContent");
    assert_eq!(said, json!("Signed out."));
    browser.open(&format!("{}/", api.base_url));
    browser.wait_for(
        "the sign-in form after a reload",
        &VISIBLE.replace("ID", "sign-in"),
    );
    let sessions = api.usersctl(&["revoke-sessions", "--email", &email]);
    assert_eq!(sessions["revoked_sessions"], 0, "sign-out deleted the session");
}

#[test]
fn cancelling_the_regenerate_keeps_the_token_working() {
    if !browsers_installed() {
        return;
    }
    let api = crate::stack();
    let email = format!("browser-cancel-{}@example.com", std::process::id());
    let password = "another long enough password";
    let created = api.usersctl_with_stdin(&["create-user", "--email", &email, "--password-stdin"], password);
    let token = created["access_token"].as_str().unwrap().to_string();
    let browser = Browser::start();
    browser.open(&format!("{}/", api.base_url));
    browser.wait_for("the sign-in form", &VISIBLE.replace("ID", "sign-in"));
    browser.type_into("#email", &email);
    browser.type_into("#password", password);
    browser.click("#sign-in-button");
    browser.wait_for(
        "the token",
        &format!("return document.getElementById('token').value === '{token}'"),
    );

    browser.click("#regenerate");
    browser.wait_for("the confirmation", CONFIRMATION);
    let disabled = browser.eval("return document.getElementById('regenerate').disabled");
    assert_eq!(disabled, json!(true), "one question at a time");
    browser.screenshot("account-page-confirm.png");
    browser.click("#confirm-regenerate-no");
    browser.wait_for(
        "the confirmation gone",
        "return document.getElementById('confirm-regenerate').hidden",
    );
    let said = browser.wait_for(
        "the status",
        "return document.getElementById('status').textContent",
    );
    assert_eq!(said, json!("Your token is unchanged."));
    let shown = browser.eval("return document.getElementById('token').value");
    assert_eq!(shown, json!(token), "the page still shows the same token");
    assert_eq!(bearer_status(&api.base_url, &token), 200, "the token still works");
    assert_eq!(
        api.usersctl(&["get-user", "--email", &email, "--show-token"])["access_token"],
        json!(token),
        "nothing was regenerated"
    );
}
