//! The left panel: the list of opened scenes (visibility, opacity, zoom to, remove) and,
//! for the selected scene, what Kestrel decided about it (level, radiometry, band roles,
//! with a way to reassign bands), the band combination, the stretch and its histogram, whose
//! low/high lines are handles: dragging one sets a fixed stretch range, as in QGIS.

use egui::{Color32, CursorIcon, Rect, RichText, Ui};
use egui_plot::{Line, Plot, PlotPoint, PlotPoints, VLine};

use crate::raster::render::{Composite, Preset, SpectralIndex};
use crate::raster::stretch::StretchMethod;
use crate::raster::{BandRole, Bounds, S2Band};

use super::LayerId;
use super::command::Command;
use super::scene_layer::{LayerState, LayerStyle, SceneLayer};

const CHANNEL_COLORS: [Color32; 3] = [
    Color32::from_rgb(230, 80, 80),
    Color32::from_rgb(80, 200, 90),
    Color32::from_rgb(90, 130, 240),
];

pub fn layers_list_ui(
    ui: &mut Ui,
    layers: &mut [SceneLayer],
    active: Option<LayerId>,
    commands: &mut Vec<Command>,
) {
    if layers.is_empty() {
        ui.label("No scene open. Use File > Open…, drop a file on the window, or pass it on the command line.");
        return;
    }
    let n = layers.len();
    for (pos, layer) in layers.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            ui.checkbox(&mut layer.visible, "")
                .on_hover_text("Show on the map");
            let selected = active == Some(layer.id);
            let name = layer.name();
            let label = match &layer.state {
                LayerState::Opening => RichText::new(format!("{name} (opening…)")).italics(),
                LayerState::Failed(_) => {
                    RichText::new(name).color(Color32::from_rgb(255, 110, 110))
                }
                LayerState::Ready => RichText::new(name),
            };
            if ui.selectable_label(selected, label).clicked() {
                commands.push(Command::Select(layer.id));
            }
            if layer.is_busy() {
                ui.spinner();
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .small_button("close")
                    .on_hover_text("Close this scene")
                    .clicked()
                {
                    commands.push(Command::Remove(layer.id));
                }
                if layer.scene.is_some()
                    && ui
                        .small_button("zoom")
                        .on_hover_text("Zoom to scene")
                        .clicked()
                {
                    commands.push(Command::ZoomTo(layer.id));
                }
            });
        });
        if let LayerState::Failed(msg) = &layer.state {
            ui.label(
                RichText::new(msg)
                    .small()
                    .color(Color32::from_rgb(255, 140, 140)),
            );
        }
        ui.horizontal(|ui| {
            if layer.scene.is_some() {
                ui.add(egui::Slider::new(&mut layer.opacity, 0.0..=1.0).text("opacity"));
            }
            // the list is the drawing order: a layer draws over those above it
            if n > 1 {
                if ui
                    .add_enabled(pos + 1 < n, egui::Button::new("down").small())
                    .on_hover_text("move down: draw over the layer below")
                    .clicked()
                {
                    commands.push(Command::Move(layer.id, 1));
                }
                if ui
                    .add_enabled(pos > 0, egui::Button::new("up").small())
                    .on_hover_text("move up: draw under the layer above")
                    .clicked()
                {
                    commands.push(Command::Move(layer.id, -1));
                }
            }
        });
        ui.separator();
    }
}

/// Details and styling of one scene.
/// The selected scene's facts, band roles, style and histogram; `view` is the map's Web
/// Mercator rectangle (for *stretch to view*).
/// Returns where the histogram's stretch handles were drawn, if it has them.
pub fn scene_details_ui(
    ui: &mut Ui,
    layer: &SceneLayer,
    view: Option<Bounds>,
    commands: &mut Vec<Command>,
) -> Option<HistogramHandles> {
    let Some(scene) = &layer.scene else {
        return None;
    };
    let info = scene.info();
    ui.heading(&info.name);
    egui::Grid::new("scene-facts")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label("Level");
            let level = match &info.baseline {
                Some(b) => format!("{} (baseline {b})", info.level.label()),
                None => info.level.label().to_string(),
            };
            ui.label(level).on_hover_text(&info.level_reason);
            ui.end_row();
            ui.label("Size");
            ui.label(format!(
                "{} × {} px at {:.0} m",
                info.grid.width,
                info.grid.height,
                info.grid.resolution()
            ));
            ui.end_row();
            ui.label("CRS");
            ui.label(match info.crs.epsg {
                Some(e) => format!("EPSG:{e} {}", info.crs.name),
                None => info.crs.name.clone(),
            });
            ui.end_row();
            if let Some(t) = &info.sensing_time {
                ui.label("Sensed");
                ui.label(t);
                ui.end_row();
            }
        });
    ui.label(RichText::new("Radiometric correction").strong());
    ui.label(&info.radiometry.reason);
    for note in &info.notes {
        ui.label(RichText::new(format!("• {note}")).small());
    }
    band_roles_ui(ui, layer, commands);
    ui.separator();
    style_ui(ui, layer, view, commands)
}

