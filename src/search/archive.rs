//! Searching an archive: the shards of many scenes (`kestrel index --out-dir`, a cluster
//! job's output) ranked together for a text query, streamed so memory does not grow with
//! the archive ([`super::geoparquet::stream`]). The same search serves `kestrel search
//! SHARD...` and the viewer's archive search, whose hits open their scene. No egui here.

use std::path::{Path, PathBuf};

use super::geoparquet::{self, StoreError, stream};
use super::record::{IndexMeta, TileRecord};
use super::session::{self, PreparedQuery, Ranking, SessionError};
use crate::model::Embedder;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot list the archive folder {dir}: {source}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no tile index (.parquet) in {dir}: index scenes into it with `kestrel index --out-dir`"
    )]
    NoShards { dir: PathBuf },
    #[error("the query has no text: an archive is searched by a description")]
    NoText,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The `.parquet` files directly in `dir`, sorted by name (the order ties are broken in).
/// Temporary files of an unfinished write (`.kestrel-tmp-*`) are not shards.
pub fn list_shards(dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let fail = |source| ArchiveError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut shards = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            && !name.starts_with('.')
            && path.is_file()
        {
            shards.push(path);
        }
    }
    if shards.is_empty() {
        return Err(ArchiveError::NoShards {
            dir: dir.to_path_buf(),
        });
    }
    shards.sort();
    Ok(shards)
}

/// The best tiles of an archive for one query.
#[derive(Debug, Clone)]
pub struct ArchiveHits {
    /// The shards searched, in the order given.
    pub shards: Vec<PathBuf>,
    /// One per shard.
    pub metas: Vec<IndexMeta>,
    /// The hits' records, best first (`ranking` indexes into them).
    pub tiles: Vec<TileRecord>,
    pub ranking: Ranking,
    /// Embedded tiles scored across the archive.
    pub scored: u64,
}

impl ArchiveHits {
    /// The shard and the scene file a hit came from (as recorded when it was indexed).
    pub fn source_of(&self, tile: &TileRecord) -> Option<(&Path, &str)> {
        self.metas
            .iter()
            .zip(&self.shards)
            .find(|(m, _)| m.scene_identity == tile.scene_id)
            .map(|(m, p)| (p.as_path(), m.scene_path.as_str()))
    }
}

/// The exact top `top` tiles of `shards` for `query`'s text, with `model` (which must be
/// the model the shards were built with); `threads` files are scanned at once.
pub fn search(
    shards: &[PathBuf],
    query: &PreparedQuery,
    model: &Embedder,
    top: usize,
    threads: usize,
) -> Result<ArchiveHits, ArchiveError> {
    let vector = query.text_vector().ok_or(ArchiveError::NoText)?;
    // the model check first, from the footers (cheap)
    let metas = shards
        .iter()
        .map(|p| geoparquet::read_meta(p))
        .collect::<Result<Vec<_>, _>>()?;
    let sources: Vec<String> = shards.iter().map(|p| p.display().to_string()).collect();
    session::check_indexes(&metas, &sources, model)?;
    let found = stream::search_shards_with_metas(shards, metas, &vector, top, threads)?;
    log::info!("scored {} tiles of {} shards", found.scored, shards.len());
    let scores: Vec<f32> = found.hits.iter().map(|h| h.1).collect();
    let tiles: Vec<TileRecord> = found.hits.into_iter().map(|h| h.0).collect();
    Ok(ArchiveHits {
        shards: shards.to_vec(),
        metas: found.metas,
        tiles,
        ranking: query.ranking_of_ordered(&scores),
        scored: found.scored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_the_parquet_files_sorted_without_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "b.parquet",
            "a.PARQUET",
            ".kestrel-tmp-1.parquet",
            "notes.txt",
        ] {
            std::fs::write(tmp.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(tmp.path().join("dir.parquet")).unwrap();
        let got = list_shards(tmp.path()).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.PARQUET", "b.parquet"]);

        let empty = tempfile::tempdir().unwrap();
        let e = list_shards(empty.path()).unwrap_err().to_string();
        assert!(e.contains("no tile index") && e.contains(&empty.path().display().to_string()));
        let e = list_shards(&empty.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot list the archive folder"), "{e}");
    }
}
