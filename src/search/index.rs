//! Building a scene's tile index: read the model's bands on the 10 m grid strip by strip,
//! cut 224 px tiles, measure nodata and cloud, preprocess, embed in batches, and collect
//! [`TileRecord`]s.
//!
//! Threads: [`build_index`] runs on the caller's (worker) thread and starts one reader
//! thread. The reader opens its own GDAL datasets, reads one tile row (a strip `size`
//! pixels high, all bands) at a time, and sends preprocessed batches through a bounded
//! channel (2 batches) to the caller, which runs the model. Reads therefore overlap with
//! inference, and memory stays bounded: one strip (a full 10980 px wide Sentinel-2 tile
//! row of 11 bands is 108 MB of f32) plus two batches, whatever the scene size.
//! Both sides check the [`CancelToken`]; dropping the receiver stops the reader.

use std::time::SystemTime;

use crossbeam_channel::bounded;
use serde::{Deserialize, Serialize};

use super::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus};
use super::rgb8;
use super::tiling::{TileGrid, TileWindow};
use crate::jobs::{CancelToken, Cancelled, Progress, ProgressSink};
use crate::model::load::config::{PixelScale, PreprocessConfig};
use crate::model::tasks::preprocess::{PreprocessError, RawImage, resize_crop_normalize};
use crate::model::{Embedder, ModelError};
use crate::raster::georef::GeorefError;
use crate::raster::read::{ReadRequest, Resampling, Window};
use crate::raster::{BandRole, CrsTransformer, RasterError, S2Band, Scene};

/// Version of the tile preprocessing (band reads, resampling, nodata filling,
/// normalisation). Part of the cache key: bump it when any of these change.
pub const PREPROCESS_VERSION: u32 = 1;

/// SCL classes counted as cloud: cloud shadows, medium and high probability cloud, cirrus.
pub const SCL_CLOUD_CLASSES: [u8; 4] = [3, 8, 9, 10];
/// Cloud probability (0–100) from which a pixel counts as cloudy.
pub const CLOUD_PROB_THRESHOLD: f32 = 50.0;

/// How a scene is cut and which tiles are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexOptions {
    /// Distance between tile origins in pixels; `None` = the tile size (no overlap).
    pub stride: Option<u32>,
    /// Tiles with more nodata than this (0–1) are skipped.
    pub max_nodata_fraction: f32,
    /// Tiles with more cloud than this (0–1, of their valid pixels) are skipped, where the
    /// scene has SCL or cloud probability.
    pub max_cloud_fraction: f32,
    /// Tiles per model call.
    pub batch_size: usize,
    /// Index only the first rows of tiles (previews and benchmarks); `None` = all.
    pub max_rows: Option<u32>,
    /// Reader threads (each reads every n-th tile row with its own GDAL datasets). One keeps
    /// up with CPU inference; a GPU wants more.
    pub readers: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            stride: None,
            max_nodata_fraction: 0.5,
            max_cloud_fraction: 0.5,
            batch_size: 8,
            max_rows: None,
            readers: 1,
        }
    }
}

/// Reader threads for indexing with `model` when the user does not say: one reader keeps
/// up with inference on the CPU; a GPU embeds a tile faster than one GDAL reader cuts it
/// (about 30 ms a tile on a full Sentinel-2 tile), so it gets two.
pub fn default_readers(model: &Embedder) -> usize {
    if model.on_gpu() { 2 } else { 1 }
}

/// What the indexer needs from a model (implemented by [`Embedder`] below, and by the
/// timing wrapper of `bench-index`).
pub trait TileEmbedder: Sync {
    /// Bands, normalisation and input size (`None`: the model config does not say).
    fn preprocess_config(&self) -> Option<&PreprocessConfig>;
    /// L2-normalised embeddings of `n` preprocessed tiles laid out `n × C × S × S`.
    fn embed_tiles(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ModelError>;
    fn model_name(&self) -> String;
    /// sha256 of the checkpoint file (may hash it on first use).
    fn checkpoint_sha256(&self) -> Result<String, ModelError>;
    fn embed_dim(&self) -> usize;
    /// The precision the model computes in: `f32`, `bf16` or `f16`.
    fn precision(&self) -> &'static str;
}

impl TileEmbedder for Embedder {
    fn preprocess_config(&self) -> Option<&PreprocessConfig> {
        self.config().preprocess.as_ref()
    }
    fn embed_tiles(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        self.embed_images(pixels, n)
    }
    fn model_name(&self) -> String {
        Embedder::model_name(self).to_owned()
    }
    fn checkpoint_sha256(&self) -> Result<String, ModelError> {
        Embedder::checkpoint_sha256(self)
    }
    fn embed_dim(&self) -> usize {
        Embedder::embed_dim(self)
    }
    fn precision(&self) -> &'static str {
        Embedder::precision(self).name()
    }
}

