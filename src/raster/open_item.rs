//! Opening a STAC item as a scene ([`Scene::open`] hands over any `http(s)://` path or
//! local `.json` item): the item's band assets (found by `stac::item`) are a band folder
//! whose files are URLs, opened through GDAL's `/vsicurl/` (headers only: COG tile offsets
//! and overviews), 20 m bands resampled to the finest grid at read time as for band
//! folders, `scl` as the SCL layer for cloud skipping. The radiometry comes from the item:
//! `earthsearch:boa_offset_applied` (where present, the truth), else
//! `s2:processing_baseline`; the `raster:bands` scale gives the quantification. The scene
//! records the item id, datetime and MGRS tile.

use std::path::Path;

use super::bands::BandRole;
use super::error::RasterError;
use super::open::{
    FinishArgs, Found, band_facts, crs_info, dataset_grid, identity, open_dataset, role_order,
    same_crs,
};
use super::radiometry::RadiometryInputs;
use super::safe::ProcessingLevel;
use super::scene::{CrsInfo, Scene, SourceKind};
use crate::jobs::CancelToken;
use crate::stac::item::{self as stac_item, ItemScene, SIGN_ENV};
use crate::stac::{StacError, http::Http};

/// Why GDAL could not open a remote asset, in HTTP terms (status, connection), when a
/// probe of its first byte tells more than GDAL's message.
fn remote_failure(href: &str, gdal_error: RasterError, signing: bool) -> RasterError {
    if !(href.starts_with("http://") || href.starts_with("https://")) {
        return gdal_error;
    }
    let path = Path::new(href).to_path_buf();
    let probe = Http::new().and_then(|h| h.probe_status(href));
    match probe {
        Ok(status) if (200..300).contains(&status) => gdal_error,
        Ok(status @ (401 | 403 | 409)) if !signing => RasterError::Stac {
            path,
            source: StacError::NeedsSigning {
                url: href.to_string(),
                detail: format!(
                    "HTTP {status}; set {SIGN_ENV} to the API's signing endpoint (Planetary \
                     Computer: https://planetarycomputer.microsoft.com/api/sas/v1/sign)"
                ),
            },
        },
        Ok(status) => RasterError::Stac {
            path,
            source: StacError::Status {
                url: href.to_string(),
                status,
                body: String::new(),
            },
        },
        Err(e) => RasterError::Stac { path, source: e },
    }
}

