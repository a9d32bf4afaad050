//! `kestrel models`: the registry of released models, with what the Hugging Face cache holds
//! of each (no network).

use anyhow::Context as _;
use serde_json::json;

use crate::model::load::hub::HubOptions;
use crate::model::load::registry::{self, CacheState};

use super::ModelsArgs;

pub fn run(args: &ModelsArgs) -> anyhow::Result<()> {
    // The hub settings from the environment (cache root, endpoint); `models` never downloads.
    let base = HubOptions::llama3_ms_clip()
        .context("no Hugging Face cache directory (set HF_HUB_CACHE or HF_HOME)")?;
    let cache_dir = base.cache_dir.clone();
    for e in registry::entries() {
        let state = e.cache_state(&base);
        if args.json {
            let (cached, path, missing) = match &state {
                CacheState::Cached(p) => (true, Some(p.display().to_string()), None),
                CacheState::NotDownloaded { missing } => (false, None, Some(missing.clone())),
            };
            println!(
                "{}",
                json!({
                    "id": e.id, "family": e.family, "arch": e.arch, "repo": e.repo,
                    "files": e.checkpoint_files, "input": e.input.describe(),
                    "languages": e.languages, "licence": e.licence,
                    "approx_bytes": e.approx_bytes, "cached": cached,
                    "checkpoint": path, "missing": missing,
                })
            );
        } else {
            let state = match &state {
                CacheState::Cached(p) => format!("cached: {}", p.display()),
                CacheState::NotDownloaded { .. } => format!(
                    "not downloaded (about {} MB from {})",
                    e.approx_bytes / 1_000_000,
                    e.repo
                ),
            };
            println!(
                "{:<22} {:<15} {:<26} {}\n{:<22} {state}",
                e.id,
                e.family,
                e.arch,
                e.input.describe(),
                ""
            );
        }
    }
    if !args.json {
        println!("(cache: {})", cache_dir.display());
    }
    Ok(())
}
