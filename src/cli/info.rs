//! `kestrel info FILE [--json]`: what Kestrel makes of a scene — driver, size, CRS (EPSG
//! and WKT), bounds in the scene CRS and in WGS84, each band's Sentinel-2 name,
//! resolution, data type, nodata, GDAL scale/offset and the transform Kestrel applies,
//! the processing level, and the radiometric decision with its reason.
//!
//! # JSON (`--json`): one object, stable keys
//! - `kestrel_info_version` (1), `path`, `name`, `source_kind` (`file` | `safe` | `stac_item` |
//!   `band_folder`), `driver` (GDAL short name), `identity` (cache key);
//! - `width`, `height`, `resolution_m`, `geo_transform` (6 numbers): the reference grid
//!   (finest band);
//! - `crs`: `{epsg: int|null, name, wkt}`;
//! - `bounds`, `bounds_wgs84`, `bounds_3857`: `{min_x, min_y, max_x, max_y}` (WGS84 in
//!   degrees lon/lat);
//! - `level` (`L1C` | `L2A` | `unknown`), `level_reason`, `baseline` (`"05.09"`|null),
//!   `sensing_time` (string|null);
//! - `radiometry`: `{scale_to_10000, scale_evidence, offset, offset_evidence,
//!   zero_is_nodata, reason}`; evidence is one of `gdal_scale_offset`, `metadata`,
//!   `product_name`, `detected`, `default`, `user`;
//! - `bands_confirmed` (false: roles are a guess or unknown);
//! - `bands`: array of `{index (1-based), role (B01..B12, B8A, SCL, CLD, SNW, other),
//!   name, description, identified_by, wavelength_nm|null, resolution_m, width, height,
//!   data_type, nodata (number, "nan" or null), gdal_scale|null, gdal_offset|null,
//!   kestrel_gain, kestrel_offset, zero_is_nodata, source, source_band}`; Kestrel
//!   computes `raw × kestrel_gain + kestrel_offset` = reflectance × 10000 for spectral
//!   bands;
//! - `notes`: array of strings.

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::{Value, json};

use super::InfoArgs;
use crate::jobs::CancelToken;
use crate::raster::{
    Bounds, Preset, ProcessingLevel, ReadRequest, Resampling, S2Band, Scene, SceneInfo, SourceKind,
    Window,
};

fn bounds_json(b: &Bounds) -> Value {
    json!({"min_x": b.min_x, "min_y": b.min_y, "max_x": b.max_x, "max_y": b.max_y})
}

fn num_or_nan(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_nan() => json!("nan"),
        Some(x) => json!(x),
        None => Value::Null,
    }
}

/// The documented JSON object for a scene.
pub fn info_json(info: &SceneInfo) -> Value {
    let bands: Vec<Value> = info
        .bands
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({
                "index": i + 1,
                "role": b.role.label(),
                "name": b.display_name(),
                "description": b.description,
                "identified_by": b.identified_by,
                "wavelength_nm": b.role.spectral().map(|s| s.wavelength_nm()),
                "resolution_m": b.resolution_m,
                "width": b.grid.width,
                "height": b.grid.height,
                "data_type": b.data_type,
                "nodata": num_or_nan(b.nodata),
                "gdal_scale": b.gdal_scale,
                "gdal_offset": b.gdal_offset,
                "kestrel_gain": b.gain,
                "kestrel_offset": b.offset,
                "zero_is_nodata": b.zero_is_nodata,
                "source": b.source,
                "source_band": b.source_band,
            })
        })
        .collect();
    json!({
        "kestrel_info_version": 1,
        "path": info.path.display().to_string(),
        "name": info.name,
        "source_kind": match info.source_kind {
            SourceKind::File => "file",
            SourceKind::Safe => "safe",
            SourceKind::BandFolder => "band_folder",
            SourceKind::StacItem => "stac_item",
        },
        "driver": info.driver,
        "identity": info.identity,
        "width": info.grid.width,
        "height": info.grid.height,
        "resolution_m": info.grid.resolution(),
        "geo_transform": info.grid.geo_transform,
        "crs": {"epsg": info.crs.epsg, "name": info.crs.name, "wkt": info.crs.wkt},
        "bounds": bounds_json(&info.bounds),
        "bounds_wgs84": bounds_json(&info.bounds_wgs84),
        "bounds_3857": bounds_json(&info.bounds_3857),
        "level": info.level.label(),
        "level_reason": info.level_reason,
        "baseline": info.baseline,
        "sensing_time": info.sensing_time,
        "radiometry": serde_json::to_value(&info.radiometry).unwrap_or(Value::Null),
        "bands_confirmed": info.bands_confirmed,
        "bands": bands,
        "notes": info.notes,
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_nan() => "NaN".into(),
        Some(x) => format!("{x}"),
        None => "-".into(),
    }
}

