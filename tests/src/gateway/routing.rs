//! A request's resource and method, matched as a REST API matches them.

use std::collections::BTreeMap;

use super::*;

/// A request's route and the values of its resource's `{name}` segments.
#[derive(Debug, PartialEq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

impl Api {
    /// The route a REST API takes for `method` on `path` (as received: percent-encoded, no
    /// query string): the most specific resource matching the path, then that resource's
    /// method, else its `ANY`. None: API Gateway answers [`missing_route`](Self::missing_route).
    pub fn route(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let (_, resource, path_parameters) = self
            .routes
            .iter()
            .filter_map(|route| {
                let (rank, parameters) = match_resource(&route.resource, path)?;
                Some((rank, &route.resource, parameters))
            })
            .min_by(|a, b| a.0.cmp(&b.0))?;
        let on_resource = || self.routes.iter().filter(|route| &route.resource == resource);
        let route = on_resource()
            .find(|route| route.method == method)
            .or_else(|| on_resource().find(|route| route.method == "ANY"))?;
        Some(Matched {
            route,
            path_parameters,
        })
    }
}

/// Whether `path` matches `resource`, with the path parameters it fills and its rank: one
/// number per segment, literal 0, `{name}` 1, `{proxy+}` 2, so the lowest is the most
/// specific, as API Gateway prefers literal segments over variables from left to right.
fn match_resource(resource: &str, path: &str) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let path = path.strip_prefix('/')?;
    // The resource `/x` also serves `/x/` (one trailing slash).
    let segments = split_segments(path.strip_suffix('/').unwrap_or(path));
    let mut rank = Vec::new();
    let mut parameters = BTreeMap::new();
    let patterns = split_segments(resource.strip_prefix('/')?);
    for (index, pattern) in patterns.iter().enumerate() {
        if let Some(name) = variable(pattern, "+}") {
            // Greedy: the rest of the path, at least one segment, its trailing slash kept.
            let rest = path.splitn(index + 1, '/').last().unwrap_or_default();
            if index >= segments.len() || index + 1 != patterns.len() {
                return None;
            }
            parameters.insert(name.to_string(), rest.to_string());
            rank.push(2);
            return Some((rank, parameters));
        }
        let segment = segments.get(index)?;
        if let Some(name) = variable(pattern, "}") {
            if segment.is_empty() {
                return None;
            }
            parameters.insert(name.to_string(), segment.to_string());
            rank.push(1);
        } else if pattern == segment {
            rank.push(0);
        } else {
            return None;
        }
    }
    (segments.len() == patterns.len()).then_some((rank, parameters))
}

/// `a/b` as `[a, b]`; the root's empty path has no segment.
fn split_segments(path: &str) -> Vec<&str> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// `name` of a `{name}` segment (`close` = `}`) or of a `{name+}` one (`close` = `+}`).
fn variable<'a>(segment: &'a str, close: &str) -> Option<&'a str> {
    segment
        .strip_prefix('{')?
        .strip_suffix(close)
        .filter(|name| !name.ends_with('+'))
}
