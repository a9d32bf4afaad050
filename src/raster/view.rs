//! The render pipeline of a scene shown on the map, without egui: the layer's style, the
//! first composite a scene can show, the whole-scene sample the stretches and histograms
//! come from, the pixel sizes of the overview and of a view of the visible part, and the
//! render itself (stretches and histograms from the sample, then a Web Mercator read of
//! the composite's bands coloured to RGBA).
//!
//! Threads: [`sample`] and [`render`] read through GDAL and block; run them on a worker
//! (the viewer's `ui::scene_layer` does, and only uploads the images as textures). The
//! rest is pure computation on plain data.

use serde::{Deserialize, Serialize};

use super::bands::BandRole;
use super::error::RasterError;
use super::georef::Bounds;
use super::read::{BandStack, Resampling};
use super::render::{self, Composite, CompositeError, Preset, RgbaImage, SpectralIndex};
use super::scene::{BandInfo, Scene};
use super::stretch::{ChannelStats, ChannelStretch, Histogram, StretchMethod};
use crate::jobs::CancelToken;

/// Longest side of the whole-scene sample used for statistics.
pub const SAMPLE_SIDE: usize = 512;
/// Longest side of the whole-scene overview.
pub const OVERVIEW_SIDE: usize = 1024;
/// Longest side of a render of the visible part.
pub const VIEW_MAX_SIDE: usize = 2048;
/// Bins of the panel's histograms.
const HISTOGRAM_BINS: usize = 128;

/// How a layer is styled (what the renders depend on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerStyle {
    pub composite: Composite,
    pub method: StretchMethod,
    pub gamma: f32,
    /// Stretch from the pixels of this Web Mercator area ("stretch to view") instead of
    /// the whole-scene sample.
    #[serde(default)]
    pub stretch_area: Option<Bounds>,
}

impl Default for LayerStyle {
    fn default() -> Self {
        Self {
            composite: Composite::Preset {
                preset: Preset::TrueColor,
            },
            method: StretchMethod::default(),
            gamma: 1.0,
            stretch_area: None,
        }
    }
}

/// One channel's histogram with the stretch cut applied to it.
#[derive(Debug, Clone)]
pub struct ChannelHistogram {
    pub label: String,
    pub histogram: Histogram,
    pub stretch: Option<ChannelStretch>,
}

/// What a render produces: the style it was made for, the sample's histograms (when
/// asked for) and one image per target.
pub struct RenderOutput {
    pub style: LayerStyle,
    pub histograms: Vec<ChannelHistogram>,
    pub images: Vec<(Bounds, RgbaImage)>,
}

/// Why a render failed: the composite cannot be shown, or the read failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Composite(#[from] CompositeError),
    #[error(transparent)]
    Raster(#[from] RasterError),
}

/// The first composite a scene with these band roles can show: true colour, else any
/// preset, else an index, else the first three bands.
pub fn default_composite(roles: &[BandRole]) -> Composite {
    let candidates = Preset::ALL
        .iter()
        .map(|p| Composite::Preset { preset: *p })
        .chain(
            SpectralIndex::ALL
                .iter()
                .map(|i| Composite::Index { index: *i }),
        );
    for c in candidates {
        if c.bands(roles).is_ok() {
            return c;
        }
    }
    let n = roles.len();
    Composite::Custom {
        rgb: [0, 1.min(n.saturating_sub(1)), 2.min(n.saturating_sub(1))],
    }
}

/// The decimated whole-scene sample of every band (at most [`SAMPLE_SIDE`] px on a
/// side, never a full read) that stretches and histograms are computed from.
pub fn sample(scene: &Scene, cancel: &CancelToken) -> Result<BandStack, RasterError> {
    let bands: Vec<usize> = (0..scene.bands().len()).collect();
    scene.sample(&bands, SAMPLE_SIDE, cancel)
}

/// The overview of a scene: its whole Web Mercator extent with the long side at
/// [`OVERVIEW_SIDE`] px.
pub fn overview_target(bounds_3857: Bounds) -> (Bounds, usize, usize) {
    let (w, h) = fit(bounds_3857.width(), bounds_3857.height(), OVERVIEW_SIDE);
    (bounds_3857, w, h)
}

