//! End-to-end search with the tiny oracle model: tile grid and windows, bounds against
//! GDAL, embeddings and scores recomputed independently from the tile pixels, the cache
//! (hit, stale, corrupt), cancellation, and the CSV / GeoJSON exports parsed back row by
//! row. The bundled demo scene needs nothing else; the Corrientes tests need `../shared`.

use std::path::{Path, PathBuf};

use kestrel::export::{self, ExportContext, RankedTile};
use kestrel::jobs::{CancelToken, NoProgress, Progress, ProgressSink};
use kestrel::model::device::{DevicePreference, Precision};
use kestrel::model::tasks::preprocess::{RawImage, resize_crop_normalize};
use kestrel::model::tasks::retrieval;
use kestrel::model::{Embedder, ModelSpec};
use kestrel::raster::read::{ReadRequest, Resampling, Window};
use kestrel::raster::{S2Band, Scene};
use kestrel::search::cache::{self, CacheOutcome};
use kestrel::search::index::{IndexError, IndexOptions, TileIndex, build_index};
use kestrel::search::record::TileStatus;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo() -> PathBuf {
    repo().join("assets/demo/T33UUU_20170216_L1C")
}

fn corrientes() -> Option<PathBuf> {
    let p = repo().join("../shared/data/turb-corrientes-l2a/20231217.tif");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skip: {} is absent (needs ../shared)", p.display());
        None
    }
}

