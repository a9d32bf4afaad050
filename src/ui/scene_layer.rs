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
use crate::jobs::{JobHandle, Poll};
use crate::raster::view::{self, RenderOutput, ViewError, ViewNeed};
use crate::raster::{BandStack, Bounds, RasterError, Scene};

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
    overview_job: Option<JobHandle<Result<RenderOutput, ViewError>>>,
    view_job: Option<JobHandle<Result<RenderOutput, ViewError>>>,
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
        let roles = scene.roles();
        if self.style.composite.bands(&roles).is_err() {
            self.style.composite = view::default_composite(&roles);
        }
        let scene = Arc::new(scene);
        self.scene = Some(scene.clone());
        self.state = LayerState::Ready;
        self.sample = None;
        self.overview = None;
        self.view = None;
        self.requested_view = None;
        self.sample_job = Some(JobHandle::spawn("sample-scene", repaint(ctx), move |jc| {
            view::sample(&scene, &jc.cancel)
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
                            let msg = format!("{e}");
                            self.last_error = Some(msg.clone());
                            event = Some(LayerEvent::Failed(msg));
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
        let target = view::overview_target(scene.info().bounds_3857);
        let style = self.style.clone();
        self.overview_job = Some(JobHandle::spawn(
            "render-overview",
            repaint(ctx),
            move |jc| view::render(&scene, &sample, &style, &[target], true, &jc.cancel),
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
        // Replacing the handle cancels the previous view render.
        self.view_job = Some(JobHandle::spawn("render-view", repaint(ctx), move |jc| {
            view::render(&scene, &sample, &style, &[(part, w, h)], false, &jc.cancel)
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