/// What a scene needs for the visible part of the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ViewNeed {
    /// The visible rectangle misses the scene.
    Outside,
    /// The overview is sharp enough (the whole scene fits in it on screen), or the
    /// visible part is under 2 px.
    Overview,
    /// A render of the visible part of the scene (Web Mercator) at this pixel size
    /// (its size on screen, the long side at most [`VIEW_MAX_SIDE`]).
    Part(Bounds, usize, usize),
}

/// What a scene with Web Mercator bounds `scene_3857` needs when the map shows
/// `visible` (Web Mercator) at `screen_w × screen_h` physical pixels.
pub fn view_need(scene_3857: Bounds, visible: Bounds, screen_w: f32, screen_h: f32) -> ViewNeed {
    let Some(part) = scene_3857.intersection(&visible) else {
        return ViewNeed::Outside;
    };
    // Size of the visible part on screen, in physical pixels.
    let w = (f64::from(screen_w) * part.width() / visible.width()).round() as usize;
    let h = (f64::from(screen_h) * part.height() / visible.height()).round() as usize;
    // The overview is sharp enough while the whole scene fits in it.
    let scene_px = f64::from(screen_w) * scene_3857.width() / visible.width();
    if scene_px <= OVERVIEW_SIDE as f64 * 1.1 || w < 2 || h < 2 {
        return ViewNeed::Overview;
    }
    let (w, h) = fit_box(w, h, VIEW_MAX_SIDE);
    ViewNeed::Part(part, w, h)
}

/// Pixel size of a `w × h` (map units) rectangle with its long side at `side`.
fn fit(w: f64, h: f64, side: usize) -> (usize, usize) {
    if w >= h {
        (side, ((side as f64 * h / w).round() as usize).max(1))
    } else {
        (((side as f64 * w / h).round() as usize).max(1), side)
    }
}

/// `w × h` px, shrunk (keeping the aspect) to fit `max_side`.
fn fit_box(w: usize, h: usize, max_side: usize) -> (usize, usize) {
    if w.max(h) <= max_side {
        (w, h)
    } else {
        fit(w as f64, h as f64, max_side)
    }
}

/// Histograms of the whole-scene sample for the panel: one per display channel (scene
/// bands `bands` of `band_info`) with its stretch cut for RGB composites, the index
/// values for an index, none for SCL.
pub fn histograms(
    band_info: &[BandInfo],
    sample: &BandStack,
    composite: &Composite,
    bands: &[usize],
    stretches: Option<&[ChannelStretch; 3]>,
) -> Vec<ChannelHistogram> {
    match composite {
        Composite::Scl => Vec::new(),
        Composite::Index { index } => {
            let (Some(a), Some(b)) = (
                sample.band_of_scene_index(bands[0]),
                sample.band_of_scene_index(bands[1]),
            ) else {
                return Vec::new();
            };
            vec![ChannelHistogram {
                label: index.name().to_string(),
                histogram: Histogram::compute(
                    &index.compute(a, b),
                    HISTOGRAM_BINS,
                    Some((-1.0, 1.0)),
                ),
                stretch: None,
            }]
        }
        Composite::Preset { .. } | Composite::Custom { .. } => bands
            .iter()
            .enumerate()
            .filter_map(|(c, &b)| {
                let values = sample.band_of_scene_index(b)?;
                let st = ChannelStats::from_values(values);
                Some(ChannelHistogram {
                    label: band_info.get(b)?.display_name(),
                    histogram: Histogram::compute(
                        values,
                        HISTOGRAM_BINS,
                        Some((st.percentile(0.5), st.percentile(99.5))),
                    ),
                    stretch: stretches.map(|s| s[c]),
                })
            })
            .collect(),
    }
}

