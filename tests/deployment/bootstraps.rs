//! What `sam build` makes: every bootstrap of both architectures, read off its ELF.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::workspace_root;

/// The newest glibc Lambda's `provided.al2023` runtime has: Amazon Linux 2023 keeps glibc
/// 2.34 for its whole life ("glibc 2.34", AL2023 User Guide, core-glibc: core toolchain
/// packages keep their version), and a bootstrap linked against a newer symbol fails to start
/// there (aws/aws-lambda-rust-runtime#932: "version `GLIBC_2.38' not found (required by
/// /var/task/bootstrap)" on AL2023).
const AL2023_GLIBC: (u32, u32) = (2, 34);

/// Where `make build` (arm64, what `sam deploy` ships) and `make build-x86_64` put the
/// bootstraps, and the machine name `readelf -h` gives each.
const BUILDS: [(&str, &str, &str); 2] = [
    ("arm64", ".aws-sam/build", "AArch64"),
    ("x86_64", ".aws-sam/build-x86_64", "Advanced Micro Devices X86-64"),
];

/// Every function's bootstrap in a build folder.
fn bootstraps(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bootstrap"))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found
}

fn readelf(args: &[&str], file: &Path) -> String {
    let output = Command::new("readelf")
        .args(args)
        .arg(file)
        .output()
        .expect("readelf (binutils) is installed");
    assert!(output.status.success(), "readelf {args:?} {}", file.display());
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The glibc versions a binary's dynamic symbols name (`memcpy@GLIBC_2.14`, ...).
fn glibc_versions(dyn_syms: &str) -> Vec<(u32, u32)> {
    let mut versions: Vec<(u32, u32)> = dyn_syms
        .split(|c: char| c.is_whitespace() || c == '@')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

#[test]
fn glibc_versions_are_read_off_symbol_names() {
    let sample = "  12: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND memcpy@GLIBC_2.14 (4)\n  \
                  13: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND __libc_start_main@GLIBC_2.34 (5)\n  \
                  14: 0000000000000000     0 FUNC    WEAK   DEFAULT  UND __cxa_finalize@GLIBC_2.2.5 (6)\n";
    assert_eq!(glibc_versions(sample), vec![(2, 2), (2, 14), (2, 34)]);
}

/// The bootstraps `sam build` makes for both architectures run on AL2023: no symbol needs a
/// glibc newer than 2.34. Read from the ELF, since the local emulator's base image is
/// Debian's (glibc 2.36): running there would prove nothing about AL2023.
#[test]
fn the_bootstraps_sam_builds_need_no_glibc_newer_than_al2023s() {
    let required = std::env::var_os("REQUIRE_SAM_BUILDS").is_some();
    for (architecture, dir, machine) in BUILDS {
        let dir = workspace_root().join(dir);
        let bootstraps = bootstraps(&dir);
        if bootstraps.is_empty() {
            assert!(
                !required,
                "no {architecture} build in {} (make build{})",
                dir.display(),
                if architecture == "arm64" { "" } else { "-x86_64" }
            );
            testkit::skip(&format!(
                "no {architecture} build in {} (make test builds both)",
                dir.display()
            ));
            continue;
        }
        assert_eq!(
            bootstraps.len(),
            7,
            "{}: one bootstrap per function",
            dir.display()
        );
        for bootstrap in bootstraps {
            let header = readelf(&["-h", "-W"], &bootstrap);
            assert!(
                header.contains(&format!("Machine:                           {machine}")),
                "{} is not {architecture}: {header}",
                bootstrap.display()
            );
            let versions = glibc_versions(&readelf(&["--dyn-syms", "-W"], &bootstrap));
            let newest = versions.last().copied();
            assert!(
                newest.is_some(),
                "{}: no glibc symbol at all?",
                bootstrap.display()
            );
            assert!(
                newest <= Some(AL2023_GLIBC),
                "{} needs GLIBC_{}.{}, AL2023 has {}.{}",
                bootstrap.display(),
                newest.unwrap_or_default().0,
                newest.unwrap_or_default().1,
                AL2023_GLIBC.0,
                AL2023_GLIBC.1
            );
        }
    }
}
