//! One opened scene on the map: its background jobs (open, sample, render) and the
//! textures they produce.
//!
//! Drawing a scene takes three kinds of job, all on worker threads:
//! 1. **open**: `Scene::open` (metadata only; never a full-resolution read);
//! 2. **sample**: a decimated whole-scene read of every band, from which stretches and
//!    histograms are computed (never a full read);
//! 3. **render**: reproject the composite's bands to Web Mercator through GDAL for a
//!    target rectangle at a target size, stretch and colour them. One render covers the
//!    whole scene at ≤ 1024 px (the overview, drawn at every zoom), another the visible
//!    part at screen resolution (the view, requested when the map settles).
//!
//! The UI thread only uploads finished RGBA images as textures.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{ColorImage, TextureHandle, TextureOptions};

use super::LayerId;
use crate::jobs::{JobHandle, Poll};
use crate::raster::render::{self, Composite, Preset};
use crate::raster::stretch::{ChannelStats, ChannelStretch, Histogram, StretchMethod};
use crate::raster::{BandStack, Bounds, RasterError, Resampling, Scene};

/// Longest side of the whole-scene sample used for statistics.
const SAMPLE_SIDE: usize = 512;
/// Longest side of the whole-scene overview texture.
const OVERVIEW_SIDE: usize = 1024;
/// Longest side of a viewport render.
const VIEW_MAX_SIDE: usize = 2048;
/// Wait this long after the map stops moving before rendering the view.
const VIEW_DEBOUNCE: Duration = Duration::from_millis(180);

/// How a layer is styled (what the render jobs depend on).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerStyle {
    pub composite: Composite,
    pub method: StretchMethod,
    pub gamma: f32,
}

impl Default for LayerStyle {
    fn default() -> Self {
        Self {
            composite: Composite::Preset {
                preset: Preset::TrueColor,
            },
            method: StretchMethod::default(),
            gamma: 1.0,
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

/// What a render job produces.
pub struct RenderOutput {
    pub style: LayerStyle,
    pub histograms: Vec<ChannelHistogram>,
    pub images: Vec<(Bounds, render::RgbaImage)>,
}

/// A georeferenced texture.
pub struct GeoTexture {
    pub texture: TextureHandle,
    pub bounds: Bounds,
    pub style: LayerStyle,
}

/// The lifecycle of a layer.
pub enum LayerState {
    Opening(JobHandle<Result<Scene, RasterError>>),
    Ready,
    Failed(String),
}

pub struct SceneLayer {
    pub id: LayerId,
    pub path: PathBuf,
    pub state: LayerState,
    pub scene: Option<Arc<Scene>>,
    pub visible: bool,
    pub opacity: f32,
    pub style: LayerStyle,
    pub histograms: Vec<ChannelHistogram>,
    sample: Option<Arc<BandStack>>,
    sample_job: Option<JobHandle<Result<BandStack, RasterError>>>,
    overview_job: Option<JobHandle<Result<RenderOutput, String>>>,
    view_job: Option<JobHandle<Result<RenderOutput, String>>>,
    pub overview: Option<GeoTexture>,
    pub view: Option<GeoTexture>,
    /// The viewport last asked for and when it last changed.
    wanted_view: Option<(Bounds, usize, usize)>,
    wanted_since: Instant,
    requested_view: Option<(Bounds, usize, usize, LayerStyle)>,
    /// Message for the user when a render fails (shown once).
    pub last_error: Option<String>,
}

fn repaint(ctx: &egui::Context) -> Arc<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint())
}

impl SceneLayer {
    /// Start opening `path` on a worker.
    pub fn open(id: LayerId, path: PathBuf, ctx: &egui::Context) -> Self {
        let p = path.clone();
        let job = JobHandle::spawn("open-scene", repaint(ctx), move |jc| {
            Scene::open(&p, &jc.cancel)
        });
        Self::with_state(id, path, LayerState::Opening(job))
    }

