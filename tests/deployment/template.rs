//! template.yaml as the tests read it: its functions with their routes and policies.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use testkit::workspace_root;

/// Settings for `sam local invoke --env-vars`, beside the events: not an event.
pub(crate) const LOCAL_ENV: &str = "local-env.json";

/// A function as the template declares it.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) method: String,
    pub(crate) path: String,
    /// DynamoDB actions, and the resources of those statements.
    pub(crate) actions: BTreeSet<String>,
    pub(crate) resources: Vec<String>,
    /// What a statement's conditions allow each action, where they limit it.
    pub(crate) limits: BTreeMap<String, Limits>,
    /// Statements on anything but DynamoDB, as `(actions, resource)`.
    pub(crate) others: Vec<(String, String)>,
}

pub(crate) fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// `!Ref X`, `!GetAtt X.Arn` and plain strings, as text (`Ref X`, `GetAtt X.Arn`).
pub(crate) fn text(value: &Yaml) -> String {
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
pub(crate) struct Limits {
    /// `ForAllValues:StringEquals dynamodb:Attributes`.
    pub(crate) attributes: BTreeSet<String>,
    /// `ForAllValues:StringLike dynamodb:LeadingKeys` (patterns with `*`).
    pub(crate) leading_keys: Vec<String>,
    /// `StringEqualsIfExists dynamodb:Select = SPECIFIC_ATTRIBUTES`: reads must project.
    pub(crate) projected_reads_only: bool,
}

/// The account page: static, no store, no key.
pub(crate) const PAGE: &str = "account-page";

/// A resource path as the spec writes it, without its trailing slash (but the root).
pub(crate) fn resource_of(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The table every DynamoDB statement must name: the stack's own, or the adopted one.
pub(crate) const TABLE_ARN: &str = "If [CreateTable, GetAtt UsersTable.Arn, Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ExistingTableName}]";

/// The template's functions by binary name.
pub(crate) fn functions() -> BTreeMap<String, Function> {
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

/// What `command` prints on stdout, as JSON; the test fails with its stderr if it fails.
pub(crate) fn json_output(command: &mut Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