/// A scene's index: metadata plus one record per tile, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct TileIndex {
    pub meta: IndexMeta,
    pub tiles: Vec<TileRecord>,
}

impl TileIndex {
    pub fn embedded_count(&self) -> usize {
        self.tiles.iter().filter(|t| t.embedding.is_some()).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Raster(#[from] RasterError),
    #[error("cannot index {scene}: {reason}")]
    Unsupported { scene: String, reason: String },
    #[error("cannot place the tiles of {scene} in WGS84")]
    Georef {
        scene: String,
        #[source]
        source: GeorefError,
    },
    #[error("cannot preprocess the tiles of {scene}")]
    Preprocess {
        scene: String,
        #[source]
        source: PreprocessError,
    },
    #[error("cannot index {scene}: cannot hash the checkpoint")]
    Checkpoint {
        scene: String,
        #[source]
        source: ModelError,
    },
    #[error("model failed on {scene}")]
    Model {
        scene: String,
        #[source]
        source: ModelError,
    },
    #[error("cancelled")]
    Cancelled,
}

impl From<Cancelled> for IndexError {
    fn from(_: Cancelled) -> Self {
        IndexError::Cancelled
    }
}

/// One tile leaving the reader: its record (without embedding) and, when it is to be
/// embedded, its preprocessed pixels.
struct ReadTile {
    record: TileRecord,
    pixels: Option<Vec<f32>>,
}

/// Build the index of `scene` with `model` (see the module docs).
pub fn build_index(
    scene: &Scene,
    model: &dyn TileEmbedder,
    opts: &IndexOptions,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<TileIndex, IndexError> {
    let info = scene.info();
    let scene_name = info.path.display().to_string();
    let unsupported = |reason: String| IndexError::Unsupported {
        scene: scene_name.clone(),
        reason,
    };
    let cfg = model.preprocess_config().ok_or_else(|| {
        unsupported("the model config has no preprocess_cfg (bands, mean, std)".into())
    })?;
    // An RGB model (RemoteCLIP, RS-M-CLIP) gets the scene's true colour through the one
    // fixed 8-bit mapping (`rgb8`); its config names no bands.
    let rgb_cfg;
    let cfg = if cfg.pixels == PixelScale::Rgb8 && cfg.bands.is_empty() && cfg.mean.len() == 3 {
        rgb_cfg = PreprocessConfig {
            bands: rgb8::RGB_BANDS
                .iter()
                .map(|b| b.name().to_owned())
                .collect(),
            ..cfg.clone()
        };
        &rgb_cfg
    } else {
        cfg
    };
    let rgb8_input = cfg.pixels == PixelScale::Rgb8;
    if cfg.bands.is_empty() {
        return Err(unsupported("the model config names no input bands".into()));
    }
    let wanted: Vec<S2Band> = cfg
        .bands
        .iter()
        .map(|n| {
            S2Band::from_name(n)
                .ok_or_else(|| unsupported(format!("model band {n:?} is not a Sentinel-2 band")))
        })
        .collect::<Result<_, _>>()?;
    let model_bands = scene.require_bands(&wanted)?;
    let scl = scene.band_index(BandRole::Scl);
    let cld = scene.band_index(BandRole::CloudProb);
    let size =
        u32::try_from(cfg.image_size).map_err(|_| unsupported("tile size too large".into()))?;
    let stride = opts.stride.unwrap_or(size).clamp(1, size);
    let grid = TileGrid::new(
        info.grid.width as u64,
        info.grid.height as u64,
        size,
        stride,
    );
    let rows = opts.max_rows.map_or(grid.rows(), |r| r.min(grid.rows()));
    let total = u64::from(rows) * u64::from(grid.cols());
    let has_cloud_info = scl.is_some() || cld.is_some();

    let meta = IndexMeta {
        format_version: INDEX_FORMAT_VERSION,
        kestrel_version: env!("CARGO_PKG_VERSION").to_string(),
        scene_path: scene_name.clone(),
        scene_identity: info.identity.clone(),
        scene_crs_wkt: info.crs.wkt.clone(),
        scene_epsg: info.crs.epsg,
        model_name: model.model_name(),
        checkpoint_sha256: model
            .checkpoint_sha256()
            .map_err(|source| IndexError::Checkpoint {
                scene: scene_name.clone(),
                source,
            })?,
        preprocess_version: PREPROCESS_VERSION,
        bands: cfg.bands.clone(),
        harmonisation: if rgb8_input {
            format!(
                "{}; RGB model input: {}",
                info.radiometry.reason,
                rgb8::MAPPING_ID
            )
        } else {
            info.radiometry.reason.clone()
        },
        tile_size: size,
        stride,
        embed_dim: model.embed_dim() as u32,
        max_nodata_fraction: opts.max_nodata_fraction,
        max_cloud_fraction: has_cloud_info.then_some(opts.max_cloud_fraction),
        created_utc: utc_now_iso8601(),
        product_id: info.product_id.clone(),
        mgrs_tile: info.mgrs_tile.clone(),
        sensing_time: info.sensing_time.clone(),
        precision: Some(model.precision().to_owned()),
    };

    let batch_size = opts.batch_size.max(1);
    let (tx, rx) = bounded::<Vec<ReadTile>>(2);
    let mut tiles: Vec<TileRecord> = Vec::with_capacity(grid.len());
    let mut done = 0u64;
    let label = format!("indexing {}", info.name);
    progress.report(&Progress {
        label: label.clone(),
        done: 0,
        total,
        elapsed_secs: 0.0,
    });
    let started = std::time::Instant::now();

    let reader = TileReader {
        scene,
        grid: &grid,
        model_bands: &model_bands,
        scl,
        cld,
        cfg,
        opts,
        batch_size,
    };
    let readers = opts.readers.clamp(1, rows.max(1) as usize) as u32;
    let reader_result = std::thread::scope(|s| -> Result<(), IndexError> {
        let reader = &reader;
        let mut handles = Vec::new();
        for k in 0..readers {
            // Each reader owns a sender: the channel closes when the last one ends.
            let tx = tx.clone();
            let rows_k = (k..rows).step_by(readers as usize);
            let handle = std::thread::Builder::new()
                .name(format!("kestrel-index-reader-{k}"))
                .spawn_scoped(s, move || reader.run(rows_k, &tx, cancel))
                .map_err(|e| unsupported(format!("cannot start a reader thread: {e}")))?;
            handles.push(handle);
        }
        drop(tx);
        let mut consume = || -> Result<(), IndexError> {
            for batch in &rx {
                cancel.check()?;
                let n = batch.iter().filter(|t| t.pixels.is_some()).count();
                let mut pixels =
                    Vec::with_capacity(n * cfg.bands.len() * cfg.image_size * cfg.image_size);
                for t in &batch {
                    if let Some(p) = &t.pixels {
                        pixels.extend_from_slice(p);
                    }
                }
                let mut embeddings = if n > 0 {
                    model
                        .embed_tiles(&pixels, n)
                        .map_err(|source| IndexError::Model {
                            scene: scene_name.clone(),
                            source,
                        })?
                        .into_iter()
                } else {
                    Vec::new().into_iter()
                };
                for t in batch {
                    let mut rec = t.record;
                    if t.pixels.is_some() {
                        match embeddings.next() {
                            Some(e) if e.iter().all(|v| v.is_finite()) => rec.embedding = Some(e),
                            _ => {
                                // values so extreme the model overflows: no usable pixels
                                log::warn!(
                                    "{scene_name}: tile r{}c{} has no finite embedding; skipped as nodata",
                                    rec.row,
                                    rec.col
                                );
                                rec.status = TileStatus::SkippedNodata;
                            }
                        }
                    }
                    tiles.push(rec);
                    done += 1;
                }
                progress.report(&Progress {
                    label: label.clone(),
                    done,
                    total,
                    elapsed_secs: started.elapsed().as_secs_f64(),
                });
            }
            Ok(())
        };
        let consumed = consume();
        if consumed.is_err() {
            // Stop the reader: it fails its next send once the receiver is gone.
            cancel.cancel();
        }
        drop(rx);
        let mut read = Ok(());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(unsupported("a reader thread panicked".into())));
            if read.is_ok() {
                read = r;
            }
        }
        consumed?;
        read
    });
    reader_result?;
    cancel.check()?;
    tiles.sort_by_key(|t| (t.row, t.col));
    Ok(TileIndex { meta, tiles })
}

/// What a reader thread needs: the scene, the grid, which bands, how to cut and skip.
struct TileReader<'a> {
    scene: &'a Scene,
    grid: &'a TileGrid,
    model_bands: &'a [usize],
    scl: Option<usize>,
    cld: Option<usize>,
    cfg: &'a PreprocessConfig,
    opts: &'a IndexOptions,
    batch_size: usize,
}

