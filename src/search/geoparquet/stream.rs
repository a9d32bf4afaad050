//! Exact top-k search over many shards without loading them: each file is streamed row
//! group by row group reading only its `embedding` column, scored against the query, and
//! kept in a bounded top-k heap; several files are scanned at once (a rayon pool of
//! `threads`). Memory is a row group per thread plus the heaps, whatever the archive size.
//! Only the row groups holding the winners are then read whole, for their records.
//!
//! Ranking is the in-memory search's ([`crate::model::tasks::retrieval::rank`] over the
//! files' tiles concatenated in the order given): score descending, ties by file then row.
//! The content digest covers whole files, so this path does not check it (footer, schema,
//! metadata compatibility and every embedding's length are checked); reading a shard whole
//! ([`super::read_index`]) does.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use rayon::prelude::*;

use super::{Opened, StoreError, check_together, open, read};
use crate::search::record::{IndexMeta, TileRecord};

/// A scored row: file (index into the paths), row within the file, score.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored {
    score: f32,
    file: usize,
    row: usize,
}

impl Eq for Scored {}

impl Ord for Scored {
    /// "Better" is greater: higher score, then lower (file, row).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.file.cmp(&self.file))
            .then_with(|| other.row.cmp(&self.row))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` best, kept as a min-heap (worst on top).
struct TopK {
    k: usize,
    heap: BinaryHeap<std::cmp::Reverse<Scored>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            // `--top` may be huge; the heap grows as needed
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }
    fn push(&mut self, s: Scored) {
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(s));
        } else if let Some(worst) = self.heap.peek()
            && s > worst.0
        {
            self.heap.pop();
            self.heap.push(std::cmp::Reverse(s));
        }
    }
    fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }
}

/// What a streamed search found.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedSearch {
    /// One per file, in the order given.
    pub metas: Vec<IndexMeta>,
    /// The best tiles, best first, with their scores.
    pub hits: Vec<(TileRecord, f32)>,
    /// Embedded tiles scored.
    pub scored: u64,
}

/// The exact top `k` tiles of `paths` for the unit vector `query` (see the module docs).
/// The files must be searchable together (as [`super::read_indexes`] checks); `threads`
/// files are scanned at once.
pub fn search_shards(
    paths: &[PathBuf],
    query: &[f32],
    k: usize,
    threads: usize,
) -> Result<StreamedSearch, StoreError> {
    // footers first (files are opened again one at a time below: no handle per file held)
    let metas: Vec<IndexMeta> = paths
        .iter()
        .map(|p| super::read_meta(p))
        .collect::<Result<_, _>>()?;
    search_shards_with_metas(paths, metas, query, k, threads)
}

/// [`search_shards`] with the files' footers already read (`metas[i]` of `paths[i]`, as
/// [`super::read_meta`] gives them), so a caller that checked them first reads them once.
pub fn search_shards_with_metas(
    paths: &[PathBuf],
    metas: Vec<IndexMeta>,
    query: &[f32],
    k: usize,
    threads: usize,
) -> Result<StreamedSearch, StoreError> {
    check_together(paths, &metas)?;
    if let Some(m) = metas.first()
        && m.embed_dim as usize != query.len()
    {
        return Err(StoreError::Incompatible {
            first: paths[0].clone(),
            second: paths[0].clone(),
            problem: format!(
                "the query has {} values, the embeddings {}",
                query.len(),
                m.embed_dim
            ),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| StoreError::Read {
            path: paths.first().cloned().unwrap_or_default(),
            source: std::io::Error::other(e),
        })?;
    let scanned: Vec<(Vec<Scored>, u64)> = pool.install(|| {
        paths
            .par_iter()
            .enumerate()
            .map(|(file, p)| scan(&open(p)?, file, query, k))
            .collect::<Result<_, _>>()
    })?;
    let mut top = TopK::new(k);
    let mut scored = 0;
    for (hits, n) in scanned {
        scored += n;
        hits.into_iter().for_each(|h| top.push(h));
    }
    let best = top.into_sorted();
    let hits = fetch(paths, &best)?;
    Ok(StreamedSearch {
        metas,
        hits,
        scored,
    })
}

/// One file's top `k` (and how many tiles it scored), reading only `embedding`.
fn scan(
    o: &Opened,
    file: usize,
    query: &[f32],
    k: usize,
) -> Result<(Vec<Scored>, u64), StoreError> {
    let corrupt = |problem: String| StoreError::Corrupt {
        path: o.path.clone(),
        problem,
    };
    let dim = o.meta.embed_dim as usize;
    let mut top = TopK::new(k);
    let mut row = 0usize;
    let mut scored = 0u64;
    let batches = super::guarded(|| o.batches(Some(&["embedding"][..]))).map_err(corrupt)?;
    for batch in batches {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let n = batch.num_rows();
        super::guarded(|| {
            read::for_each_embedding(&batch, |i, e| {
                if e.len() != dim {
                    return Err(format!(
                        "row {} has {} embedding values, the index says {dim}",
                        row + i,
                        e.len()
                    ));
                }
                let score = crate::model::tasks::retrieval::dot(e, query);
                if score.is_finite() {
                    scored += 1;
                    top.push(Scored {
                        score,
                        file,
                        row: row + i,
                    });
                }
                Ok(())
            })
        })
        .map_err(corrupt)?;
        row += n;
    }
    Ok((top.into_sorted(), scored))
}

/// The records of the winners, reading only the row groups that hold them.
fn fetch(paths: &[PathBuf], best: &[Scored]) -> Result<Vec<(TileRecord, f32)>, StoreError> {
    let mut out: Vec<Option<(TileRecord, f32)>> = vec![None; best.len()];
    for (file, path) in paths.iter().enumerate() {
        let mine: Vec<(usize, &Scored)> = best
            .iter()
            .enumerate()
            .filter(|(_, s)| s.file == file)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let o = &open(path)?;
        let corrupt = |problem: String| StoreError::Corrupt {
            path: o.path.clone(),
            problem,
        };
        // first row of each row group
        let mut starts = Vec::new();
        let mut acc = 0usize;
        for rg in o.arrow.metadata().row_groups() {
            starts.push(acc);
            acc += usize::try_from(rg.num_rows()).unwrap_or(0);
        }
        let group_of = |row: usize| starts.partition_point(|s| *s <= row) - 1;
        let mut groups: Vec<usize> = mine.iter().map(|(_, s)| group_of(s.row)).collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            let mut tiles = Vec::new();
            super::guarded(|| {
                for batch in o.batches_of_groups(vec![g])? {
                    read::decode_batch(&batch.map_err(|e| e.to_string())?, &mut tiles)?;
                }
                Ok(())
            })
            .map_err(corrupt)?;
            for (slot, s) in mine.iter().filter(|(_, s)| group_of(s.row) == g) {
                let t = tiles
                    .get(s.row - starts[g])
                    .cloned()
                    .ok_or_else(|| corrupt(format!("row {} is missing", s.row)))?;
                out[*slot] = Some((t, s.score));
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}