fn band_roles_ui(ui: &mut Ui, layer: &SceneLayer, commands: &mut Vec<Command>) {
    let Some(scene) = &layer.scene else { return };
    let info = scene.info();
    let header = if info.bands_confirmed {
        RichText::new(format!("Bands ({})", info.bands.len()))
    } else {
        RichText::new(format!(
            "Bands ({}): order is a guess — check",
            info.bands.len()
        ))
        .color(Color32::from_rgb(240, 190, 80))
    };
    egui::CollapsingHeader::new(header)
        .id_salt(("bands", layer.id))
        .default_open(!info.bands_confirmed)
        .show(ui, |ui| {
            let id = ui.make_persistent_id(("band-edit", layer.id));
            let mut roles: Vec<BandRole> = ui
                .data_mut(|d| d.get_temp::<Vec<BandRole>>(id))
                .unwrap_or_else(|| scene.roles());
            egui::Grid::new(("band-grid", layer.id))
                .num_columns(3)
                .show(ui, |ui| {
                    for (b, band) in info.bands.iter().enumerate() {
                        ui.label(format!("{}", b + 1));
                        ui.label(RichText::new(&band.description).small())
                            .on_hover_text(format!(
                                "{} · {} · {:.0} m",
                                band.identified_by, band.data_type, band.resolution_m
                            ));
                        egui::ComboBox::from_id_salt(("role", layer.id, b))
                            .selected_text(roles[b].label())
                            .show_ui(ui, |ui| {
                                for s in S2Band::ALL {
                                    ui.selectable_value(
                                        &mut roles[b],
                                        BandRole::Spectral(s),
                                        s.name(),
                                    );
                                }
                                for r in [
                                    BandRole::Scl,
                                    BandRole::CloudProb,
                                    BandRole::SnowProb,
                                    BandRole::Other,
                                ] {
                                    ui.selectable_value(&mut roles[b], r, r.label());
                                }
                            });
                        ui.end_row();
                    }
                });
            let changed = roles != scene.roles();
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(changed, egui::Button::new("Apply band roles"))
                    .clicked()
                {
                    commands.push(Command::AssignBands(layer.id, roles.clone()));
                    ui.data_mut(|d| d.remove::<Vec<BandRole>>(id));
                } else if changed && ui.button("Reset").clicked() {
                    ui.data_mut(|d| d.remove::<Vec<BandRole>>(id));
                } else {
                    ui.data_mut(|d| d.insert_temp(id, roles));
                }
            });
        });
}