impl TileReader<'_> {
    /// A reader thread: strips of `rows` → tiles → batches into `tx`.
    fn run(
        &self,
        rows: impl Iterator<Item = u32>,
        tx: &crossbeam_channel::Sender<Vec<ReadTile>>,
        cancel: &CancelToken,
    ) -> Result<(), IndexError> {
        let TileReader {
            scene,
            grid,
            model_bands,
            scl,
            cld,
            cfg,
            opts,
            batch_size,
        } = *self;
        let info = scene.info();
        let reader = scene.reader();
        let to_wgs84 = CrsTransformer::new(&info.crs.wkt).map_err(|source| IndexError::Georef {
            scene: info.path.display().to_string(),
            source,
        })?;
        let mut bands = model_bands.to_vec();
        bands.extend(scl);
        bands.extend(cld);
        let c = model_bands.len();
        let s = grid.size as usize;
        let strip_w = (grid.cols() as usize - 1) * grid.stride as usize + s;
        let mut batch: Vec<ReadTile> = Vec::with_capacity(batch_size);
        let mut embed_in_batch = 0;
        let (mut read_s, mut prep_s, mut send_s) = (0.0f64, 0.0f64, 0.0f64);
        for row in rows {
            cancel.check()?;
            let t_read = std::time::Instant::now();
            let y0 = i64::from(row) * i64::from(grid.stride);
            let req = ReadRequest {
                bands: bands.clone(),
                window: Window::new(0, y0, strip_w, s),
                out_width: strip_w,
                out_height: s,
                resampling: Resampling::Bilinear,
            };
            let strip = reader.read(&req, cancel)?;
            read_s += t_read.elapsed().as_secs_f64();
            let t_prep = std::time::Instant::now();
            let mut sent = 0.0;
            for col in 0..grid.cols() {
                let tw = grid.tile(row, col);
                let x0 = tw.x0 as usize;
                let plane = |i: usize| strip.plane(i);
                // model bands of this tile, band-major, harmonised DN with NaN nodata
                let mut px = Vec::with_capacity(c * s * s);
                for b in 0..c {
                    let p = plane(b);
                    for y in 0..s {
                        px.extend_from_slice(&p[y * strip_w + x0..y * strip_w + x0 + s]);
                    }
                }
                // nodata: NaN, and ±inf (no measurement; the model would give NaN), in
                // any band — the rule of the model's preprocessing (`fill_nodata`)
                let valid: Vec<bool> = (0..s * s)
                    .map(|i| (0..c).all(|b| px[b * s * s + i].is_finite()))
                    .collect();
                let n_valid = valid.iter().filter(|v| **v).count();
                let nodata_fraction = 1.0 - n_valid as f32 / (s * s) as f32;
                let cloud_fraction = if scl.is_some() || cld.is_some() {
                    let mut cloudy = 0usize;
                    for y in 0..s {
                        for x in 0..s {
                            let i = y * s + x;
                            if !valid[i] {
                                continue;
                            }
                            let at = |k: usize| plane(k)[y * strip_w + x0 + x];
                            let by_scl = scl.is_some_and(|_| {
                                let v = at(c);
                                v.is_finite() && SCL_CLOUD_CLASSES.contains(&(v as u8))
                            });
                            let by_cld = cld.is_some_and(|_| {
                                let v = at(c + usize::from(scl.is_some()));
                                v.is_finite() && v >= CLOUD_PROB_THRESHOLD
                            });
                            if by_scl || by_cld {
                                cloudy += 1;
                            }
                        }
                    }
                    Some(if n_valid == 0 {
                        0.0
                    } else {
                        cloudy as f32 / n_valid as f32
                    })
                } else {
                    None
                };
                let status = if nodata_fraction > opts.max_nodata_fraction {
                    TileStatus::SkippedNodata
                } else if cloud_fraction.is_some_and(|f| f > opts.max_cloud_fraction) {
                    TileStatus::SkippedCloud
                } else {
                    TileStatus::Embedded
                };
                let record = tile_record(
                    &info.identity,
                    &tw,
                    &info.grid,
                    &to_wgs84,
                    nodata_fraction,
                    cloud_fraction,
                    status,
                )
                .map_err(|source| IndexError::Georef {
                    scene: info.path.display().to_string(),
                    source,
                })?;
                if cfg.pixels == PixelScale::Rgb8 {
                    rgb8::map_tile(&mut px);
                }
                let pixels = if status == TileStatus::Embedded {
                    // the model's own preprocessing, as `embed-images` uses: identity
                    // resize at the input size, nodata filled, normalised
                    let tile = RawImage {
                        source: info.path.clone(),
                        data: px,
                        bands: cfg.bands.iter().cloned().map(Some).collect(),
                        width: s,
                        height: s,
                    };
                    Some(resize_crop_normalize(&tile, cfg).map_err(|source| {
                        IndexError::Preprocess {
                            scene: info.path.display().to_string(),
                            source,
                        }
                    })?)
                } else {
                    None
                };
                embed_in_batch += usize::from(pixels.is_some());
                batch.push(ReadTile { record, pixels });
                if embed_in_batch >= batch_size {
                    let t_send = std::time::Instant::now();
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        return Ok(()); // the consumer stopped
                    }
                    sent += t_send.elapsed().as_secs_f64();
                    embed_in_batch = 0;
                }
            }
            prep_s += t_prep.elapsed().as_secs_f64() - sent;
            send_s += sent;
        }
        log::info!(
            "index reader: {read_s:.2} s reading strips, {prep_s:.2} s cutting and preprocessing tiles, {send_s:.2} s waiting for the model"
        );
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        Ok(())
    }
}

