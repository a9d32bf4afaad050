//! An item's thumbnail for the Find-scenes list: the picture its search hit names
//! ([`super::Hit::thumbnail`], a PNG or JPEG over HTTP or on disk) fetched with the STAC
//! client and decoded with the `image` crate, shrunk to fit a square box, as RGBA bytes.
//! (GDAL is not used: its `/vsicurl/` is limited to raster extensions here, and a
//! thumbnail is one small file read whole.)

use std::path::{Path, PathBuf};

use super::error::StacError;
use super::http::Http;

/// The largest thumbnail file read (Earth Search's are about 20 kB).
pub const MAX_THUMBNAIL_BYTES: usize = 8 << 20;

/// A decoded thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    /// Row-major RGBA, 4 bytes a pixel.
    pub rgba: Vec<u8>,
}

/// Read the picture at `href` (an `http(s)://` URL, a `file://` URL or a path) and shrink
/// it, keeping its aspect, so that neither side exceeds `max_side` (a smaller picture keeps
/// its size).
pub fn read_thumbnail(http: &Http, href: &str, max_side: u32) -> Result<Thumbnail, StacError> {
    let bytes = if href.starts_with("http://") || href.starts_with("https://") {
        http.get_bytes(href, "thumbnail", MAX_THUMBNAIL_BYTES)?
    } else {
        let path = Path::new(href.strip_prefix("file://").unwrap_or(href));
        read_local(path)?
    };
    decode(&bytes, max_side).map_err(|detail| StacError::BadContent {
        url: href.to_string(),
        what: "thumbnail",
        detail,
    })
}

fn read_local(path: &Path) -> Result<Vec<u8>, StacError> {
    let io = |detail: String| StacError::Io {
        path: PathBuf::from(path),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io("not a regular file".into()));
    }
    if meta.len() > MAX_THUMBNAIL_BYTES as u64 {
        return Err(io(format!(
            "{} bytes, more than a thumbnail's {MAX_THUMBNAIL_BYTES}",
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| io(e.to_string()))
}

/// Decode PNG or JPEG bytes and shrink them to fit `max_side`.
pub fn decode(bytes: &[u8], max_side: u32) -> Result<Thumbnail, String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let img = if img.width() > max_side || img.height() > max_side {
        img.thumbnail(max_side.max(1), max_side.max(1))
    } else {
        img
    };
    let rgba = img.to_rgba8();
    Ok(Thumbnail {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_small_picture_keeps_its_pixels_and_a_large_one_fits_the_box() {
        let t = decode(&png(5, 3), 96).unwrap();
        assert_eq!((t.width, t.height), (5, 3));
        // pixel (x=4, y=2): R = x, G = y, B = 7, opaque
        let i = (2 * 5 + 4) * 4;
        assert_eq!(&t.rgba[i..i + 4], &[4, 2, 7, 255]);
        let t = decode(&png(200, 100), 96).unwrap();
        assert_eq!((t.width, t.height), (96, 48));
        assert_eq!(t.rgba.len(), 96 * 48 * 4);
    }

    #[test]
    fn garbage_and_missing_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("kestrel-thumb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("thumb.png");
        std::fs::write(&bad, b"not a picture").unwrap();
        let http = Http::new().unwrap();
        let e = read_thumbnail(&http, &bad.to_string_lossy(), 96).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("thumb.png") && text.contains("unusable thumbnail"),
            "{text}"
        );
        let e = read_thumbnail(&http, &dir.join("absent.png").to_string_lossy(), 96).unwrap_err();
        assert!(e.to_string().contains("absent.png"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
