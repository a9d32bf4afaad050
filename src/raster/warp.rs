//! Reprojection for display: a view rectangle in Web Mercator (EPSG:3857) at an output
//! size, filled by a true GDAL reprojection (`GDALReprojectImage`, per-pixel PROJ
//! transform with a 0.125 px approximation error) of the scene, not a stretch of its
//! corners. The source is first read decimated to about the output resolution (through
//! [`SceneReader::read`], so overviews and GDAL's decimating RasterIO keep the cost
//! proportional to the output size: a 10980² tile previews without a full read), then
//! warped in memory. Continuous bands use the requested resampling, SCL nearest.
//!
//! Threads: blocking, on the calling thread; GDAL objects never leave it.

use std::ffi::{CString, c_void};

use gdal::DriverManager;
use gdal::raster::Buffer;

use super::error::{RasterError, gdal_message};
use super::georef::{Bounds, CrsTransformer, GeorefError, Grid, web_mercator_wkt};
use super::read::{
    BandStack, ReadFail, ReadRequest, Resampling, SceneReader, Window, cancel_progress,
    last_gdal_error,
};
use super::scene::Scene;
use crate::jobs::CancelToken;

fn gdal_warp_alg(r: Resampling) -> gdal_sys::GDALResampleAlg::Type {
    use gdal_sys::GDALResampleAlg as A;
    match r {
        Resampling::Nearest => A::GRA_NearestNeighbour,
        Resampling::Bilinear => A::GRA_Bilinear,
        Resampling::Cubic => A::GRA_Cubic,
        Resampling::Average => A::GRA_Average,
    }
}

/// The source window (reference-grid pixels) and read size that cover a Web Mercator
/// view at about the output resolution; `None` when the view misses the scene.
pub(crate) fn source_read_for_view(
    scene_grid: &Grid,
    scene_bounds_3857: &Bounds,
    t: &CrsTransformer,
    view: &Bounds,
    out_w: usize,
    out_h: usize,
) -> Result<Option<(Window, usize, usize)>, GeorefError> {
    // Only the part of the view over the scene matters (a world-wide view transformed
    // into a UTM zone would be meaningless).
    let inter = Bounds::new(
        view.min_x.max(scene_bounds_3857.min_x),
        view.min_y.max(scene_bounds_3857.min_y),
        view.max_x.min(scene_bounds_3857.max_x),
        view.max_y.min(scene_bounds_3857.max_y),
    );
    if inter.width() <= 0.0 || inter.height() <= 0.0 {
        return Ok(None);
    }
    let src = t.bounds_from_web_mercator(&inter)?;
    let (c0, r0) = scene_grid.crs_to_pixel(src.min_x, src.max_y);
    let (c1, r1) = scene_grid.crs_to_pixel(src.max_x, src.min_y);
    let margin = 2.0;
    let c0 = (c0 - margin).floor().max(0.0);
    let r0 = (r0 - margin).floor().max(0.0);
    let c1 = (c1 + margin).ceil().min(scene_grid.width as f64);
    let r1 = (r1 + margin).ceil().min(scene_grid.height as f64);
    if c1 <= c0 || r1 <= r0 {
        return Ok(None);
    }
    let (ww, wh) = ((c1 - c0) as usize, (r1 - r0) as usize);
    // Scene pixels per output pixel, from the share of the view the window covers.
    let out_px_x = view.width() / out_w as f64; // metres (3857) per output pixel
    let out_px_y = view.height() / out_h as f64;
    let cover_w = (inter.width() / out_px_x).max(1.0);
    let cover_h = (inter.height() / out_px_y).max(1.0);
    let src_per_out = ((c1 - c0) / cover_w).max((r1 - r0) / cover_h);
    // Read at full resolution unless the view is clearly coarser than the scene.
    let f = if src_per_out < 1.5 { 1.0 } else { src_per_out };
    let rw = ((ww as f64 / f).ceil() as usize).max(1);
    let rh = ((wh as f64 / f).ceil() as usize).max(1);
    Ok(Some((Window::new(c0 as i64, r0 as i64, ww, wh), rw, rh)))
}