/// The human-readable report.
pub fn info_text(info: &SceneInfo) -> String {
    let mut s = String::new();
    let kind = match info.source_kind {
        SourceKind::File => "raster file",
        SourceKind::Safe => "SAFE product",
        SourceKind::BandFolder => "folder of band files",
        SourceKind::StacItem => "STAC item",
    };
    let g = &info.grid;
    let _ = writeln!(s, "File:       {}", info.path.display());
    let _ = writeln!(s, "Name:       {}", info.name);
    let _ = writeln!(s, "Source:     {kind}, GDAL driver {}", info.driver);
    let _ = writeln!(
        s,
        "Size:       {} x {} px at {} m (reference grid, finest band)",
        g.width,
        g.height,
        g.resolution()
    );
    let epsg = info
        .crs
        .epsg
        .map_or_else(|| "no EPSG code".to_string(), |e| format!("EPSG:{e}"));
    let _ = writeln!(s, "CRS:        {epsg} ({})", info.crs.name);
    let b = &info.bounds;
    let _ = writeln!(
        s,
        "Bounds:     x {:.3} .. {:.3}, y {:.3} .. {:.3} (scene CRS)",
        b.min_x, b.max_x, b.min_y, b.max_y
    );
    let w = &info.bounds_wgs84;
    let _ = writeln!(
        s,
        "WGS84:      lon {:.6} .. {:.6}, lat {:.6} .. {:.6}",
        w.min_x, w.max_x, w.min_y, w.max_y
    );
    let level = match info.level {
        ProcessingLevel::Unknown => "unknown".to_string(),
        l => l.label().to_string(),
    };
    let _ = writeln!(s, "Level:      {level} ({})", info.level_reason);
    if let Some(bl) = &info.baseline {
        let _ = writeln!(s, "Baseline:   {bl}");
    }
    let r = &info.radiometry;
    let _ = writeln!(
        s,
        "Radiometry: reflectance x 10000 = raw x {} {} {}",
        r.scale_to_10000,
        if r.offset < 0.0 { "-" } else { "+" },
        r.offset.abs()
    );
    let _ = writeln!(s, "  why:      {}", r.reason);
    let _ = writeln!(
        s,
        "Bands ({}{}):",
        info.bands.len(),
        if info.bands_confirmed {
            ""
        } else {
            ", NOT CONFIRMED: assign them if wrong"
        }
    );
    let _ = writeln!(
        s,
        "  {:>2}  {:<6} {:>6}  {:<8} {:>6}  {:>7}  {:>7}  {:<22}  identified by",
        "#", "band", "res m", "type", "nodata", "scale", "offset", "Kestrel applies"
    );
    for (i, b) in info.bands.iter().enumerate() {
        let applies = if b.role.spectral().is_some() {
            format!(
                "x{} {}{}{}",
                b.gain,
                if b.offset < 0.0 { "-" } else { "+" },
                b.offset.abs(),
                if b.zero_is_nodata { ", 0=nodata" } else { "" }
            )
        } else {
            "raw".to_string()
        };
        let _ = writeln!(
            s,
            "  {:>2}  {:<6} {:>6}  {:<8} {:>6}  {:>7}  {:>7}  {:<22}  {}",
            i + 1,
            b.role.label(),
            b.resolution_m,
            b.data_type,
            fmt_opt(b.nodata),
            fmt_opt(b.gdal_scale),
            fmt_opt(b.gdal_offset),
            applies,
            b.identified_by
        );
    }
    for n in &info.notes {
        let _ = writeln!(s, "Note:       {n}");
    }
    let _ = writeln!(s, "Identity:   {}", info.identity);
    let _ = writeln!(s, "WKT:\n{}", info.crs.wkt);
    s
}

