//! What this binary is: version, git commit, cargo features, the CPU kernels detected on this
//! machine and the GDAL it links. One source for `kestrel --version` and the About box.

use crate::model::nn::isa;

/// The facts, as (label, value) pairs in display order.
pub fn facts() -> Vec<(&'static str, String)> {
    let mut features = Vec::new();
    if cfg!(feature = "cuda") {
        features.push("cuda");
    }
    if cfg!(feature = "metal") {
        features.push("metal");
    }
    vec![
        ("version", env!("CARGO_PKG_VERSION").to_owned()),
        (
            "git",
            option_env!("KESTREL_GIT_HASH")
                .unwrap_or("unknown")
                .to_owned(),
        ),
        (
            "features",
            if features.is_empty() {
                "none (CPU only)".to_owned()
            } else {
                features.join(", ")
            },
        ),
        ("cpu kernels", isa::detected().to_string()),
        ("gdal", gdal::version::version_info("RELEASE_NAME")),
        (
            "target",
            format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        ),
    ]
}

/// `kestrel 0.1.0` followed by one `label: value` line per fact (clap's `--version` text).
pub fn long_version() -> String {
    facts()
        .into_iter()
        .map(|(k, v)| {
            if k == "version" {
                v
            } else {
                format!("\n{k}: {v}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn facts_name_gdal_and_kernels() {
        let f = super::facts();
        let get = |k: &str| f.iter().find(|(l, _)| *l == k).map(|(_, v)| v.clone());
        assert_eq!(get("version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
        // GDAL's release name is a dotted version such as 3.6.2.
        let gdal = get("gdal").unwrap();
        assert!(gdal.split('.').count() >= 2, "{gdal}");
        assert!(get("cpu kernels").unwrap().starts_with("f32 "));
        assert!(super::long_version().starts_with(env!("CARGO_PKG_VERSION")));
    }
}