/// Warp planes of `src` (in `src.crs_wkt`) onto `dst_grid` in `dst_wkt`; GDAL's message
/// when it fails.
fn warp_planes(
    src: &BandStack,
    planes: &[usize],
    dst_grid: &Grid,
    dst_wkt: &str,
    alg: Resampling,
    cancel: &CancelToken,
) -> Result<Vec<Vec<f32>>, ReadFail> {
    let gdal = |e: gdal::errors::GdalError| ReadFail::Gdal(gdal_message(&e));
    let mem = DriverManager::get_driver_by_name("MEM").map_err(gdal)?;
    let n = planes.len();
    let mut sds = mem
        .create_with_band_type::<f32, _>("", src.width, src.height, n)
        .map_err(gdal)?;
    sds.set_geo_transform(&src.geo_transform).map_err(gdal)?;
    sds.set_projection(&src.crs_wkt).map_err(gdal)?;
    for (k, &p) in planes.iter().enumerate() {
        let mut rb = sds.rasterband(k + 1).map_err(gdal)?;
        rb.set_no_data_value(Some(f64::NAN)).map_err(gdal)?;
        let mut buf = Buffer::new((src.width, src.height), src.plane(p).to_vec());
        rb.write((0, 0), (src.width, src.height), &mut buf)
            .map_err(gdal)?;
    }
    let mut dds = mem
        .create_with_band_type::<f32, _>("", dst_grid.width, dst_grid.height, n)
        .map_err(gdal)?;
    dds.set_geo_transform(&dst_grid.geo_transform)
        .map_err(gdal)?;
    dds.set_projection(dst_wkt).map_err(gdal)?;
    for k in 0..n {
        let mut rb = dds.rasterband(k + 1).map_err(gdal)?;
        rb.set_no_data_value(Some(f64::NAN)).map_err(gdal)?;
        rb.fill(f64::NAN, None).map_err(gdal)?;
    }
    let nul = |e: std::ffi::NulError| ReadFail::Gdal(format!("WKT with a NUL byte: {e}"));
    let src_wkt = CString::new(src.crs_wkt.as_str()).map_err(nul)?;
    let dst_wkt_c = CString::new(dst_wkt).map_err(nul)?;
    // SAFETY: both datasets are alive for the call; the WKT strings are NUL-terminated;
    // the progress data is the borrowed token, valid for the duration of the call.
    let rv = unsafe {
        gdal_sys::GDALReprojectImage(
            sds.c_dataset(),
            src_wkt.as_ptr(),
            dds.c_dataset(),
            dst_wkt_c.as_ptr(),
            gdal_warp_alg(alg),
            64.0 * 1024.0 * 1024.0,
            0.125,
            Some(cancel_progress),
            cancel as *const CancelToken as *mut c_void,
            std::ptr::null_mut(),
        )
    };
    if cancel.is_cancelled() {
        return Err(ReadFail::Cancelled);
    }
    if rv != gdal_sys::CPLErr::CE_None {
        return Err(ReadFail::Gdal(last_gdal_error()));
    }
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let rb = dds.rasterband(k + 1).map_err(gdal)?;
        let buf = rb
            .read_as::<f32>(
                (0, 0),
                (dst_grid.width, dst_grid.height),
                (dst_grid.width, dst_grid.height),
                None,
            )
            .map_err(gdal)?;
        out.push(buf.into_shape_and_vec().1);
    }
    Ok(out)
}

impl SceneReader<'_> {
    /// The scene reprojected to Web Mercator over `bounds_3857` at `out_w × out_h`
    /// (see the module docs). Pixels outside the scene are NaN. The stack's grid is in
    /// EPSG:3857.
    pub fn read_web_mercator(
        &self,
        bands: &[usize],
        bounds_3857: Bounds,
        out_w: usize,
        out_h: usize,
        resampling: Resampling,
        cancel: &CancelToken,
    ) -> Result<BandStack, RasterError> {
        let info = self.scene().info();
        if out_w == 0 || out_h == 0 || bounds_3857.width() <= 0.0 || bounds_3857.height() <= 0.0 {
            return Err(RasterError::InvalidRequest(
                "empty output size or view bounds".into(),
            ));
        }
        if out_w.saturating_mul(out_h) > 16 * 1024 * 1024 {
            return Err(RasterError::InvalidRequest(format!(
                "view {out_w}×{out_h} px is too large"
            )));
        }
        let warp_err = |message: String| RasterError::Warp {
            path: info.path.clone(),
            message,
        };
        let georef_err = |e: GeorefError| warp_err(e.to_string());
        let dst_grid = Grid {
            width: out_w,
            height: out_h,
            geo_transform: [
                bounds_3857.min_x,
                bounds_3857.width() / out_w as f64,
                0.0,
                bounds_3857.max_y,
                0.0,
                -bounds_3857.height() / out_h as f64,
            ],
        };
        let dst_wkt = web_mercator_wkt();
        let mut result = BandStack {
            width: out_w,
            height: out_h,
            bands: bands.to_vec(),
            scene_roles: info.bands.iter().map(|b| b.role).collect(),
            data: vec![f32::NAN; out_w * out_h * bands.len()],
            geo_transform: dst_grid.geo_transform,
            crs_wkt: dst_wkt.clone(),
            notes: Vec::new(),
        };
        let t = CrsTransformer::new(&info.crs.wkt).map_err(georef_err)?;
        let Some((window, rw, rh)) = source_read_for_view(
            &info.grid,
            &info.bounds_3857,
            &t,
            &bounds_3857,
            out_w,
            out_h,
        )
        .map_err(georef_err)?
        else {
            return Ok(result); // the view misses the scene
        };
        drop(t);
        cancel.check()?;
        let src = self.read(
            &ReadRequest {
                bands: bands.to_vec(),
                window,
                out_width: rw,
                out_height: rh,
                resampling,
            },
            cancel,
        )?;
        result.notes = src.notes.clone();
        // Group planes by resampling (categorical layers are warped with nearest).
        let mut groups: Vec<(Resampling, Vec<usize>)> = Vec::new();
        for (p, _) in bands.iter().enumerate() {
            let alg = resampling.for_role(src.plane_role(p));
            match groups.iter_mut().find(|(a, _)| *a == alg) {
                Some((_, v)) => v.push(p),
                None => groups.push((alg, vec![p])),
            }
        }
        let n = out_w * out_h;
        for (alg, planes) in groups {
            cancel.check()?;
            let warped = warp_planes(&src, &planes, &dst_grid, &dst_wkt, alg, cancel).map_err(
                |e| match e {
                    ReadFail::Gdal(m) if !cancel.is_cancelled() => warp_err(m),
                    _ => RasterError::Cancelled(crate::jobs::Cancelled),
                },
            )?;
            for (p, plane) in planes.into_iter().zip(warped) {
                result.data[p * n..(p + 1) * n].copy_from_slice(&plane);
            }
        }
        Ok(result)
    }
}

impl Scene {
    /// [`SceneReader::read_web_mercator`] with a reader for this call only.
    pub fn read_web_mercator(
        &self,
        bands: &[usize],
        bounds_3857: Bounds,
        out_w: usize,
        out_h: usize,
        resampling: Resampling,
        cancel: &CancelToken,
    ) -> Result<BandStack, RasterError> {
        self.reader()
            .read_web_mercator(bands, bounds_3857, out_w, out_h, resampling, cancel)
    }
}