fn style_ui(
    ui: &mut Ui,
    layer: &SceneLayer,
    view: Option<Bounds>,
    commands: &mut Vec<Command>,
) -> Option<HistogramHandles> {
    let scene = layer.scene.as_ref()?;
    let roles = scene.roles();
    let mut style = layer.style.clone();
    ui.label(RichText::new("Band combination").strong());
    for p in Preset::ALL {
        let c = Composite::Preset { preset: p };
        match p.available(&roles) {
            Ok(_) => {
                ui.radio_value(&mut style.composite, c, p.name());
            }
            Err(why) => {
                ui.add_enabled(false, egui::RadioButton::new(false, p.name()))
                    .on_disabled_hover_text(why.to_string());
            }
        }
    }
    let is_custom = matches!(style.composite, Composite::Custom { .. });
    if ui.radio(is_custom, "Custom R/G/B").clicked() && !is_custom {
        let rgb = match style.composite.bands(&roles) {
            Ok(b) if b.len() == 3 => [b[0], b[1], b[2]],
            _ => [0, 1.min(roles.len() - 1), 2.min(roles.len() - 1)],
        };
        style.composite = Composite::Custom { rgb };
    }
    if let Composite::Custom { rgb } = &mut style.composite {
        ui.horizontal(|ui| {
            for (c, name) in ["R", "G", "B"].iter().enumerate() {
                egui::ComboBox::from_id_salt(("custom", layer.id, c))
                    .width(70.0)
                    .selected_text(format!("{name}: {}", roles[rgb[c]].label()))
                    .show_ui(ui, |ui| {
                        for (b, r) in roles.iter().enumerate() {
                            ui.selectable_value(&mut rgb[c], b, format!("{} {}", b + 1, r.label()));
                        }
                    });
            }
        });
    }
    ui.label(RichText::new("Indices").strong());
    ui.horizontal_wrapped(|ui| {
        for ix in SpectralIndex::ALL {
            let c = Composite::Index { index: ix };
            match ix.available(&roles) {
                Ok(_) => {
                    ui.radio_value(&mut style.composite, c, ix.name())
                        .on_hover_text(ix.formula());
                }
                Err(why) => {
                    ui.add_enabled(false, egui::RadioButton::new(false, ix.name()))
                        .on_disabled_hover_text(why.to_string());
                }
            }
        }
    });
    if Composite::Scl.bands(&roles).is_ok() {
        ui.radio_value(
            &mut style.composite,
            Composite::Scl,
            "Scene classification (SCL)",
        );
    }
    match &style.composite {
        Composite::Index { index } => index_legend_ui(ui, *index),
        Composite::Scl => scl_legend_ui(ui),
        _ => {
            let visible = view.and_then(|v| v.intersection(&scene.info().bounds_3857));
            stretch_ui(ui, &mut style, visible);
        }
    }
    let handles = histogram_ui(ui, layer, &mut style);
    if style != layer.style {
        commands.push(Command::SetStyle(layer.id, style));
    }
    handles
}

/// The stretch: method, its parameters, gamma, and where its statistics come from (the
/// whole-scene sample, or `visible`, the part of the scene on the map).
fn stretch_ui(ui: &mut Ui, style: &mut LayerStyle, visible: Option<Bounds>) {
    ui.label(RichText::new("Stretch").strong());
    ui.horizontal(|ui| {
        if ui
            .radio(style.stretch_area.is_none(), "whole scene")
            .on_hover_text("Statistics of a sample of the whole scene")
            .clicked()
        {
            style.stretch_area = None;
        }
        let to_view = ui
            .add_enabled(
                visible.is_some(),
                egui::RadioButton::new(style.stretch_area.is_some(), "stretch to view"),
            )
            .on_hover_text("Statistics of the part of the scene on the map now (press again after moving the map)");
        if to_view.clicked() {
            style.stretch_area = visible;
        }
    });
    ui.horizontal(|ui| {
        let is_pct = matches!(style.method, StretchMethod::Percentile { .. });
        if ui.radio(is_pct, "Percentile").clicked() && !is_pct {
            style.method = StretchMethod::default();
        }
        if ui
            .radio(matches!(style.method, StretchMethod::MinMax), "Min/max")
            .clicked()
        {
            style.method = StretchMethod::MinMax;
        }
        let is_sd = matches!(style.method, StretchMethod::StdDev { .. });
        if ui.radio(is_sd, "Mean ± kσ").clicked() && !is_sd {
            style.method = StretchMethod::StdDev { k: 2.0 };
        }
        let is_fixed = matches!(style.method, StretchMethod::Fixed { .. });
        if ui
            .radio(is_fixed, "Fixed")
            .on_hover_text("A range in the band's units; or drag a line in the histogram")
            .clicked()
            && !is_fixed
        {
            style.method = StretchMethod::Fixed {
                min: 0.0,
                max: 3000.0,
            };
        }
    });
    match &mut style.method {
        StretchMethod::Percentile { low, high } => {
            ui.add(
                egui::Slider::new(low, 0.0..=20.0)
                    .text("low %")
                    .fixed_decimals(1),
            );
            ui.add(
                egui::Slider::new(high, 80.0..=100.0)
                    .text("high %")
                    .fixed_decimals(1),
            );
        }
        StretchMethod::StdDev { k } => {
            ui.add(egui::Slider::new(k, 0.5..=4.0).text("k").fixed_decimals(1));
        }
        StretchMethod::Fixed { min, max } => {
            ui.horizontal(|ui| {
                let hi = *max;
                ui.add(
                    egui::DragValue::new(min)
                        .prefix("min ")
                        .range(f32::MIN..=hi),
                );
                let lo = *min;
                ui.add(
                    egui::DragValue::new(max)
                        .prefix("max ")
                        .range(lo..=f32::MAX),
                );
            });
        }
        StretchMethod::MinMax => {}
    }
    ui.add(
        egui::Slider::new(&mut style.gamma, 0.3..=3.0)
            .text("gamma")
            .fixed_decimals(2),
    );
}

