//! The on-disk embedding cache: one GeoParquet tile index per (scene, checkpoint,
//! preprocessing, tiling, precision) combination, so reopening a scene makes it searchable
//! at once.
//!
//! The cache key is in the file name *and* re-checked against the file's metadata; a
//! stale entry (different scene identity, checkpoint, preprocessing version, tiling or
//! precision) or a corrupt one (the reader verifies a content digest) is reported and
//! rebuilt, never trusted. Writes are atomic, so an interrupted build leaves no half file behind; the
//! temporary files of writes killed midway are removed when the cache is next opened.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::geoparquet::{self, StoreError};
use super::index::{
    IndexError, IndexOptions, PREPROCESS_VERSION, TileEmbedder, TileIndex, build_index,
};
use crate::jobs::{CancelToken, ProgressSink};
use crate::model::ModelError;
use crate::raster::Scene;

/// Temporary files (`.kestrel-tmp-*`) whose writer died are removed as soon as their lock
/// is free ([`crate::atomic::remove_stale_temp_files`]); on filesystems without locks,
/// those older than this.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Where indexes are cached: `index/` under Kestrel's cache root
/// ([`crate::paths::cache_root`]: `$KESTREL_CACHE_DIR`, else `~/.cache/kestrel` on Linux).
pub fn cache_dir() -> PathBuf {
    cache_dir_in(&crate::paths::cache_root())
}

/// The index cache under a given cache root.
pub fn cache_dir_in(root: &Path) -> PathBuf {
    root.join("index")
}

/// What identifies a cached index.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheKey {
    pub scene_identity: String,
    pub checkpoint_sha256: String,
    pub preprocess_version: u32,
    pub tile_size: u32,
    pub stride: u32,
    pub max_nodata_fraction: f32,
    pub max_cloud_fraction: f32,
    /// `f32`, `bf16` or `f16`: embeddings of another precision are not reused.
    pub precision: String,
}

impl CacheKey {
    pub fn new(
        scene: &Scene,
        model: &dyn TileEmbedder,
        opts: &IndexOptions,
    ) -> Result<Self, ModelError> {
        let size = model
            .preprocess_config()
            .map_or(224, |c| c.image_size as u32);
        Ok(Self {
            scene_identity: scene.info().identity.clone(),
            checkpoint_sha256: model.checkpoint_sha256()?,
            preprocess_version: PREPROCESS_VERSION,
            tile_size: size,
            stride: opts.stride.unwrap_or(size).clamp(1, size.max(1)),
            max_nodata_fraction: opts.max_nodata_fraction,
            max_cloud_fraction: opts.max_cloud_fraction,
            precision: model.precision().to_owned(),
        })
    }

    /// File name: a readable scene stem plus a hash of the whole key.
    pub fn file_name(&self, scene_name: &str) -> String {
        let mut h = Sha256::new();
        h.update(format!("{self:?}").as_bytes());
        let digest = hex::encode(h.finalize());
        let stem: String = scene_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        format!("{stem}-{}.parquet", &digest[..16])
    }

    /// Why `meta` does not match this key, if it does not.
    pub fn mismatch(&self, meta: &super::record::IndexMeta) -> Option<String> {
        let cloud_ok = meta
            .max_cloud_fraction
            .is_none_or(|c| c == self.max_cloud_fraction);
        if meta.scene_identity != self.scene_identity {
            Some("the scene changed".into())
        } else if meta.checkpoint_sha256 != self.checkpoint_sha256 {
            Some("it was built with another checkpoint".into())
        } else if meta.preprocess_version != self.preprocess_version {
            Some(format!(
                "preprocessing version {} (now {})",
                meta.preprocess_version, self.preprocess_version
            ))
        } else if meta.tile_size != self.tile_size || meta.stride != self.stride {
            Some("different tiling".into())
        } else if meta.max_nodata_fraction != self.max_nodata_fraction || !cloud_ok {
            Some("different skip thresholds".into())
        } else if meta.precision.as_deref() != Some(self.precision.as_str()) {
            Some(format!(
                "it was computed in {} (now {})",
                meta.precision
                    .as_deref()
                    .unwrap_or("an unrecorded precision"),
                self.precision
            ))
        } else {
            None
        }
    }
}

/// Why a cached index was not used.
#[derive(Debug, thiserror::Error)]
pub enum CacheMiss {
    #[error("no cached index")]
    Absent,
    #[error("cached index unreadable ({0})")]
    Unreadable(#[source] StoreError),
    #[error("cached index is stale: {0}")]
    Stale(String),
    #[error("cached index is damaged ({0})")]
    Damaged(#[source] StoreError),
}

/// How an index was obtained.
#[derive(Debug)]
pub enum CacheOutcome {
    /// Read from the cache file.
    Hit(PathBuf),
    /// Built now (and saved to the path when it could be); `reason` says why the cache
    /// was not used.
    Built {
        path: PathBuf,
        reason: CacheMiss,
        saved: Result<(), StoreError>,
    },
}

/// Load a cached index if it exists and matches `key`.
pub fn load(path: &Path, key: &CacheKey) -> Result<TileIndex, CacheMiss> {
    if !path.exists() {
        return Err(CacheMiss::Absent);
    }
    let meta = geoparquet::read_meta(path).map_err(CacheMiss::Unreadable)?;
    if let Some(why) = key.mismatch(&meta) {
        return Err(CacheMiss::Stale(why));
    }
    let (meta, tiles) = geoparquet::read_index(path).map_err(CacheMiss::Damaged)?;
    Ok(TileIndex { meta, tiles })
}

/// Save an index (atomically).
pub fn save(path: &Path, index: &TileIndex) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    geoparquet::write_index(path, &index.meta, &index.tiles)
}

/// The cached index of `scene`, or build it (and cache it). `dir` is usually [`cache_dir`].
pub fn open_or_build(
    dir: &Path,
    scene: &Scene,
    model: &dyn TileEmbedder,
    opts: &IndexOptions,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<(TileIndex, CacheOutcome), IndexError> {
    let key = CacheKey::new(scene, model, opts).map_err(|source| IndexError::Checkpoint {
        scene: scene.info().path.display().to_string(),
        source,
    })?;
    let path = dir.join(key.file_name(&scene.info().name));
    let removed = crate::atomic::remove_stale_temp_files(dir, STALE_TEMP_AGE);
    if removed > 0 {
        log::info!(
            "removed {removed} stale temporary file(s) of interrupted writes from {}",
            dir.display()
        );
    }
    let reason = match load(&path, &key) {
        Ok(index) => return Ok((index, CacheOutcome::Hit(path))),
        Err(reason) => reason,
    };
    log::info!(
        "building the index of {}: {reason}",
        scene.info().path.display()
    );
    let index = build_index(scene, model, opts, progress, cancel)?;
    let saved = save(&path, &index);
    if let Err(e) = &saved {
        log::warn!("index not cached: {e}");
    }
    Ok((
        index,
        CacheOutcome::Built {
            path,
            reason,
            saved,
        },
    ))
}