/// Stretches and (with `with_histograms`) histograms from the whole-scene `sample`, then
/// each target (Web Mercator bounds, width, height) reprojected and coloured. SCL is
/// resampled nearest, everything else bilinear.
pub fn render(
    scene: &Scene,
    sample: &BandStack,
    style: &LayerStyle,
    targets: &[(Bounds, usize, usize)],
    with_histograms: bool,
    cancel: &CancelToken,
) -> Result<RenderOutput, ViewError> {
    let bands = style.composite.bands(&scene.roles())?;
    // stretch to view: the statistics of the area's pixels (a sample-sized read of it)
    let area_sample = match (&style.stretch_area, &style.composite) {
        (Some(area), Composite::Preset { .. } | Composite::Custom { .. }) => {
            let (w, h) = fit(area.width(), area.height(), SAMPLE_SIDE);
            Some(scene.read_web_mercator(&bands, *area, w, h, Resampling::Bilinear, cancel)?)
        }
        _ => None,
    };
    let stats = area_sample.as_ref().unwrap_or(sample);
    let stretches = render::auto_stretch(stats, &style.composite, style.method, style.gamma)?;
    let mut histograms = Vec::new();
    if with_histograms {
        histograms = self::histograms(
            scene.bands(),
            stats,
            &style.composite,
            &bands,
            stretches.as_ref(),
        );
    }
    let resampling = if matches!(style.composite, Composite::Scl) {
        Resampling::Nearest
    } else {
        Resampling::Bilinear
    };
    let mut images = Vec::new();
    for &(b, w, h) in targets {
        let stack = scene.read_web_mercator(&bands, b, w, h, resampling, cancel)?;
        let img = render::render(&stack, &style.composite, stretches.as_ref())?;
        images.push((b, img));
    }
    Ok(RenderOutput {
        style: style.clone(),
        histograms,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::bands::S2Band;
    use crate::raster::georef::Grid;

    fn spectral(bands: &[S2Band]) -> Vec<BandRole> {
        bands.iter().map(|b| BandRole::Spectral(*b)).collect()
    }

    fn band_info(role: BandRole) -> BandInfo {
        BandInfo {
            role,
            identified_by: String::new(),
            description: String::new(),
            source: std::path::PathBuf::new(),
            source_band: 1,
            grid: Grid {
                width: 1,
                height: 1,
                geo_transform: [0.0, 10.0, 0.0, 0.0, 0.0, -10.0],
            },
            resolution_m: 10.0,
            data_type: "UInt16".into(),
            nodata: None,
            gdal_scale: None,
            gdal_offset: None,
            gain: 1.0,
            offset: 0.0,
            zero_is_nodata: true,
            overviews: 0,
            arbitrary_overviews: false,
            jp2: false,
        }
    }

    /// A one-row stack of every band of a scene with these roles; plane `i` holds
    /// `plane(i)`.
    fn stack(roles: &[BandRole], plane: impl Fn(usize) -> Vec<f32>) -> BandStack {
        let planes: Vec<Vec<f32>> = (0..roles.len()).map(plane).collect();
        BandStack {
            width: planes[0].len(),
            height: 1,
            bands: (0..roles.len()).collect(),
            scene_roles: roles.to_vec(),
            data: planes.concat(),
            geo_transform: [0.0; 6],
            crs_wkt: String::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn default_composite_prefers_true_colour_then_presets_then_indices() {
        use S2Band::*;
        let preset = |preset| Composite::Preset { preset };
        assert_eq!(
            default_composite(&spectral(&S2Band::L2A_12)),
            preset(Preset::TrueColor)
        );
        // No B02 and no B08: neither true nor false colour; SWIR (B12, B8A, B04) is next.
        assert_eq!(
            default_composite(&spectral(&[B03, B04, B05, B8A, B11, B12])),
            preset(Preset::Swir)
        );
        // No preset fits B03, B04, B11 (and no B08 for NDVI/NDWI, no B8A for NDMI): NDSI.
        assert_eq!(
            default_composite(&spectral(&[B03, B04, B11])),
            Composite::Index {
                index: SpectralIndex::Ndsi
            }
        );
        // Nothing identified: the first three bands, or the only one.
        assert_eq!(
            default_composite(&[BandRole::Other; 4]),
            Composite::Custom { rgb: [0, 1, 2] }
        );
        assert_eq!(
            default_composite(&[BandRole::Other]),
            Composite::Custom { rgb: [0, 0, 0] }
        );
    }

    #[test]
    fn stretch_and_histograms_of_a_sample() {
        use S2Band::*;
        let roles = spectral(&[B02, B03, B04]);
        let info: Vec<BandInfo> = roles.iter().map(|r| band_info(*r)).collect();
        // Band i: 1000·i + 0, 1, …, 100, then one nodata pixel.
        let sample = stack(&roles, |i| {
            (0..=100)
                .map(|v| (1000 * i + v) as f32)
                .chain([f32::NAN])
                .collect()
        });
        let style = LayerStyle {
            gamma: 1.5,
            ..LayerStyle::default()
        };
        let st = render::auto_stretch(&sample, &style.composite, style.method, style.gamma)
            .unwrap()
            .unwrap();
        // 2–98 % of R = B04 (2000–2100), G = B03, B = B02.
        let cut = |min, max| ChannelStretch {
            min,
            max,
            gamma: 1.5,
        };
        assert_eq!(
            st,
            [cut(2002.0, 2098.0), cut(1002.0, 1098.0), cut(2.0, 98.0)]
        );

        let bands = style.composite.bands(&roles).unwrap();
        assert_eq!(bands, [2, 1, 0]);
        let h = histograms(&info, &sample, &style.composite, &bands, Some(&st));
        let labels: Vec<&str> = h.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["B04 (red)", "B03 (green)", "B02 (blue)"]);
        // Over the 0.5–99.5 % range: the two end values fall outside, NaN is nodata.
        let red = &h[0];
        assert_eq!((red.histogram.min, red.histogram.max), (2000.5, 2099.5));
        assert_eq!(red.histogram.counts.len(), 128);
        assert_eq!(red.histogram.counts.iter().sum::<u64>(), 99);
        assert_eq!((red.histogram.outside, red.histogram.nodata), (2, 1));
        assert_eq!(red.stretch, Some(st[0]));
        assert_eq!(h[2].stretch, Some(st[2]));

        // SCL has no histogram.
        assert!(histograms(&info, &sample, &Composite::Scl, &[0], None).is_empty());
    }

    #[test]
    fn index_histogram_spans_minus_one_to_one() {
        use S2Band::*;
        let roles = spectral(&[B04, B08]);
        let info: Vec<BandInfo> = roles.iter().map(|r| band_info(*r)).collect();
        // NDVI (3000 − 1000) / (3000 + 1000) = 0.5 on 10 pixels, one nodata pixel.
        let sample = stack(&roles, |i| {
            let v = if i == 0 { 1000.0 } else { 3000.0 };
            [vec![v; 10], vec![f32::NAN]].concat()
        });
        let ndvi = Composite::Index {
            index: SpectralIndex::Ndvi,
        };
        assert_eq!(
            render::auto_stretch(&sample, &ndvi, StretchMethod::MinMax, 1.0),
            Ok(None)
        );
        let bands = ndvi.bands(&roles).unwrap();
        let h = histograms(&info, &sample, &ndvi, &bands, None);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].label, "NDVI");
        assert_eq!((h[0].histogram.min, h[0].histogram.max), (-1.0, 1.0));
        // 0.5 lies in bin (0.5 + 1) / 2 × 128 = 96.
        assert_eq!(h[0].histogram.counts[96], 10);
        assert_eq!(h[0].histogram.nodata, 1);
        assert!(h[0].stretch.is_none());
    }

    #[test]
    fn overview_and_view_sizes() {
        let scene = Bounds::new(0.0, 0.0, 1000.0, 500.0);
        assert_eq!(overview_target(scene), (scene, 1024, 512));
        let tall = Bounds::new(0.0, 0.0, 300.0, 1000.0);
        assert_eq!(overview_target(tall), (tall, 307, 1024));

        // The whole scene on 800 px: the overview is sharp enough.
        assert_eq!(view_need(scene, scene, 800.0, 400.0), ViewNeed::Overview);
        // Elsewhere on the map.
        let away = Bounds::new(2000.0, 0.0, 3000.0, 500.0);
        assert_eq!(view_need(scene, away, 800.0, 400.0), ViewNeed::Outside);
        // Zoomed into a tenth of the width: the visible part at screen size.
        let zoomed = Bounds::new(0.0, 0.0, 100.0, 50.0);
        assert_eq!(
            view_need(scene, zoomed, 1000.0, 500.0),
            ViewNeed::Part(zoomed, 1000, 500)
        );
        // Half of the view past the scene's west edge: only the part over the scene.
        let edge = Bounds::new(-100.0, 0.0, 100.0, 100.0);
        assert_eq!(
            view_need(scene, edge, 1000.0, 500.0),
            ViewNeed::Part(Bounds::new(0.0, 0.0, 100.0, 100.0), 500, 500)
        );
        // A huge screen: capped at VIEW_MAX_SIDE, keeping the aspect.
        assert_eq!(
            view_need(scene, zoomed, 6000.0, 3000.0),
            ViewNeed::Part(zoomed, VIEW_MAX_SIDE, VIEW_MAX_SIDE / 2)
        );
    }

    /// A 40 × 40 px, 10 m UTM 33N GeoTIFF whose bands are described as B02, B03, B04 and
    /// hold 3000, 750 and 1500 everywhere.
    fn write_rgb_tif(path: &std::path::Path) {
        use gdal::Metadata as _;
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = drv
            .create_with_band_type::<u16, _>(path, 40, 40, 3)
            .unwrap();
        ds.set_geo_transform(&[500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0])
            .unwrap();
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
            .unwrap();
        for (i, (name, value)) in [("B02", 3000u16), ("B03", 750), ("B04", 1500)]
            .into_iter()
            .enumerate()
        {
            let mut rb = ds.rasterband(i + 1).unwrap();
            rb.set_description(name).unwrap();
            let mut buf = gdal::raster::Buffer::new((40, 40), vec![value; 40 * 40]);
            rb.write((0, 0), (40, 40), &mut buf).unwrap();
        }
    }

    #[test]
    fn renders_the_overview_of_a_scene() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgb.tif");
        write_rgb_tif(&path);
        let cancel = CancelToken::new();
        let scene = Scene::open(&path, &cancel).unwrap();
        assert_eq!(
            default_composite(&scene.roles()),
            Composite::Preset {
                preset: Preset::TrueColor
            }
        );
        let sample = sample(&scene, &cancel).unwrap();
        assert_eq!((sample.width, sample.height), (40, 40));
        let style = LayerStyle {
            method: StretchMethod::Fixed {
                min: 0.0,
                max: 3000.0,
            },
            ..LayerStyle::default()
        };
        let target = overview_target(scene.info().bounds_3857);
        assert_eq!(target.1.max(target.2), OVERVIEW_SIDE);
        let out = render(&scene, &sample, &style, &[target], true, &cancel).unwrap();
        assert_eq!(out.style, style);
        // One histogram per display channel; a constant band fills its first bin.
        let labels: Vec<&str> = out.histograms.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["B04 (red)", "B03 (green)", "B02 (blue)"]);
        assert_eq!(out.histograms[0].histogram.counts[0], 1600);
        // 0–3000 DN: R 1500 → 128, G 750 → 64, B 3000 → 255, in the middle of the image.
        let (bounds, img) = &out.images[0];
        assert_eq!(*bounds, target.0);
        assert_eq!((img.width, img.height), (target.1, target.2));
        let mid = ((img.height / 2) * img.width + img.width / 2) * 4;
        assert_eq!(&img.rgba[mid..mid + 4], &[128, 64, 255, 255]);
        // An index the scene lacks the bands for fails with the reason.
        let ndvi = LayerStyle {
            composite: Composite::Index {
                index: SpectralIndex::Ndvi,
            },
            ..style
        };
        let e = render(&scene, &sample, &ndvi, &[target], false, &cancel).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("needs B08 (band), which the scene does not have")
        );
    }
}
