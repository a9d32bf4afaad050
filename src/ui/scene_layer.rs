//! One opened scene on the map: its background jobs (open, sample, render), the debounce
//! of view renders, and the textures the renders produce. What the jobs compute is
//! `raster::view`.
//!
//! Drawing a scene takes three kinds of job, all on worker threads:
//! 1. **open**: `Scene::open` (metadata only; never a full-resolution read);
//! 2. **sample**: [`view::sample`], a decimated whole-scene read of every band, from
//!    which stretches and histograms are computed (never a full read);
//! 3. **render**: [`view::render`], the composite's bands reprojected to Web Mercator
//!    through GDAL for a target rectangle at a target size, stretched and coloured. One
//!    render covers the whole scene at ≤ 1024 px (the overview, drawn at every zoom),
//!    another the visible part at screen resolution (the view, requested when the map
//!    settles).
//!
//! The UI thread only uploads finished RGBA images as textures.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{ColorImage, TextureHandle, TextureOptions};

use super::LayerId;
use super::task::{Task, TaskEvent};
use crate::raster::georef::CrsTransformer;
use crate::raster::view::{self, RenderOutput, ViewNeed};
use crate::raster::{BandStack, Bounds, Scene};

pub use crate::raster::view::{ChannelHistogram, LayerStyle};

/// Wait this long after the map stops moving before rendering the view.
const VIEW_DEBOUNCE: Duration = Duration::from_millis(180);

/// A georeferenced texture.
pub struct GeoTexture {
    pub texture: TextureHandle,
    pub bounds: Bounds,
    pub style: LayerStyle,
}

/// The lifecycle of a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerState {
    Opening,
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
    open_job: Task<Scene>,
    sample_job: Task<BandStack>,
    overview_job: Task<RenderOutput>,
    view_job: Task<RenderOutput>,
    pub overview: Option<GeoTexture>,
    pub view: Option<GeoTexture>,
    /// The viewport last asked for and when it last changed.
    wanted_view: Option<(Bounds, usize, usize)>,
    wanted_since: Instant,
    requested_view: Option<(Bounds, usize, usize, LayerStyle)>,
    /// Message for the user when a render fails (shown once).
    pub last_error: Option<String>,
    /// Lon/lat to the scene's CRS, built at first use (for the status bar; `None` when the
    /// CRS has no transform).
    crs_transform: std::cell::OnceCell<Option<CrsTransformer>>,
}

impl SceneLayer {
    /// Start opening `path` on a worker.
    pub fn open(id: LayerId, path: PathBuf, ctx: &egui::Context) -> Self {
        let mut layer = Self::with_state(id, path.clone(), LayerState::Opening);
        layer.open_job.start("open-scene", ctx, move |jc| {
            Ok(Scene::open(&path, &jc.cancel)?)
        });
        layer
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
            open_job: Task::default(),
            sample_job: Task::default(),
            overview_job: Task::default(),
            view_job: Task::default(),
            overview: None,
            view: None,
            wanted_view: None,
            wanted_since: Instant::now(),
            requested_view: None,
            last_error: None,
            crs_transform: std::cell::OnceCell::new(),
        }
    }

    /// A lon/lat point in the scene's CRS, as the status bar shows it (no I/O; the
    /// transform is built once).
    pub fn to_scene_crs(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let scene = self.scene.as_ref()?;
        let t = self
            .crs_transform
            .get_or_init(|| CrsTransformer::new(&scene.info().crs.wkt).ok())
            .as_ref()?;
        t.from_wgs84(&[(lon, lat)]).ok()?.first().copied()
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
        self.open_job.is_running()
            || self.sample_job.is_running()
            || self.overview_job.is_running()
            || self.view_job.is_running()
    }

    /// What the layer is busy with, for the status bar.
    pub fn busy_label(&self) -> Option<String> {
        let name = self.name();
        if self.open_job.is_running() {
            Some(format!("opening {name}"))
        } else if self.sample_job.is_running() {
            Some(format!("sampling {name}"))
        } else if self.overview_job.is_running() || self.view_job.is_running() {
            Some(format!("rendering {name}"))
        } else {
            None
        }
    }

    /// Stop whatever the layer's workers are doing (dropping a job handle cancels it; the
    /// GDAL reads check the token between bands and inside RasterIO). A layer still opening
    /// becomes a failed one.
    pub fn cancel_jobs(&mut self) {
        if self.open_job.is_running() {
            self.state =
                LayerState::Failed(format!("opening {} was cancelled", self.path.display()));
        }
        self.open_job.cancel();
        self.sample_job.cancel();
        self.overview_job.cancel();
        self.view_job.cancel();
        self.requested_view = None;
    }

    /// Install a (new or modified) scene and start sampling it.
    pub fn set_scene(&mut self, scene: Scene, ctx: &egui::Context) {
        let roles = scene.roles();
        if self.style.composite.bands(&roles).is_err() {
            self.style.composite = view::default_composite(&roles);
        }
        let scene = Arc::new(scene);
        self.scene = Some(scene.clone());
        self.crs_transform = std::cell::OnceCell::new();
        self.state = LayerState::Ready;
        self.sample = None;
        self.overview = None;
        self.view = None;
        self.requested_view = None;
        self.sample_job.start("sample-scene", ctx, move |jc| {
            Ok(view::sample(&scene, &jc.cancel)?)
        });
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
        match self.open_job.poll() {
            TaskEvent::Finished => {
                if let Some(scene) = self.open_job.take() {
                    self.set_scene(scene, ctx);
                    event = Some(LayerEvent::Opened);
                }
            }
            TaskEvent::Failed(msg) => {
                self.state = LayerState::Failed(msg.clone());
                event = Some(LayerEvent::Failed(msg));
            }
            TaskEvent::Nothing => {}
        }
        match self.sample_job.poll() {
            TaskEvent::Finished => {
                self.sample = self.sample_job.take().map(Arc::new);
                self.start_overview(ctx);
            }
            TaskEvent::Failed(msg) => event = Some(LayerEvent::Failed(msg)),
            TaskEvent::Nothing => {}
        }
        for which in [Which::Overview, Which::View] {
            let task = match which {
                Which::Overview => &mut self.overview_job,
                Which::View => &mut self.view_job,
            };
            match task.poll() {
                TaskEvent::Finished => {
                    if let Some(out) = task.take() {
                        self.install(which, out, ctx);
                    }
                }
                TaskEvent::Failed(msg) => {
                    self.last_error = Some(msg.clone());
                    event = Some(LayerEvent::Failed(msg));
                }
                TaskEvent::Nothing => {}
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
        let target = view::overview_target(scene.info().bounds_3857);
        let style = self.style.clone();
        self.overview_job.start("render-overview", ctx, move |jc| {
            Ok(view::render(
                &scene,
                &sample,
                &style,
                &[target],
                true,
                &jc.cancel,
            )?)
        });
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
        let (part, w, h) =
            match view::view_need(scene.info().bounds_3857, visible, screen_w, screen_h) {
                ViewNeed::Outside => return,
                ViewNeed::Overview => {
                    self.wanted_view = None;
                    return;
                }
                ViewNeed::Part(part, w, h) => (part, w, h),
            };
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
        // Starting a job cancels the previous view render.
        self.view_job.start("render-view", ctx, move |jc| {
            Ok(view::render(
                &scene,
                &sample,
                &style,
                &[(part, w, h)],
                false,
                &jc.cancel,
            )?)
        });
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