/// Time the reads the viewer and the model pipeline make (`--bench`), on stderr.
fn bench(scene: &Scene, open_secs: f64) -> anyhow::Result<()> {
    let c = CancelToken::new();
    let info = scene.info();
    let roles = scene.roles();
    let rgb: Vec<usize> = Preset::TrueColor
        .available(&roles)
        .map(|b| b.to_vec())
        .unwrap_or_else(|_| (0..info.bands.len().min(3)).collect());
    let m = info.bounds_3857;
    let (w, h) = if m.width() >= m.height() {
        (
            1024,
            ((1024.0 * m.height() / m.width()).round() as usize).max(1),
        )
    } else {
        (
            ((1024.0 * m.width() / m.height()).round() as usize).max(1),
            1024,
        )
    };
    let t = Instant::now();
    let p = scene.read_web_mercator(&rgb, m, w, h, Resampling::Bilinear, &c)?;
    let preview = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = scene.sample(&rgb, 512, &c)?;
    let sample = t.elapsed().as_secs_f64();
    let g = &info.grid;
    let tile_bands = scene
        .require_bands(&S2Band::MSCLIP_10)
        .unwrap_or_else(|_| (0..info.bands.len()).collect());
    let win = Window::new(
        (g.width as i64 - 224).max(0) / 2,
        (g.height as i64 - 224).max(0) / 2,
        224,
        224,
    );
    let reader = scene.reader();
    let t = Instant::now();
    reader.read(&ReadRequest::full_resolution(tile_bands.clone(), win), &c)?;
    let tile_first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    reader.read(&ReadRequest::full_resolution(tile_bands.clone(), win), &c)?;
    let tile = t.elapsed().as_secs_f64();
    let src_mpx = (g.width * g.height) as f64 / 1e6;
    eprintln!("bench {}:", info.name);
    eprintln!("  open                          {open_secs:8.3} s");
    eprintln!(
        "  preview {w}x{h} ({} bands, 3857) {preview:8.3} s  ({:.1} source Mpx/s per band, \
         {:.0} % with data, notes: {:?})",
        rgb.len(),
        src_mpx / preview.max(1e-9),
        100.0 * (1.0 - p.nodata_fraction()),
        p.notes
    );
    eprintln!(
        "  histogram sample {}x{}        {sample:8.3} s",
        s.width, s.height
    );
    eprintln!(
        "  224 px tile, {} bands           {tile_first:8.3} s first, {tile:.3} s with open datasets",
        tile_bands.len()
    );
    eprintln!(
        "  ratio preview/open {:.1}, tile/preview {:.3}",
        preview / open_secs.max(1e-9),
        tile / preview.max(1e-9)
    );
    Ok(())
}

/// Run `kestrel info`.
pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    // RasterError already names the file and the problem.
    let t = Instant::now();
    let scene = super::common::open_scene(&args.file, &CancelToken::new(), false)?;
    let open_secs = t.elapsed().as_secs_f64();
    if args.bench {
        bench(&scene, open_secs)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info_json(scene.info()))?
        );
    } else {
        print!("{}", info_text(scene.info()));
    }
    Ok(())
}
