//! What a command prints: one JSON object with stable field names (`--json`), or the same
//! as `key  value` lines, with stored names made safe for a terminal.

use std::time::Duration;

use serde_json::{Value, json};
use shared::app::NewSession;
use shared::http::login::session_cookies;
use shared::tokens::AccessToken;
use shared::users::User;

pub fn user_json(user: &User, access_token: Option<&AccessToken>) -> Value {
    let mut value = json!({
        "id": user.id.to_string(),
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "email_confirmed_at": user.email_confirmed_at,
        "phone_confirmed_at": user.phone_confirmed_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "user_metadata": user.user_metadata,
        "app_metadata": user.app_metadata,
    });
    if let (Some(token), Some(object)) = (access_token, value.as_object_mut()) {
        object.insert("access_token".into(), Value::String(token.to_string()));
    }
    value
}

pub fn session_json(user: &User, session: &NewSession, ttl: u64) -> Value {
    json!({
        "user_id": user.id.to_string(),
        "sessionid": session.session_id.to_string(),
        "csrftoken": session.csrf_token,
        "expires_at": session.expires_at,
        "set_cookie": session_cookies(session, Duration::from_secs(ttl)),
    })
}

/// `key: value` lines, one list entry per block; `-` for null.
pub fn print_human(output: &Value) {
    match output {
        Value::Object(object) => {
            let width = object.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in object {
                match value {
                    Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                        for item in items {
                            print_human(item);
                            println!();
                        }
                    }
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        for item in items {
                            println!("{key:width$}  {}", printable(item.as_str().unwrap_or_default()));
                        }
                    }
                    _ => println!("{key:width$}  {}", human(value)),
                }
            }
        }
        other => println!("{}", human(other)),
    }
}

fn human(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => printable(text),
        other => printable(&other.to_string()),
    }
}

/// `text` safe for a terminal: control characters (escape sequences), bidirectional
/// overrides (text that reads differently from what it is) and invisible format characters
/// (zero-width spaces and joiners, line and paragraph separators, the byte-order mark) from
/// stored names are shown as `\u{...}` escapes instead of being obeyed or hidden.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}');
            let invisible = matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
            if c.is_control() || bidi || invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
