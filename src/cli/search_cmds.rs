//! `kestrel search` and `kestrel classify-scene`: the viewer's search, headless (`kestrel
//! index` is [`super::index_cmd`]). They share the GUI's cache, so a scene indexed here is
//! searchable in the viewer at once (and the other way round). `search` also accepts
//! GeoParquet shards from `index --out`/`--out-dir`, many at once, and ranks all their
//! tiles together.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde_json::json;

use super::common::{StderrProgress, check_input, check_outputs};
use super::{ClassifySceneArgs, IndexArgs, SearchArgs};
use crate::jobs::CancelToken;
use crate::model::Embedder;
use crate::raster::Scene;
use crate::search::archive;
use crate::search::cache::{self, CacheOutcome};
use crate::search::geoparquet;
use crate::search::index::{IndexOptions, TileIndex, build_index, default_readers};
use crate::search::record::{IndexMeta, TileRecord, TileStatus};
use crate::search::session::{self, ExportFormat, Query};

impl IndexArgs {
    pub(super) fn options(&self, model: &Embedder) -> anyhow::Result<IndexOptions> {
        if let (Some(stride), Some(cfg)) = (self.stride, model.config().preprocess.as_ref())
            && stride as usize > cfg.image_size
        {
            bail!(
                "--stride {stride} is larger than the model's tile size {}: the tiles would \
                 leave gaps",
                cfg.image_size
            );
        }
        Ok(IndexOptions {
            stride: self.stride,
            max_nodata_fraction: self.max_nodata,
            max_cloud_fraction: self.max_cloud,
            batch_size: self.batch,
            max_rows: None,
            readers: self.readers.unwrap_or_else(|| default_readers(model)),
        })
    }
}

fn open_scene(path: &Path) -> anyhow::Result<Scene> {
    super::common::open_scene(path, &CancelToken::new(), true)
}

/// Scenes may be folders; index files must be regular files.
pub(super) fn check_inputs(inputs: &[PathBuf]) -> anyhow::Result<()> {
    for p in inputs {
        check_input(p, !is_index_file(p))?;
    }
    Ok(())
}

/// `--csv` and `--geojson`, where given.
pub(super) fn exports<'a>(
    csv: &'a Option<PathBuf>,
    geojson: &'a Option<PathBuf>,
    gpkg: &'a Option<PathBuf>,
) -> impl Iterator<Item = (&'static str, &'a Path)> {
    [("--csv", csv), ("--geojson", geojson), ("--gpkg", gpkg)]
        .into_iter()
        .filter_map(|(flag, p)| Some((flag, p.as_deref()?)))
}

/// Index a scene (cache or build), reporting on stderr.
fn scene_index(
    path: &Path,
    model: &Embedder,
    opts: &IndexOptions,
    use_cache: bool,
) -> anyhow::Result<TileIndex> {
    let scene = open_scene(path)?;
    let progress = StderrProgress::new();
    let cancel = CancelToken::new();
    let index = if use_cache {
        let (index, outcome) =
            cache::open_or_build(&cache::cache_dir(), &scene, model, opts, &progress, &cancel)?;
        progress.finish();
        match outcome {
            CacheOutcome::Hit(p) => eprintln!(
                "kestrel: {}: index from cache {}",
                path.display(),
                p.display()
            ),
            CacheOutcome::Built {
                path: p,
                reason,
                saved,
            } => match saved {
                Ok(()) => eprintln!(
                    "kestrel: {}: indexed ({reason}), cached in {}",
                    path.display(),
                    p.display()
                ),
                Err(e) => eprintln!(
                    "kestrel: {}: indexed ({reason}), not cached: {e}",
                    path.display()
                ),
            },
        }
        index
    } else {
        let index = build_index(&scene, model, opts, &progress, &cancel)?;
        progress.finish();
        index
    };
    Ok(index)
}

