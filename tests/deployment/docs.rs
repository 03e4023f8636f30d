//! The docs hold together: every relative link in README.md, docs/ and BENCHMARKS.md reaches
//! a file of the repository, and every `#anchor` a heading of the file it names.

use std::path::{Path, PathBuf};

use testkit::workspace_root;

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|line| {
            line.trim_start_matches('#')
                .strip_prefix(' ')
                .filter(|_| line.starts_with('#'))
        })
        .map(slug)
        .collect()
}

/// The target of every inline link `[text](target)`.
fn links(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find(')') {
            found.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    found
}

fn documents() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    let docs = std::fs::read_dir(root.join("docs")).expect("docs/ exists");
    files.extend(docs.filter_map(Result::ok).map(|entry| entry.path()));
    files.sort();
    files
}

#[test]
fn every_link_of_the_docs_resolves() {
    let root = workspace_root();
    let mut broken = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("a readable document");
        let dir = file.parent().unwrap_or(Path::new("."));
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let resolved = resolved.canonicalize().unwrap_or(resolved);
            // The contract lives beside the repository, not in it: not checked here.
            if !resolved.starts_with(&root) {
                continue;
            }
            if !resolved.exists() {
                broken.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            if !anchor.is_empty() {
                let heads = anchors(&std::fs::read_to_string(&resolved).unwrap_or_default());
                if !heads.iter().any(|head| head == anchor) {
                    broken.push(format!("{}: {target} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug("`sam local`: AWS's own emulator"),
        "sam-local-awss-own-emulator"
    );
    assert_eq!(
        slug("After every deploy: `usersctl verify-deployment`"),
        "after-every-deploy-usersctl-verify-deployment"
    );
    assert_eq!(links("see [a](docs/x.md#y) and [b](#z)"), ["docs/x.md#y", "#z"]);
}
