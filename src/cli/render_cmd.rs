//! `kestrel render`: a scene drawn as the viewer draws it (band combination or index,
//! the layer stretch from the whole-scene sample, gamma) into Web Mercator, written as a
//! georeferenced GeoTIFF or PNG with the same writer as the viewer's *Export map view*.
//! The area is the scene's extent or a lon/lat box; the width is in pixels.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::export::view_image::{ImageFormat, write_view_image};
use crate::jobs::CancelToken;
use crate::raster::view::{self, LayerStyle};
use crate::raster::{Bounds, Composite, Preset, SpectralIndex};

/// The band combinations and indices, as the viewer lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompositeArg {
    TrueColour,
    FalseColour,
    Swir,
    Agriculture,
    Geology,
    Urban,
    Bathymetric,
    Ndvi,
    Ndwi,
    Ndmi,
    Ndsi,
    Scl,
}

impl CompositeArg {
    pub fn composite(self) -> Composite {
        let p = |preset| Composite::Preset { preset };
        let i = |index| Composite::Index { index };
        match self {
            CompositeArg::TrueColour => p(Preset::TrueColor),
            CompositeArg::FalseColour => p(Preset::FalseColor),
            CompositeArg::Swir => p(Preset::Swir),
            CompositeArg::Agriculture => p(Preset::Agriculture),
            CompositeArg::Geology => p(Preset::Geology),
            CompositeArg::Urban => p(Preset::Urban),
            CompositeArg::Bathymetric => p(Preset::Bathymetric),
            CompositeArg::Ndvi => i(SpectralIndex::Ndvi),
            CompositeArg::Ndwi => i(SpectralIndex::Ndwi),
            CompositeArg::Ndmi => i(SpectralIndex::Ndmi),
            CompositeArg::Ndsi => i(SpectralIndex::Ndsi),
            CompositeArg::Scl => Composite::Scl,
        }
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The scene (any input `info` takes).
    pub scene: PathBuf,
    /// The picture to write: `.tif` (GeoTIFF, EPSG:3857) or `.png` (with a world file).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = CompositeArg::TrueColour)]
    pub composite: CompositeArg,
    /// Area W,S,E,N in degrees (default: the whole scene).
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Width of the picture in pixels (the height follows the area).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub width: u32,
    /// Display gamma.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f32,
}

pub fn run(a: &RenderArgs) -> anyhow::Result<()> {
    let format = ImageFormat::from_path(&a.out).with_context(|| {
        format!(
            "{}: the picture's name must end in .tif, .tiff or .png",
            a.out.display()
        )
    })?;
    if !(a.gamma.is_finite() && a.gamma > 0.0) {
        anyhow::bail!("--gamma {}: must be a positive number", a.gamma);
    }
    let cancel = CancelToken::new();
    let scene = super::common::open_scene(&a.scene, &cancel, false)?;
    let area = match &a.bbox {
        Some(text) => {
            let [w, s, e, n] = crate::stac::parse_bbox(text)?;
            Bounds::web_mercator_of_lonlat(w, s, e, n)
        }
        None => scene.info().bounds_3857,
    };
    let width = a.width as usize;
    let height = ((area.height() / area.width().max(1e-9)) * width as f64)
        .round()
        .clamp(1.0, 16384.0) as usize;
    let style = LayerStyle {
        composite: a.composite.composite(),
        gamma: a.gamma,
        ..LayerStyle::default()
    };
    let sample = view::sample(&scene, &cancel)?;
    let out = view::render(
        &scene,
        &sample,
        &style,
        &[(area, width, height)],
        false,
        &cancel,
    )
    .with_context(|| format!("cannot render {}", a.scene.display()))?;
    let (_, img) = out
        .images
        .into_iter()
        .next()
        .context("the render produced no picture")?;
    write_view_image(&a.out, &img.rgba, img.width, img.height, &area, format)?;
    eprintln!(
        "{} x {} px ({}) written to {}",
        img.width,
        img.height,
        format.extension(),
        a.out.display()
    );
    Ok(())
}