impl Scene {
    pub(super) fn open_stac_item(path: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        let source = path.to_string_lossy().into_owned();
        let stac_err = |e: StacError| RasterError::Stac {
            path: path.to_path_buf(),
            source: e,
        };
        let (item, bytes) = stac_item::load(path).map_err(stac_err)?;
        let sign = std::env::var(SIGN_ENV).ok().filter(|s| !s.is_empty());
        let it = ItemScene::from_item(&item, path, sign.as_deref()).map_err(stac_err)?;
        if it.bands.is_empty() {
            return Err(RasterError::EmptyFolder {
                path: path.to_path_buf(),
                detail: format!(
                    "the STAC item {} has no Sentinel-2 band asset (asset keys: {})",
                    it.id,
                    item.assets.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if sign.is_none()
            && let Some(b) = it
                .bands
                .iter()
                .find(|b| stac_item::looks_unsigned_azure(&b.href))
        {
            log::info!(
                "{}: {} looks like an unsigned Azure blob URL; set {SIGN_ENV} if it fails",
                source,
                b.href
            );
        }
        let mut found: Vec<Found> = Vec::new();
        let mut crs: Option<CrsInfo> = None;
        let mut driver = String::new();
        for b in &it.bands {
            cancel.check()?;
            // errors name the URL, or the local file exactly
            let remote = b.href.starts_with("http://") || b.href.starts_with("https://");
            let fpath = if remote {
                Path::new(&b.href)
            } else {
                b.gdal_path.as_path()
            };
            let ds = open_dataset(fpath, &b.gdal_path)
                .map_err(|e| remote_failure(&b.href, e, sign.is_some()))?;
            let c = crs_info(&ds, fpath, "band asset without projection")?;
            match &crs {
                None => crs = Some(c),
                Some(first) if !same_crs(first, &c) => {
                    return Err(RasterError::Unsupported {
                        path: fpath.to_path_buf(),
                        reason: format!(
                            "its CRS ({}) differs from the item's other bands ({})",
                            c.name, first.name
                        ),
                    });
                }
                Some(_) => {}
            }
            let grid = dataset_grid(&ds, fpath)?;
            if driver.is_empty() {
                driver = ds.driver().short_name();
            }
            found.push(Found {
                role: b.role,
                identified_by: b.identified_by.clone(),
                ..band_facts(&ds, 1, fpath, &b.gdal_path, grid)?
            });
        }
        let Some(crs) = crs else {
            return Err(RasterError::EmptyFolder {
                path: path.to_path_buf(),
                detail: "no band asset".into(),
            });
        };
        found.sort_by_key(|f| role_order(f.role));
        let grid = found
            .iter()
            .min_by(|a, b| a.grid.resolution().total_cmp(&b.grid.resolution()))
            .map(|f| f.grid)
            .ok_or_else(|| RasterError::EmptyFolder {
                path: path.to_path_buf(),
                detail: "no band asset".into(),
            })?;

        // Radiometry from the item's properties.
        let mut evidence = RadiometryInputs {
            quantification: match (it.scale, it.is_l2a()) {
                (Some(s), _) if s > 0.0 => Some((1.0 / s).round()),
                (None, Some(_)) => Some(10000.0),
                _ => None,
            },
            ..Default::default()
        };
        if let Some(applied) = it.boa_offset_applied {
            evidence.metadata_offset = Some(if applied {
                (
                    0.0,
                    "the STAC item (earthsearch:boa_offset_applied = true: the offset is \
                     already removed, whatever raster:bands lists)"
                        .to_string(),
                )
            } else {
                let off = match it
                    .baseline
                    .as_deref()
                    .and_then(super::safe::baseline_has_offset)
                {
                    Some(true) => -1000.0,
                    _ => 0.0,
                };
                (
                    off,
                    format!(
                        "the STAC item (earthsearch:boa_offset_applied = false, processing \
                         baseline {})",
                        it.baseline.as_deref().unwrap_or("unknown")
                    ),
                )
            });
        }
        if let Some(b) = &it.baseline {
            evidence.baseline = Some((b.clone(), "the STAC item's s2:processing_baseline".into()));
        }
        let roles: Vec<BandRole> = found.iter().map(|f| f.role).collect();
        let (level, level_reason) = match it.is_l2a() {
            Some(true) => (
                ProcessingLevel::L2A,
                format!(
                    "the STAC item's {}",
                    if it.product_type.is_some() {
                        "s2:product_type"
                    } else {
                        "collection"
                    }
                ),
            ),
            Some(false) => (ProcessingLevel::L1C, "the STAC item's collection".into()),
            None => super::safe::level_decision(path, &roles, true),
        };
        let mut notes = it.notes.clone();
        if let Some(c) = it.cloud_cover {
            notes.push(format!("STAC item {}: cloud cover {c} %", it.id));
        }
        let mut extra = bytes;
        extra.extend_from_slice(it.id.as_bytes());
        let ident = identity(&it.id, &[], &extra);
        let mut scene = Self::finish(FinishArgs {
            path,
            name: it.id.clone(),
            kind: SourceKind::StacItem,
            driver,
            grid,
            crs,
            found,
            confirmed: true,
            md: Some((
                level,
                level_reason,
                it.baseline.clone(),
                it.datetime.clone(),
            )),
            evidence,
            identity: ident,
            notes,
            cancel,
        })?;
        scene.info.product_id = Some(it.id.clone());
        if it.mgrs_tile.is_some() {
            scene.info.mgrs_tile = it.mgrs_tile.clone();
        }
        Ok(scene)
    }
}