/// A colour-ramp legend: the colours left to right, labelled at both ends.
pub(super) fn ramp_bar(ui: &mut Ui, stops: &[(f32, [u8; 3])], lo: &str, hi: &str) {
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width().min(240.0), 14.0),
        egui::Sense::hover(),
    );
    let n = stops.len().max(1);
    for (i, (_, c)) in stops.iter().enumerate() {
        let x0 = rect.min.x + rect.width() * i as f32 / n as f32;
        let x1 = rect.min.x + rect.width() * (i + 1) as f32 / n as f32;
        ui.painter().rect_filled(
            egui::Rect::from_x_y_ranges(x0..=x1, rect.y_range()),
            0.0,
            Color32::from_rgb(c[0], c[1], c[2]),
        );
    }
    ui.horizontal(|ui| {
        ui.label(RichText::new(lo).small());
        ui.add_space((rect.width() - 60.0).max(0.0));
        ui.label(RichText::new(hi).small());
    });
}

fn index_legend_ui(ui: &mut Ui, index: SpectralIndex) {
    ui.label(RichText::new(format!("{} = {}", index.name(), index.formula())).small());
    let ramp = index.ramp();
    ramp_bar(
        ui,
        &ramp.legend(48),
        &format!("{:.1}", ramp.min()),
        &format!("{:.1}", ramp.max()),
    );
    ui.label(RichText::new(index.legend_note()).small());
}

fn scl_legend_ui(ui: &mut Ui) {
    egui::Grid::new("scl-legend").num_columns(2).show(ui, |ui| {
        for v in 0u8..=11 {
            let (Some(name), Some(c)) = (
                crate::raster::colormap::scl_class_name(v),
                crate::raster::colormap::scl_color(v),
            ) else {
                continue;
            };
            let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, Color32::from_rgb(c[0], c[1], c[2]));
            ui.label(RichText::new(format!("{v} {name}")).small());
            ui.end_row();
        }
    });
}

/// Where the histogram's stretch handles were drawn (screen points), for tests and tools.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramHandles {
    /// The plot area.
    pub rect: Rect,
    /// The low and the high handle's x.
    pub low_x: f32,
    pub high_x: f32,
}

/// Which handle a drag in the histogram holds, and where it is now (band units); kept in
/// egui's memory between frames.
#[derive(Debug, Clone, Copy)]
struct HandleDrag {
    high: bool,
    value: f64,
}

/// How close to a handle (points) a press must be to take it.
const HANDLE_REACH: f32 = 8.0;