fn tiny() -> Embedder {
    let spec = ModelSpec {
        checkpoint: Some(repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors")),
        config: None,
        device: DevicePreference::Cpu,
        precision: Precision::F32,
        ..ModelSpec::default()
    };
    Embedder::load(&spec, &NoProgress, &CancelToken::new()).expect("tiny model")
}

fn open(p: &Path) -> Scene {
    Scene::open(p, &CancelToken::new()).expect("scene")
}

fn index(scene: &Scene, model: &Embedder) -> TileIndex {
    build_index(
        scene,
        model,
        &IndexOptions::default(),
        &NoProgress,
        &CancelToken::new(),
    )
    .expect("index")
}

/// Embedding of one tile computed the other way: a plain window read, the model's own
/// preprocessing (the path `embed-images` uses), the model.
fn independent_embedding(scene: &Scene, model: &Embedder, x0: i64, y0: i64) -> Vec<f32> {
    let bands = scene.require_bands(&S2Band::MSCLIP_10).unwrap();
    let stack = scene
        .read(
            &ReadRequest {
                bands,
                window: Window::new(x0, y0, 224, 224),
                out_width: 224,
                out_height: 224,
                resampling: Resampling::Bilinear,
            },
            &CancelToken::new(),
        )
        .unwrap();
    let cfg = model.config().preprocess.as_ref().unwrap();
    // the documented rule: a pixel with nodata in any band is nodata in all, and carries
    // no signal: every band gets its mean (0 after normalisation)
    let mut data = stack.data.clone();
    let n = 224 * 224;
    let bad: Vec<bool> = (0..n)
        .map(|i| (0..cfg.bands.len()).any(|b| data[b * n + i].is_nan()))
        .collect();
    for (b, plane) in data.chunks_mut(n).enumerate() {
        for (v, bad) in plane.iter_mut().zip(&bad) {
            if *bad {
                *v = cfg.mean[b];
            }
        }
    }
    let img = RawImage {
        source: scene.info().path.clone(),
        data,
        bands: cfg.bands.iter().map(|b| Some(b.clone())).collect(),
        width: 224,
        height: 224,
    };
    let px = resize_crop_normalize(&img, cfg).unwrap();
    model.embed_images(&px, 1).unwrap().remove(0)
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn demo_scene_tiles_windows_bounds_and_embeddings() {
    let model = tiny();
    let scene = open(&demo());
    let ix = index(&scene, &model);
    // 1536 x 768 px: 7 columns (the last reaches 32 px past the edge), 4 rows (the last is
    // 96 px inside, 57 % outside: skipped for nodata)
    assert_eq!(ix.tiles.len(), 28);
    for t in &ix.tiles {
        assert_eq!(
            (t.px_x0, t.px_y0, t.px_width, t.px_height),
            (i64::from(t.col) * 224, i64::from(t.row) * 224, 224, 224)
        );
    }
    let last_col = ix.tiles.iter().find(|t| t.row == 0 && t.col == 6).unwrap();
    assert!(
        (last_col.nodata_fraction - 32.0 / 224.0).abs() < 1e-6,
        "{}",
        last_col.nodata_fraction
    );
    assert_eq!(last_col.status, TileStatus::Embedded);
    for t in ix.tiles.iter().filter(|t| t.row == 3) {
        assert_eq!(t.status, TileStatus::SkippedNodata);
        assert!(t.embedding.is_none());
        // at least the part outside the scene; the lossy JP2s also hold DN 0 (nodata) pixels
        assert!(
            t.nodata_fraction >= 1.0 - 96.0 / 224.0 - 1e-6,
            "{}",
            t.nodata_fraction
        );
    }
    assert_eq!(ix.embedded_count(), 21);
    // L1C has no SCL or cloud probability
    assert!(ix.tiles.iter().all(|t| t.cloud_fraction.is_none()));
    assert_eq!(ix.meta.max_cloud_fraction, None);
    assert_eq!(
        ix.meta.bands,
        [
            "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"
        ]
    );
    assert_eq!(
        ix.meta.checkpoint_sha256,
        "8b1c4aeb8669147bcabada668da34fe41d6bdbf188256343bbe7814e42a14356"
    );

    // bounds against GDAL: origin (330000, 5822040), 10 m pixels, EPSG:32633;
    // `gdaltransform -s_srs EPSG:32633 -t_srs EPSG:4326` of the corners of tile r0 c4
    let t = ix.tiles.iter().find(|t| t.row == 0 && t.col == 4).unwrap();
    assert_eq!(
        t.bounds_crs,
        [338_960.0, 5_819_800.0, 341_200.0, 5_822_040.0]
    );
    let nw = t.polygon_wgs84[0];
    assert!(
        (nw[0] - 12.626_182_703_447_1).abs() < 1e-9 && (nw[1] - 52.524_631_437_987_2).abs() < 1e-9,
        "{nw:?}"
    );
    let se = t.polygon_wgs84[8];
    assert!(
        (se[0] - 12.660_240_951_525_3).abs() < 1e-9 && (se[1] - 52.505_167_627_674_7).abs() < 1e-9,
        "{se:?}"
    );
    assert_eq!(t.polygon_wgs84.first(), t.polygon_wgs84.last());

    // embeddings recomputed independently for an interior tile and the partial edge tile
    for (row, col) in [(1, 2), (0, 6)] {
        let t = ix
            .tiles
            .iter()
            .find(|t| t.row == row && t.col == col)
            .unwrap();
        let e = independent_embedding(&scene, &model, t.px_x0, t.px_y0);
        let d = max_abs(t.embedding.as_ref().unwrap(), &e);
        assert!(d <= 1e-5, "tile r{row} c{col}: max abs diff {d}");
    }

    // scores: cosine with the query embedding, ranked best first
    let q = model.embed_query("a river between fields").unwrap();
    let scores = retrieval::score(ix.tiles.iter().map(|t| t.embedding.as_deref()), &q);
    let ranked = retrieval::rank(&scores);
    assert_eq!(ranked.len(), 21);
    for w in ranked.windows(2) {
        assert!(w[0].1 >= w[1].1);
    }
    let (best, s) = ranked[0];
    let direct: f32 = ix.tiles[best]
        .embedding
        .as_ref()
        .unwrap()
        .iter()
        .zip(&q)
        .map(|(a, b)| a * b)
        .sum();
    assert!((s - direct).abs() < 1e-6);
}

#[test]
fn two_reader_threads_give_the_same_index() {
    let model = tiny();
    let scene = open(&demo());
    let one = index(&scene, &model);
    let opts = IndexOptions {
        readers: 2,
        batch_size: 3,
        ..IndexOptions::default()
    };
    let two = build_index(&scene, &model, &opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(one.tiles, two.tiles);
}

#[test]
fn exports_parse_back_row_by_row() {
    let model = tiny();
    let scene = open(&demo());
    let ix = index(&scene, &model);
    let q = model.embed_query("lake, \"shore\"\nwith reeds").unwrap();
    let scores = retrieval::score(ix.tiles.iter().map(|t| t.embedding.as_deref()), &q);
    let ranked = retrieval::rank(&scores);
    let rows: Vec<RankedTile> = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(k, &(i, s))| RankedTile {
            rank: k + 1,
            score: s,
            tile: &ix.tiles[i],
        })
        .collect();
    let ctx = ExportContext::from_metas([&ix.meta]).with_query("lake, \"shore\"\nwith reeds", "");
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("hits.csv");
    let gj_path = dir.path().join("hits.geojson");
    export::write_ranked_csv(&csv_path, &ctx, &rows).unwrap();
    export::write_ranked_geojson(&gj_path, &ctx, &rows).unwrap();

    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 10);
    for (r, rec) in rows.iter().zip(&recs) {
        let t = r.tile;
        assert_eq!(rec[col("rank")].parse::<usize>().unwrap(), r.rank);
        assert_eq!(rec[col("score")].parse::<f32>().unwrap(), r.score);
        assert_eq!(rec[col("tile_row")].parse::<u32>().unwrap(), t.row);
        assert_eq!(rec[col("tile_col")].parse::<u32>().unwrap(), t.col);
        assert_eq!(rec[col("px_x0")].parse::<i64>().unwrap(), t.px_x0);
        assert_eq!(rec[col("crs_epsg")].parse::<u32>().unwrap(), 32633);
        assert_eq!(
            rec[col("crs_minx")].parse::<f64>().unwrap(),
            t.bounds_crs[0]
        );
        assert_eq!(
            rec[col("centre_lon")].parse::<f64>().unwrap(),
            t.centre_lonlat[0]
        );
        assert_eq!(
            rec[col("query_text")].to_string(),
            "lake, \"shore\"\nwith reeds"
        );
        assert_eq!(&rec[col("checkpoint_sha256")], ix.meta.checkpoint_sha256);
        assert!(rec[col("wkt")].starts_with("POLYGON (("));
    }
    let gj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gj_path).unwrap()).unwrap();
    let feats = gj["features"].as_array().unwrap();
    assert_eq!(feats.len(), 10);
    for (r, f) in rows.iter().zip(feats) {
        assert_eq!(f["properties"]["rank"].as_u64().unwrap() as usize, r.rank);
        assert_eq!(
            f["properties"]["tile_row"].as_u64().unwrap() as u32,
            r.tile.row
        );
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        assert_eq!(ring.len(), r.tile.polygon_wgs84.len());
    }
}