    /// A layer for an already opened scene (tests, CLI hand-over).
    pub fn from_scene(id: LayerId, scene: Scene, ctx: &egui::Context) -> Self {
        let mut l = Self::with_state(id, scene.info().path.clone(), LayerState::Ready);
        l.set_scene(scene, ctx);
        l
    }

    fn with_state(id: LayerId, path: PathBuf, state: LayerState) -> Self {
        Self {
            id,
            path,
            state,
            scene: None,
            visible: true,
            opacity: 1.0,
            style: LayerStyle::default(),
            histograms: Vec::new(),
            sample: None,
            sample_job: None,
            overview_job: None,
            view_job: None,
            overview: None,
            view: None,
            wanted_view: None,
            wanted_since: Instant::now(),
            requested_view: None,
            last_error: None,
        }
    }

    pub fn name(&self) -> String {
        self.scene.as_ref().map_or_else(
            || {
                self.path.file_name().map_or_else(
                    || self.path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            },
            |s| s.info().name.clone(),
        )
    }

    pub fn is_busy(&self) -> bool {
        matches!(self.state, LayerState::Opening(_))
            || self.sample_job.is_some()
            || self.overview_job.is_some()
            || self.view_job.is_some()
    }

    /// What the layer is busy with, for the status bar.
    pub fn busy_label(&self) -> Option<String> {
        let name = self.name();
        if matches!(self.state, LayerState::Opening(_)) {
            Some(format!("opening {name}"))
        } else if self.sample_job.is_some() {
            Some(format!("sampling {name}"))
        } else if self.overview_job.is_some() || self.view_job.is_some() {
            Some(format!("rendering {name}"))
        } else {
            None
        }
    }

    /// Stop whatever the layer's workers are doing (dropping a job handle cancels it; the
    /// GDAL reads check the token between bands and inside RasterIO). A layer still opening
    /// becomes a failed one.
    pub fn cancel_jobs(&mut self) {
        if matches!(self.state, LayerState::Opening(_)) {
            self.state =
                LayerState::Failed(format!("opening {} was cancelled", self.path.display()));
        }
        self.sample_job = None;
        self.overview_job = None;
        self.view_job = None;
        self.requested_view = None;
    }

    /// Install a (new or modified) scene and start sampling it.
    pub fn set_scene(&mut self, scene: Scene, ctx: &egui::Context) {
        if self.style.composite.bands(&scene.roles()).is_err() {
            self.style.composite = default_composite(&scene);
        }
        let scene = Arc::new(scene);
        self.scene = Some(scene.clone());
        self.state = LayerState::Ready;
        self.sample = None;
        self.overview = None;
        self.view = None;
        self.requested_view = None;
        let bands: Vec<usize> = (0..scene.bands().len()).collect();
        self.sample_job = Some(JobHandle::spawn("sample-scene", repaint(ctx), move |jc| {
            scene.sample(&bands, SAMPLE_SIDE, &jc.cancel)
        }));
    }

    /// Change the style; re-renders follow.
    pub fn set_style(&mut self, style: LayerStyle, ctx: &egui::Context) {
        if style != self.style {
            self.style = style;
            self.start_overview(ctx);
            self.requested_view = None;
        }
    }

    /// Poll jobs. Returns an event for the app (opened, failed).
    pub fn poll(&mut self, ctx: &egui::Context) -> Option<LayerEvent> {
        let mut event = None;
        if let LayerState::Opening(job) = &mut self.state {
            match job.poll() {
                Poll::Running(_) => {}
                Poll::Done(Ok(scene)) => {
                    self.set_scene(scene, ctx);
                    event = Some(LayerEvent::Opened);
                }
                Poll::Done(Err(e)) => {
                    let msg = format!("{e}");
                    self.state = LayerState::Failed(msg.clone());
                    event = Some(LayerEvent::Failed(msg));
                }
                Poll::Lost => {
                    let msg = format!("opening {} failed unexpectedly", self.path.display());
                    self.state = LayerState::Failed(msg.clone());
                    event = Some(LayerEvent::Failed(msg));
                }
            }
        }
        if let Some(job) = &mut self.sample_job {
            match job.poll() {
                Poll::Running(_) => {}
                Poll::Done(res) => {
                    self.sample_job = None;
                    match res {
                        Ok(stack) => {
                            self.sample = Some(Arc::new(stack));
                            self.start_overview(ctx);
                        }
                        Err(e) => event = Some(LayerEvent::Failed(format!("{e}"))),
                    }
                }
                Poll::Lost => self.sample_job = None,
            }
        }
        for which in [Which::Overview, Which::View] {
            let slot = match which {
                Which::Overview => &mut self.overview_job,
                Which::View => &mut self.view_job,
            };
            let Some(job) = slot else { continue };
            match job.poll() {
                Poll::Running(_) => {}
                Poll::Done(res) => {
                    *slot = None;
                    match res {
                        Ok(out) => self.install(which, out, ctx),
                        Err(e) => {
                            self.last_error = Some(e.clone());
                            event = Some(LayerEvent::Failed(e));
                        }
                    }
                }
                Poll::Lost => *slot = None,
            }
        }
        event
    }

    fn install(&mut self, which: Which, out: RenderOutput, ctx: &egui::Context) {
        if which == Which::Overview {
            self.histograms = out.histograms;
        }
        let Some((bounds, img)) = out.images.into_iter().next() else {
            return;
        };
        let color = ColorImage::from_rgba_unmultiplied([img.width, img.height], &img.rgba);
        let name = format!("scene-{}-{which:?}", self.id.0);
        let texture = ctx.load_texture(name, color, TextureOptions::LINEAR);
        let tex = GeoTexture {
            texture,
            bounds,
            style: out.style,
        };
        match which {
            Which::Overview => self.overview = Some(tex),
            Which::View => self.view = Some(tex),
        }
    }

    fn start_overview(&mut self, ctx: &egui::Context) {
        let (Some(scene), Some(sample)) = (self.scene.clone(), self.sample.clone()) else {
            return;
        };
        let b = scene.info().bounds_3857;
        let (w, h) = fit(b.width(), b.height(), OVERVIEW_SIDE);
        let style = self.style.clone();
        self.overview_job = Some(JobHandle::spawn(
            "render-overview",
            repaint(ctx),
            move |jc| render_job(&scene, &sample, &style, &[(b, w, h)], true, &jc.cancel),
        ));
    }

    /// Tell the layer what part of the map is visible (Web Mercator) and at how many
    /// physical pixels; a sharper render of that part is requested once it settles.
    pub fn want_view(
        &mut self,
        visible: Bounds,
        screen_w: f32,
        screen_h: f32,
        ctx: &egui::Context,
    ) {
        let (Some(scene), Some(sample)) = (self.scene.clone(), self.sample.clone()) else {
            return;
        };
        let sb = scene.info().bounds_3857;
        let Some(part) = sb.intersection(&visible) else {
            return;
        };
        // Size of the visible part on screen, in physical pixels.
        let w = (f64::from(screen_w) * part.width() / visible.width()).round() as usize;
        let h = (f64::from(screen_h) * part.height() / visible.height()).round() as usize;
        // The overview is sharp enough while the whole scene fits in it.
        let scene_px = f64::from(screen_w) * sb.width() / visible.width();
        if scene_px <= OVERVIEW_SIDE as f64 * 1.1 || w < 2 || h < 2 {
            self.wanted_view = None;
            return;
        }
        let (w, h) = fit_box(w, h, VIEW_MAX_SIDE);
        let key = (part, w, h);
        if self.wanted_view.as_ref() != Some(&key) {
            self.wanted_view = Some(key);
            self.wanted_since = Instant::now();
            ctx.request_repaint_after(VIEW_DEBOUNCE);
            return;
        }
        let already = self
            .requested_view
            .as_ref()
            .is_some_and(|(b, rw, rh, st)| *b == part && *rw == w && *rh == h && *st == self.style);
        if already || self.wanted_since.elapsed() < VIEW_DEBOUNCE {
            if !already {
                ctx.request_repaint_after(VIEW_DEBOUNCE);
            }
            return;
        }
        let style = self.style.clone();
        self.requested_view = Some((part, w, h, style.clone()));
        // Replacing the handle cancels the previous view render.
        self.view_job = Some(JobHandle::spawn("render-view", repaint(ctx), move |jc| {
            render_job(&scene, &sample, &style, &[(part, w, h)], false, &jc.cancel)
        }));
    }

    pub fn sample(&self) -> Option<&Arc<BandStack>> {
        self.sample.as_ref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Overview,
    View,
}

/// Events a layer reports to the app.
pub enum LayerEvent {
    Opened,
    Failed(String),
}

/// The first composite the scene can show: true colour, else any preset, else an index,
/// else the first three bands.
pub fn default_composite(scene: &Scene) -> Composite {
    let roles = scene.roles();
    let candidates = Preset::ALL
        .iter()
        .map(|p| Composite::Preset { preset: *p })
        .chain(
            crate::raster::SpectralIndex::ALL
                .iter()
                .map(|i| Composite::Index { index: *i }),
        );
    for c in candidates {
        if c.bands(&roles).is_ok() {
            return c;
        }
    }
    let n = roles.len();
    Composite::Custom {
        rgb: [0, 1.min(n.saturating_sub(1)), 2.min(n.saturating_sub(1))],
    }
}

/// Pixel size of a `w × h` (map units) rectangle with its long side at `side`.
fn fit(w: f64, h: f64, side: usize) -> (usize, usize) {
    if w >= h {
        (side, ((side as f64 * h / w).round() as usize).max(1))
    } else {
        (((side as f64 * w / h).round() as usize).max(1), side)
    }
}

fn fit_box(w: usize, h: usize, max_side: usize) -> (usize, usize) {
    if w.max(h) <= max_side {
        (w, h)
    } else {
        fit(w as f64, h as f64, max_side)
    }
}

/// Histograms of the whole-scene sample for the panel: one per display channel with its
/// stretch cut for RGB composites, the index values for an index, none for SCL.
fn sample_histograms(
    scene: &Scene,
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
                histogram: Histogram::compute(&index.compute(a, b), 128, Some((-1.0, 1.0))),
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
                    label: scene.bands()[b].display_name(),
                    histogram: Histogram::compute(
                        values,
                        128,
                        Some((st.percentile(0.5), st.percentile(99.5))),
                    ),
                    stretch: stretches.map(|s| s[c]),
                })
            })
            .collect(),
    }
}

/// Stretches and histograms from the sample, then reprojected renders of `targets`.
fn render_job(
    scene: &Scene,
    sample: &BandStack,
    style: &LayerStyle,
    targets: &[(Bounds, usize, usize)],
    with_histograms: bool,
    cancel: &crate::jobs::CancelToken,
) -> Result<RenderOutput, String> {
    let roles = scene.roles();
    let bands = style.composite.bands(&roles)?;
    let stretches = render::auto_stretch(sample, &style.composite, style.method, style.gamma)?;
    let mut histograms = Vec::new();
    if with_histograms {
        histograms = sample_histograms(scene, sample, &style.composite, &bands, stretches.as_ref());
    }
    let resampling = if matches!(style.composite, Composite::Scl) {
        Resampling::Nearest
    } else {
        Resampling::Bilinear
    };
    let mut images = Vec::new();
    for &(b, w, h) in targets {
        let stack = scene
            .read_web_mercator(&bands, b, w, h, resampling, cancel)
            .map_err(|e| format!("{e}"))?;
        let img = render::render(&stack, &style.composite, stretches.as_ref())?;
        images.push((b, img));
    }
    Ok(RenderOutput {
        style: style.clone(),
        histograms,
        images,
    })
}
