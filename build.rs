//! Build script: records the git commit the binary is built from (`kestrel --version`, the
//! About box). Outside a git checkout (a source tarball, a package build) it records nothing
//! and the version says "unknown".

use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    if let Some(h) = hash {
        let suffix = if dirty { "-modified" } else { "" };
        println!("cargo:rustc-env=KESTREL_GIT_HASH={h}{suffix}");
    }
    // Re-run when HEAD moves (a commit, a checkout); not on every source edit.
    for p in [".git/HEAD", ".git/index"] {
        if std::path::Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
