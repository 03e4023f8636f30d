//! Reloading: a rebuild when a source file changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;

/// What a source change is: a file of these kinds under `shared/` or `functions/`, or the
/// workspace's Cargo.toml and Cargo.lock. Nothing else (`target/`, `.tools/`, test output)
/// triggers a rebuild.
const SOURCE_EXTENSIONS: [&str; 6] = ["rs", "toml", "html", "css", "js", "svg"];

/// Polls the sources every 500 ms; after a change rebuilds the function binaries and, if
/// that succeeds, moves new invocations to them ([`Functions::reload`]). A failed build
/// leaves the running instances as they are.
pub fn watch(root: PathBuf, functions: Arc<Functions>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = sources(&root);
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = sources(&root);
            if now == seen {
                continue;
            }
            // A change made during the build is a difference at the next poll.
            seen = now;
            println!("local-api: sources changed, rebuilding");
            match build(&root, &functions) {
                Ok(()) => {
                    functions.reload();
                    println!("local-api: rebuilt; new requests go to the new binaries");
                }
                Err(error) => eprintln!("local-api: {error}; still serving the previous binaries"),
            }
        }
    })
}

/// `cargo build` of the function binaries, its output inherited. testkit is selected too
/// (none of its targets is built) so that features resolve as in `cargo build --workspace`,
/// which `make run` runs: hyper's `server` feature, which only local-api uses, would
/// otherwise differ and make cargo rebuild hyper and everything above it.
fn build(root: &Path, functions: &Functions) -> Result<(), String> {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(root)
        .args(["build", "--locked", "-p", "testkit"]);
    for pool in functions.pools() {
        command.args(["-p", pool.name(), "--bin", pool.name()]);
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("the build failed ({status})")),
        Err(error) => Err(format!("cannot run cargo: {error}")),
    }
}

/// Every source file and its modification time.
pub(super) fn sources(root: &Path) -> BTreeMap<PathBuf, Option<SystemTime>> {
    let mut files = BTreeMap::new();
    for manifest in ["Cargo.toml", "Cargo.lock"] {
        let path = root.join(manifest);
        let modified = modified(&path);
        files.insert(path, modified);
    }
    for dir in ["shared", "functions"] {
        collect_sources(&root.join(dir), &mut files);
    }
    files
}

fn collect_sources(dir: &Path, files: &mut BTreeMap<PathBuf, Option<SystemTime>>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_sources(&path, files),
            Ok(kind) if kind.is_file() => {
                let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
                if SOURCE_EXTENSIONS.contains(&extension) {
                    let modified = modified(&path);
                    files.insert(path, modified);
                }
            }
            _ => {}
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