/// The band histograms with the stretch's low/high lines. The lines are the handles: the
/// outermost cut over the channels, or the fixed range; dragging one sets
/// `StretchMethod::Fixed` when it is let go (one render per drag, not per frame).
fn histogram_ui(
    ui: &mut Ui,
    layer: &SceneLayer,
    style: &mut LayerStyle,
) -> Option<HistogramHandles> {
    if layer.histograms.is_empty() {
        return None;
    }
    // Where the handles are: the fixed range, else the widest cut the render applied.
    let range = match style.method {
        StretchMethod::Fixed { min, max } => Some((f64::from(min), f64::from(max))),
        _ => layer
            .histograms
            .iter()
            .filter_map(|h| h.stretch)
            .map(|s| (f64::from(s.min), f64::from(s.max)))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))),
    };
    let title = if style.stretch_area.is_some() {
        "Histogram (the part on the map)"
    } else {
        "Histogram (whole-scene sample)"
    };
    ui.label(RichText::new(title).small())
        .on_hover_text("Drag a vertical line to set the stretch's low or high end");
    let memory = ui.make_persistent_id(("histogram-handle", layer.id));
    let mut drag: Option<HandleDrag> = ui.data(|d| d.get_temp(memory));
    let mut released = false;
    let shown = Plot::new(("histogram", layer.id))
        .height(130.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_axes([true, false])
        .show(ui, |plot| {
            for (c, h) in layer.histograms.iter().enumerate() {
                let color = if layer.histograms.len() == 1 {
                    Color32::LIGHT_GRAY
                } else {
                    CHANNEL_COLORS[c % 3]
                };
                let n = h.histogram.counts.len().max(1);
                let step = (h.histogram.max - h.histogram.min) / n as f32;
                let total: u64 = h.histogram.counts.iter().sum::<u64>().max(1);
                let pts: PlotPoints = h
                    .histogram
                    .counts
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        [
                            f64::from(h.histogram.min + step * (i as f32 + 0.5)),
                            k as f64 / total as f64,
                        ]
                    })
                    .collect();
                plot.line(Line::new(h.label.clone(), pts).color(color));
                if let (Some(s), None) = (h.stretch, drag) {
                    plot.vline(
                        VLine::new(format!("{} low", h.label), f64::from(s.min)).color(color),
                    );
                    plot.vline(
                        VLine::new(format!("{} high", h.label), f64::from(s.max)).color(color),
                    );
                }
            }
            let (lo, hi) = range?;
            let transform = *plot.transform();
            let x_of = |v: f64| transform.position_from_point(&PlotPoint::new(v, 0.0)).x;
            let response = plot.response().clone();
            // The pointer in band units (the plot does not move, so last frame's transform
            // is this frame's).
            let pointer = plot
                .ctx()
                .input(|i| i.pointer.latest_pos())
                .map(|p| transform.value_from_position(p));
            let near = |p: PlotPoint| -> Option<bool> {
                let x = x_of(p.x);
                let (dl, dh) = ((x - x_of(lo)).abs(), (x - x_of(hi)).abs());
                (dl.min(dh) <= HANDLE_REACH).then_some(dh < dl)
            };
            // Taken where the button went down (the drag starts a few points later).
            let origin = plot.ctx().input(|i| i.pointer.press_origin());
            if response.drag_started()
                && let Some(o) = origin.map(|o| transform.value_from_position(o))
                && let Some(high) = near(o)
            {
                drag = Some(HandleDrag {
                    high,
                    value: pointer.map_or(o.x, |p| p.x),
                });
            }
            if let (Some(d), Some(p)) = (drag.as_mut(), pointer) {
                d.value = p.x;
            }
            if response.hovered() && (drag.is_some() || pointer.and_then(near).is_some()) {
                plot.ctx().set_cursor_icon(CursorIcon::ResizeHorizontal);
            }
            released = drag.is_some() && !response.dragged();
            // While dragging, the new range in white.
            let shown = match drag {
                Some(HandleDrag { high: false, value }) => (value, hi),
                Some(HandleDrag { high: true, value }) => (lo, value),
                None => (lo, hi),
            };
            if drag.is_some() {
                for (name, v) in [("low", shown.0), ("high", shown.1)] {
                    plot.vline(VLine::new(name, v).color(Color32::WHITE).width(2.0));
                }
            }
            Some((x_of(shown.0), x_of(shown.1)))
        });
    if released && let Some(d) = drag.take() {
        let (lo, hi) = range.unwrap_or((0.0, 1.0));
        // Never a crossed or empty range: a handle stops just short of the other one.
        let gap = ((hi - lo).abs() * 1e-3).max(1e-6);
        let (min, max) = if d.high {
            (lo, d.value.max(lo + gap))
        } else {
            (d.value.min(hi - gap), hi)
        };
        style.method = StretchMethod::Fixed {
            min: min as f32,
            max: max as f32,
        };
    }
    ui.data_mut(|m| match drag {
        Some(d) => {
            m.insert_temp(memory, d);
        }
        None => m.remove::<HandleDrag>(memory),
    });
    let (low_x, high_x) = shown.inner?;
    Some(HistogramHandles {
        rect: shown.response.rect,
        low_x,
        high_x,
    })
}