fn is_index_file(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// All tiles to search: `.parquet` inputs are read as index files (checked together for a
/// common model), any other input is a scene indexed through the cache with `model`.
pub(super) fn collect(
    inputs: &[PathBuf],
    args: &IndexArgs,
    model: &Embedder,
) -> anyhow::Result<(Vec<IndexMeta>, Vec<TileRecord>)> {
    let files: Vec<PathBuf> = inputs
        .iter()
        .filter(|p| is_index_file(p))
        .cloned()
        .collect();
    let mut metas = Vec::new();
    let mut sources = Vec::new();
    let mut tiles = Vec::new();
    if !files.is_empty() {
        for ix in geoparquet::read_indexes(&files)? {
            sources.push(ix.path.display().to_string());
            metas.push(ix.meta);
            tiles.extend(ix.tiles);
        }
    }
    let opts = args.options(model)?;
    for p in inputs.iter().filter(|p| !is_index_file(p)) {
        let index = scene_index(p, model, &opts, true)?;
        sources.push(p.display().to_string());
        metas.push(index.meta);
        tiles.extend(index.tiles);
    }
    session::check_indexes(&metas, &sources, model)?;
    Ok((metas, tiles))
}

pub fn run_search(args: &SearchArgs) -> anyhow::Result<()> {
    if args.query.trim().is_empty() {
        bail!("the query is empty: say what to look for, e.g. --query \"flooded fields\"");
    }
    check_inputs(&args.inputs)?;
    let inputs: Vec<&Path> = args.inputs.iter().map(PathBuf::as_path).collect();
    check_outputs(exports(&args.csv, &args.geojson, &args.gpkg), &inputs)?;
    let model = super::model_cmds::load_embedder(&args.index.model)?;
    // Check the query before the (possibly long) indexing.
    let query = Query::text(args.query.clone()).prepare(&model)?;
    if let Some(w) = query.warning() {
        eprintln!("kestrel: warning: query: {w}");
    }
    let (metas, tiles, ranking) = if args.inputs.iter().all(|p| is_index_file(p)) {
        // shards only: stream them (memory independent of the archive size)
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let found = archive::search(&args.inputs, &query, &model, args.top, threads)?;
        (found.metas, found.tiles, found.ranking)
    } else {
        let (metas, tiles) = collect(&args.inputs, &args.index, &model)?;
        let ranking = query.rank(&tiles)?;
        (metas, tiles, ranking)
    };
    let top: Vec<(usize, f32)> = ranking.visible(f32::NEG_INFINITY, args.top).collect();
    if top.is_empty() {
        eprintln!("kestrel: {}", no_results(&tiles));
    }
    for (path, format) in [
        (&args.csv, ExportFormat::Csv),
        (&args.geojson, ExportFormat::GeoJson),
        (&args.gpkg, ExportFormat::Gpkg),
    ] {
        if let Some(p) = path {
            session::export_ranking(p, format, &metas, &tiles, &ranking, &top)?;
            eprintln!("kestrel: wrote {}", p.display());
        }
    }
    for r in session::ranked_rows(&tiles, &top) {
        let t = r.tile;
        if args.json {
            println!(
                "{}",
                json!({"rank": r.rank, "score": r.score, "scene_id": t.scene_id, "row": t.row, "col": t.col,
                       "centre_lon": t.centre_lonlat[0], "centre_lat": t.centre_lonlat[1]})
            );
        } else {
            println!(
                "{:>4}  {:.4}  r{:<3} c{:<3}  {:.5}, {:.5}",
                r.rank, r.score, t.row, t.col, t.centre_lonlat[1], t.centre_lonlat[0]
            );
        }
    }
    Ok(())
}

pub fn run_classify_scene(args: &ClassifySceneArgs) -> anyhow::Result<()> {
    let (classes, inputs) =
        super::model_cmds::split_classes_and_images(args.classes.clone(), args.inputs.clone());
    if classes.len() < 2 {
        bail!("give at least two --classes");
    }
    if inputs.is_empty() {
        bail!("no scene or index file given: list them after the class names");
    }
    check_inputs(&inputs)?;
    let input_paths: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    check_outputs(exports(&args.csv, &args.geojson, &args.gpkg), &input_paths)?;
    let model = super::model_cmds::load_embedder(&args.index.model)?;
    let classifier = session::classifier(&model, &classes, args.templates.into())?;
    let (metas, tiles) = collect(&inputs, &args.index, &model)?;
    let result = session::classify(&classifier, &tiles);
    if result.counts().iter().all(|&n| n == 0) {
        eprintln!("kestrel: {}", no_results(&tiles));
    }
    for (path, format) in [
        (&args.csv, ExportFormat::Csv),
        (&args.geojson, ExportFormat::GeoJson),
        (&args.gpkg, ExportFormat::Gpkg),
    ] {
        if let Some(p) = path {
            session::export_classification(p, format, &metas, &tiles, &result)?;
            eprintln!("kestrel: wrote {}", p.display());
        }
    }
    for (c, n) in classes.iter().zip(result.counts()) {
        if args.json {
            println!("{}", json!({"class": c, "tiles": n}));
        } else {
            println!("{c}: {n} tiles");
        }
    }
    Ok(())
}

/// Why a search or classification found nothing (an all-nodata or all-cloud scene): said
/// on stderr so that empty output is not mistaken for a failure or for "no match".
fn no_results(tiles: &[TileRecord]) -> String {
    let count = |s: TileStatus| tiles.iter().filter(|t| t.status == s).count();
    format!(
        "no results: none of the {} tiles has an embedding ({} skipped for nodata over \
         --max-nodata, {} for cloud over --max-cloud)",
        tiles.len(),
        count(TileStatus::SkippedNodata),
        count(TileStatus::SkippedCloud)
    )
}
