//! The checks' results as they come: one line each, and never a secret in them.

use serde_json::{Value, json};

/// The checks' results as they come, printed one line each (unless `quiet`), with every
/// secret the run knows of, and anything shaped like an access token, taken out.
pub struct Report {
    secrets: Vec<String>,
    results: Vec<(String, Result<(), String>)>,
    quiet: bool,
}

impl Report {
    pub fn new(quiet: bool) -> Self {
        Self {
            secrets: Vec::new(),
            results: Vec::new(),
            quiet,
        }
    }

    /// From now on, `secret` never appears in what is printed.
    pub fn keep_secret(&mut self, secret: &str) {
        if secret.len() >= 8 {
            self.secrets.push(secret.to_string());
        }
    }

    pub fn record(&mut self, name: &str, result: Result<(), String>) {
        let result = result.map_err(|detail| self.redact(&detail));
        if !self.quiet {
            match &result {
                Ok(()) => println!("ok    {name}"),
                Err(detail) => println!("FAIL  {name}: {detail}"),
            }
        }
        self.results.push((name.to_string(), result));
    }

    fn redact(&self, text: &str) -> String {
        let mut text = self.secrets.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        });
        // Any token, ours or not (one the stack invented, say): `uat_` and 96 characters.
        while let Some(start) = text.find("uat_") {
            let end = text[start + 4..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .map_or(text.len(), |offset| start + 4 + offset);
            text.replace_range(start..end, "<a token>");
        }
        text
    }

    pub fn passed(&self) -> usize {
        self.results.iter().filter(|(_, result)| result.is_ok()).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// `{name, ok, detail}` for each check.
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .results
            .iter()
            .map(|(name, result)| match result {
                Ok(()) => json!({"name": name, "ok": true}),
                Err(detail) => json!({"name": name, "ok": false, "detail": detail}),
            })
            .collect();
        json!({"checks": checks, "passed": self.passed(), "failed": self.failed()})
    }
}
