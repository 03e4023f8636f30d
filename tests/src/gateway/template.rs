//! The template: routes, timeouts, environment and the no-route answer, as `template.yaml` declares them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml_ng::Value as Yaml;

use super::*;

/// What serving template.yaml's REST API locally needs from it.
#[derive(Debug)]
pub struct Api {
    /// Every `Api` event of every function, in template order.
    pub routes: Vec<Route>,
    /// Each function's timeout, by binary name.
    pub timeouts: BTreeMap<String, Duration>,
    /// The answer to a request without a route: the `MISSING_AUTHENTICATION_TOKEN` gateway response.
    pub missing_route: GatewayResponse,
    /// The answer to a request without a route that carries an `Authorization` header (API
    /// Gateway reads it as a broken SigV4 signature): the `INCOMPLETE_SIGNATURE` gateway
    /// response, if the template sets one; otherwise API Gateway's 403 quoting the header.
    pub incomplete_signature: Option<GatewayResponse>,
    /// `Globals.Function.Environment.Variables` with plain values (intrinsics such as `!Ref`
    /// have no local value).
    pub environment: Vec<(String, String)>,
}

/// A method on a resource, served by a function.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Upper case; `ANY` serves every method the resource has no route of its own for.
    pub method: String,
    /// The resource path as declared, e.g. `/api/users/me` or `/files/{proxy+}`.
    pub resource: String,
    /// The function's binary.
    pub function: String,
}

/// An answer API Gateway makes itself.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayResponse {
    pub status: u16,
    pub body: String,
}

impl Api {
    /// Reads template.yaml's text. CloudFormation intrinsics (`!Ref`, `!If`, ...) are tagged
    /// values, which count as "not set" wherever a plain value is needed.
    pub fn from_template(text: &str) -> Result<Self, String> {
        let template: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("template: {e}"))?;
        let globals = &template["Globals"]["Function"];
        let default_timeout = seconds(&globals["Timeout"]).unwrap_or(DEFAULT_TIMEOUT);
        let mut api = Api {
            routes: Vec::new(),
            timeouts: BTreeMap::new(),
            // API Gateway's default for an unknown resource or method.
            missing_route: GatewayResponse {
                status: 403,
                body: r#"{"message":"Missing Authentication Token"}"#.into(),
            },
            incomplete_signature: None,
            environment: plain_variables(&globals["Environment"]["Variables"]),
        };
        let resources = template["Resources"]
            .as_mapping()
            .ok_or("template: no Resources")?;
        for (name, resource) in resources {
            let name = plain(name).unwrap_or("?");
            match plain(&resource["Type"]) {
                Some("AWS::Serverless::Function") => api.add_function(name, resource, default_timeout)?,
                Some("AWS::Serverless::Api") => {
                    let responses = &resource["Properties"]["GatewayResponses"];
                    let missing = &responses["MISSING_AUTHENTICATION_TOKEN"];
                    if let Some(status) = status_code(&missing["StatusCode"]) {
                        api.missing_route.status = status;
                    }
                    if let Some(body) = plain(&missing["ResponseTemplates"]["application/json"]) {
                        api.missing_route.body = body.into();
                    }
                    let incomplete = &responses["INCOMPLETE_SIGNATURE"];
                    if let (Some(status), Some(body)) = (
                        status_code(&incomplete["StatusCode"]),
                        plain(&incomplete["ResponseTemplates"]["application/json"]),
                    ) {
                        api.incomplete_signature = Some(GatewayResponse {
                            status,
                            body: body.into(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(api)
    }

    fn add_function(&mut self, name: &str, resource: &Yaml, default_timeout: Duration) -> Result<(), String> {
        let binary = plain(&resource["Metadata"]["BuildProperties"]["Binary"])
            .ok_or_else(|| format!("template: {name} has no Metadata.BuildProperties.Binary"))?;
        let properties = &resource["Properties"];
        let timeout = seconds(&properties["Timeout"]).unwrap_or(default_timeout);
        self.timeouts.insert(binary.into(), timeout);
        for (event_name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            if plain(&event["Type"]) != Some("Api") {
                continue;
            }
            let field = |key: &str| {
                plain(&event["Properties"][key]).ok_or_else(|| {
                    format!("template: {name}, event {event_name:?}: no plain Properties.{key}")
                })
            };
            self.routes.push(Route {
                method: field("Method")?.to_ascii_uppercase(),
                resource: field("Path")?.into(),
                function: binary.into(),
            });
        }
        Ok(())
    }
}

/// The text of a plain string (`as_str` would also read through a tag: `!Ref X` as `X`).
fn plain(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::String(text) => Some(text),
        _ => None,
    }
}

fn seconds(value: &Yaml) -> Option<Duration> {
    match value {
        Yaml::Number(number) => number.as_u64().map(Duration::from_secs),
        _ => None,
    }
}

/// A gateway response's `StatusCode`: CloudFormation types it as a string, YAML may give a number.
fn status_code(value: &Yaml) -> Option<u16> {
    match value {
        Yaml::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Yaml::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// Environment variables with a value known without deploying (CloudFormation stringifies
/// numbers and booleans).
fn plain_variables(variables: &Yaml) -> Vec<(String, String)> {
    let Yaml::Mapping(variables) = variables else {
        return Vec::new();
    };
    variables
        .iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Yaml::String(text) => text.clone(),
                Yaml::Number(number) => number.to_string(),
                Yaml::Bool(flag) => flag.to_string(),
                _ => return None,
            };
            Some((plain(name)?.to_string(), value))
        })
        .collect()
}