/// The record of one tile: window, bounds in the scene CRS and WGS84, fractions.
fn tile_record(
    scene_id: &str,
    tw: &TileWindow,
    grid: &crate::raster::Grid,
    to_wgs84: &CrsTransformer,
    nodata_fraction: f32,
    cloud_fraction: Option<f32>,
    status: TileStatus,
) -> Result<TileRecord, GeorefError> {
    let s = f64::from(tw.size);
    let (x0, y0) = (tw.x0 as f64, tw.y0 as f64);
    // corners clockwise from the top-left, densified a little so that long tiles in a
    // strongly distorted CRS stay faithful in lon/lat
    let mut ring_px = Vec::new();
    let steps = 4;
    for k in 0..steps {
        ring_px.push((x0 + s * f64::from(k) / f64::from(steps), y0));
    }
    for k in 0..steps {
        ring_px.push((x0 + s, y0 + s * f64::from(k) / f64::from(steps)));
    }
    for k in 0..steps {
        ring_px.push((x0 + s - s * f64::from(k) / f64::from(steps), y0 + s));
    }
    for k in 0..steps {
        ring_px.push((x0, y0 + s - s * f64::from(k) / f64::from(steps)));
    }
    let ring_crs: Vec<(f64, f64)> = ring_px
        .iter()
        .map(|(c, r)| grid.pixel_to_crs(*c, *r))
        .collect();
    let (ax, ay) = grid.pixel_to_crs(x0, y0);
    let (bx, by) = grid.pixel_to_crs(x0 + s, y0 + s);
    let bounds_crs = [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)];
    let mut pts = ring_crs.clone();
    pts.push(grid.pixel_to_crs(x0 + s / 2.0, y0 + s / 2.0));
    let ll = to_wgs84.to_wgs84(&pts)?;
    let centre = ll[ll.len() - 1];
    let mut polygon: Vec<[f64; 2]> = ll[..ll.len() - 1].iter().map(|(x, y)| [*x, *y]).collect();
    if let Some(first) = polygon.first().copied() {
        polygon.push(first);
    }
    Ok(TileRecord {
        scene_id: scene_id.to_string(),
        row: tw.row,
        col: tw.col,
        px_x0: tw.x0,
        px_y0: tw.y0,
        px_width: tw.size,
        px_height: tw.size,
        bounds_crs,
        polygon_wgs84: polygon,
        centre_lonlat: [centre.0, centre.1],
        nodata_fraction,
        cloud_fraction,
        status,
        embedding: None,
    })
}

/// Current UTC time as `YYYY-MM-DDThh:mm:ssZ`.
pub fn utc_now_iso8601() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    iso8601_from_unix(secs)
}

fn iso8601_from_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601() {
        assert_eq!(iso8601_from_unix(0), "1970-01-01T00:00:00Z");
        // date -u -d @1795388800
        assert_eq!(iso8601_from_unix(1_795_388_800), "2026-11-22T23:06:40Z");
        assert_eq!(iso8601_from_unix(951_782_400), "2000-02-29T00:00:00Z");
    }
}
