//! The package files agree with the code: the shipped NOTICE carries the model's licence
//! notice word for word, and every file the Debian package and the bundles list exists.
//! (`packaging/deb-test.sh` installs and runs the package itself.)

use crate::common::repo;

#[test]
fn notice_carries_the_llama_3_notice() {
    let notice = std::fs::read_to_string(repo().join("packaging/licenses/NOTICE")).unwrap();
    assert!(
        notice.contains(kestrel::model::load::hub::LICENSE_NOTICE),
        "packaging/licenses/NOTICE lacks {:?}",
        kestrel::model::load::hub::LICENSE_NOTICE
    );
}

#[test]
fn package_assets_exist() {
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let mut checked = 0;
    // [package.metadata.deb] assets: ["SOURCE", "DEST", "MODE"]; target/ ones are built
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("[\"") else {
            continue;
        };
        let src = rest.split('"').next().unwrap();
        if src.starts_with("target/") {
            continue;
        }
        let src = src.trim_end_matches("/*");
        assert!(
            repo().join(src).exists(),
            "Cargo.toml lists {src}, which is missing"
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "found only {checked} asset lines in Cargo.toml"
    );
    let desktop = std::fs::read_to_string(repo().join("packaging/linux/kestrel.desktop")).unwrap();
    assert!(desktop.lines().any(|l| l == "Exec=kestrel %F"));
    assert!(desktop.lines().any(|l| l == "Icon=kestrel"));
}