#[test]
fn cache_hits_rebuilds_stale_and_corrupt_entries() {
    let model = tiny();
    let scene = open(&demo());
    let dir = tempfile::tempdir().unwrap();
    let opts = IndexOptions::default();
    let (a, out) = cache::open_or_build(
        dir.path(),
        &scene,
        &model,
        &opts,
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    let path = match out {
        CacheOutcome::Built { path, saved, .. } => {
            saved.unwrap();
            path
        }
        CacheOutcome::Hit(_) => panic!("empty cache cannot hit"),
    };
    let (b, out) = cache::open_or_build(
        dir.path(),
        &scene,
        &model,
        &opts,
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    assert!(
        matches!(&out, CacheOutcome::Hit(p) if *p == path),
        "{out:?}"
    );
    assert_eq!(a.tiles, b.tiles);
    // corrupt the cached file: detected and rebuilt, never trusted
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (c, out) = cache::open_or_build(
        dir.path(),
        &scene,
        &model,
        &opts,
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    match out {
        CacheOutcome::Built { reason, .. } => assert!(
            reason.to_string().contains("damaged") || reason.to_string().contains("unreadable"),
            "{reason}"
        ),
        CacheOutcome::Hit(_) => panic!("a corrupt cache entry was trusted"),
    }
    assert_eq!(a.tiles, c.tiles);
    // a stale entry (other checkpoint) under the expected name is rebuilt too
    let key = cache::CacheKey::new(&scene, &model, &opts).unwrap();
    let mut meta = c.meta.clone();
    meta.checkpoint_sha256 = "0".repeat(64);
    kestrel::search::geoparquet::write_index(&path, &meta, &c.tiles).unwrap();
    assert!(
        cache::load(&path, &key)
            .unwrap_err()
            .to_string()
            .contains("another checkpoint")
    );
}

struct CancelAfter(CancelToken, u64);
impl ProgressSink for CancelAfter {
    fn report(&self, p: &Progress) {
        if p.done >= self.1 {
            self.0.cancel();
        }
    }
}

#[test]
fn cancelled_indexing_stops_and_caches_nothing() {
    let model = tiny();
    let scene = open(&demo());
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    let opts = IndexOptions {
        batch_size: 2,
        ..IndexOptions::default()
    };
    let err = cache::open_or_build(
        dir.path(),
        &scene,
        &model,
        &opts,
        &CancelAfter(cancel.clone(), 2),
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::Cancelled), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn corrientes_small_scene_with_offset_and_cloud_probability() {
    let Some(p) = corrientes() else { return };
    let model = tiny();
    let scene = open(&p);
    let ix = index(&scene, &model);
    // 219 x 218 px: one padded tile, (1 - 219*218/224^2) = 4.85 % outside, plus the NaN
    // pixels of the file itself
    assert_eq!(ix.tiles.len(), 1);
    let t = &ix.tiles[0];
    assert!(
        t.nodata_fraction >= 0.0485 && t.nodata_fraction < 0.2,
        "{}",
        t.nodata_fraction
    );
    // cloud probability exists (max 8 %): cloud fraction is known and zero
    assert_eq!(t.cloud_fraction, Some(0.0));
    assert_eq!(t.status, TileStatus::Embedded);
    assert!(
        ix.meta.harmonisation.contains("1000"),
        "{}",
        ix.meta.harmonisation
    );
    let e = independent_embedding(&scene, &model, 0, 0);
    assert!(max_abs(t.embedding.as_ref().unwrap(), &e) <= 1e-5);
}
