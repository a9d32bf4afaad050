//! The rendered map view as a georeferenced picture (QGIS's "export map to image"): RGBA
//! pixels covering a Web Mercator rectangle, written through GDAL as a GeoTIFF (EPSG:3857,
//! four Byte bands, DEFLATE) or a PNG with a world file (`.wld`) and its CRS in a PAM
//! `.aux.xml`, so QGIS, GDAL and rasterio place it. Written atomically: the picture is
//! either the old file or the whole new one (the PNG's side files are moved in just
//! before it).

use std::path::{Path, PathBuf};

use gdal::raster::Buffer;

use super::ExportError;
use crate::atomic;
use crate::raster::Bounds;

/// The picture's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    GeoTiff,
    Png,
}

impl ImageFormat {
    /// The format a file name asks for (`.tif`/`.tiff` or `.png`).
    pub fn from_path(path: &Path) -> Option<ImageFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "tif" | "tiff" => Some(ImageFormat::GeoTiff),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::GeoTiff => "tif",
            ImageFormat::Png => "png",
        }
    }
}

/// Write `rgba` (`width` × `height`, row by row, 4 bytes a pixel) covering `bounds`
/// (EPSG:3857 metres) to `path`.
pub fn write_view_image(
    path: &Path,
    rgba: &[u8],
    width: usize,
    height: usize,
    bounds: &Bounds,
    format: ImageFormat,
) -> Result<(), ExportError> {
    let invalid = |problem: String| ExportError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    if width == 0 || height == 0 || rgba.len() != width * height * 4 {
        return Err(invalid(format!(
            "{} bytes are not a {width} x {height} RGBA picture",
            rgba.len()
        )));
    }
    if !(bounds.width() > 0.0 && bounds.height() > 0.0) {
        return Err(invalid("the view has no extent".into()));
    }
    super::check_folder(path)?;
    let transform = [
        bounds.min_x,
        bounds.width() / width as f64,
        0.0,
        bounds.max_y,
        0.0,
        -bounds.height() / height as f64,
    ];
    let write = |tmp: &Path| -> Result<(), gdal::errors::GdalError> {
        let mem = gdal::DriverManager::get_driver_by_name("MEM")?;
        let mut ds = mem.create_with_band_type::<u8, _>("", width, height, 4)?;
        ds.set_geo_transform(&transform)?;
        ds.set_projection(&crate::raster::georef::web_mercator_wkt())?;
        for b in 0..4 {
            let plane: Vec<u8> = rgba.iter().skip(b).step_by(4).copied().collect();
            let mut band = ds.rasterband(b + 1)?;
            let mut buf = Buffer::new((width, height), plane);
            band.write((0, 0), (width, height), &mut buf)?;
            band.set_color_interpretation(match b {
                0 => gdal::raster::ColorInterpretation::RedBand,
                1 => gdal::raster::ColorInterpretation::GreenBand,
                2 => gdal::raster::ColorInterpretation::BlueBand,
                _ => gdal::raster::ColorInterpretation::AlphaBand,
            })?;
        }
        let (driver, options): (_, &[&str]) = match format {
            ImageFormat::GeoTiff => (
                "GTiff",
                &["COMPRESS=DEFLATE", "PHOTOMETRIC=RGB", "ALPHA=YES"],
            ),
            ImageFormat::Png => ("PNG", &["WORLDFILE=YES"]),
        };
        let driver = gdal::DriverManager::get_driver_by_name(driver)?;
        let opts = gdal::cpl::CslStringList::from_iter(options.iter().copied());
        let out = ds.create_copy(&driver, tmp, &opts)?;
        drop(out);
        Ok(())
    };
    let side_files = |p: &Path| -> Vec<PathBuf> {
        match format {
            ImageFormat::GeoTiff => Vec::new(),
            ImageFormat::Png => vec![p.with_extension("wld"), append(p, ".aux.xml")],
        }
    };
    atomic::write_atomic_via_path(path, |tmp| {
        write(tmp).map_err(std::io::Error::other)?;
        // the PNG's world file and CRS go in place before the picture itself
        for (from, to) in side_files(tmp).into_iter().zip(side_files(path)) {
            if from.exists() {
                std::fs::rename(&from, &to)?;
            }
        }
        Ok(())
    })
    .map_err(|e| ExportError::Write {
        path: path.to_path_buf(),
        source: e.source,
    })
}

/// `p` with `suffix` appended to its file name (`a.png` → `a.png.aux.xml`).
fn append(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5 x 3 picture: R = column * 10, G = row * 20, B = 7, A = 255 except one pixel.
    fn picture() -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..3u8 {
            for x in 0..5u8 {
                v.extend([x * 10, y * 20, 7, if (x, y) == (4, 2) { 0 } else { 255 }]);
            }
        }
        v
    }

    fn read_back(path: &Path) -> (Vec<Vec<u8>>, [f64; 6], String) {
        let ds = gdal::Dataset::open(path).unwrap();
        let bands = (1..=4)
            .map(|b| {
                ds.rasterband(b)
                    .unwrap()
                    .read_as::<u8>((0, 0), (5, 3), (5, 3), None)
                    .unwrap()
                    .data()
                    .to_vec()
            })
            .collect();
        let srs = ds.spatial_ref().unwrap();
        (
            bands,
            ds.geo_transform().unwrap(),
            srs.auth_code().map(|c| c.to_string()).unwrap_or_default(),
        )
    }

    #[test]
    fn geotiff_and_png_are_placed_in_web_mercator() {
        let dir = tempfile::tempdir().unwrap();
        let bounds = Bounds::new(1_000_000.0, 6_000_000.0, 1_000_500.0, 6_000_300.0);
        for format in [ImageFormat::GeoTiff, ImageFormat::Png] {
            let path = dir.path().join(format!("view.{}", format.extension()));
            write_view_image(&path, &picture(), 5, 3, &bounds, format).unwrap();
            let (bands, gt, epsg) = read_back(&path);
            assert_eq!(epsg, "3857", "{format:?}");
            assert_eq!(
                gt,
                [1_000_000.0, 100.0, 0.0, 6_000_300.0, 0.0, -100.0],
                "{format:?}"
            );
            // pixel (x=3, y=2): R 30, G 40, B 7, opaque; (4, 2) transparent
            let i = 2 * 5 + 3;
            assert_eq!(
                [bands[0][i], bands[1][i], bands[2][i], bands[3][i]],
                [30, 40, 7, 255]
            );
            assert_eq!(bands[3][2 * 5 + 4], 0);
            // nothing left beside it but the PNG's side files
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".kestrel-tmp"))
                .collect();
            names.sort();
            assert!(names.is_empty(), "{names:?}");
        }
        assert!(dir.path().join("view.wld").is_file());
        assert!(dir.path().join("view.png.aux.xml").is_file());
    }

    #[test]
    fn bad_pictures_and_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = Bounds::new(0.0, 0.0, 1.0, 1.0);
        let p = dir.path().join("v.tif");
        let e = write_view_image(&p, &[0; 7], 5, 3, &b, ImageFormat::GeoTiff).unwrap_err();
        assert!(e.to_string().contains("not a 5 x 3 RGBA picture"), "{e}");
        let p = dir.path().join("missing/v.tif");
        let e = write_view_image(&p, &picture(), 5, 3, &b, ImageFormat::GeoTiff).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert_eq!(
            ImageFormat::from_path(Path::new("a.TIF")),
            Some(ImageFormat::GeoTiff)
        );
        assert_eq!(ImageFormat::from_path(Path::new("a.jpg")), None);
    }
}
