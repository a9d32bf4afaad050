//! Comparing two layers (two dates of a tile, or one scene in two band combinations):
//! a **swipe**, one layer drawn left of a vertical divider and the other right of it, the
//! divider dragged across the map or set in the panel (only clip rectangles change: each
//! layer draws its own textures); or **side by side**, two maps of the same centre and zoom,
//! moved together, one layer in each. The other layers draw as usual; a search heatmap
//! follows its scene's side.

use egui::{Color32, Id, Rect, RichText, Sense, Stroke, Ui};

use super::LayerId;
use super::scene_layer::SceneLayer;

/// How two layers are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareMode {
    /// One map, a divider between the two layers.
    Swipe,
    /// Two linked maps, one layer in each.
    SideBySide,
}

/// The two layers, how they are compared, and the divider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerSwipe {
    pub left: LayerId,
    pub right: LayerId,
    /// Divider position, as a fraction of the map's width (swipe).
    pub at: f32,
    pub mode: CompareMode,
}

impl LayerSwipe {
    /// Where `layer` may draw on a map showing `map`: its side, the whole map for a layer
    /// not in the swipe.
    pub fn clip_of(&self, layer: LayerId, map: Rect) -> Rect {
        let x = self.x(map);
        let mut r = map;
        if layer == self.left {
            r.set_right(x);
        } else if layer == self.right {
            r.set_left(x);
        }
        r
    }

    /// The divider's screen x on `map`.
    pub fn x(&self, map: Rect) -> f32 {
        map.left() + self.at.clamp(0.0, 1.0) * map.width()
    }

    /// Draw the divider and let it be dragged (call inside the map, after the layers).
    pub fn divider_ui(&mut self, ui: &Ui, map: Rect, names: (&str, &str)) {
        self.at = drag_divider(ui, map, self.at, Id::unique("layer-swipe-divider"));
        // above the scale bar and the attributions (bottom left / right)
        draw_divider(ui.painter(), map, self.x(map), names, map.bottom() - 84.0);
    }
}

/// A divider at `at` (a fraction of `map`'s width) that the pointer can take and drag
/// across the map (a band 12 points wide; dragging it does not pan the map): the new
/// fraction. Used by the layer swipe and the two-model swipe.
pub fn drag_divider(ui: &Ui, map: Rect, at: f32, id: Id) -> f32 {
    let x = map.left() + at.clamp(0.0, 1.0) * map.width();
    let handle = Rect::from_min_max(
        egui::pos2(x - 6.0, map.top()),
        egui::pos2(x + 6.0, map.bottom()),
    );
    let resp = ui
        .interact(handle, id, Sense::drag())
        .on_hover_cursor(egui::CursorIcon::ResizeHorizontal);
    if resp.dragged() && map.width() > 0.0 {
        (at + resp.drag_delta().x / map.width()).clamp(0.0, 1.0)
    } else {
        at
    }
}

/// A vertical divider at `x` across `map` with the two sides' names beside it (left one
/// right-aligned to it), their tops at `y`.
pub fn draw_divider(painter: &egui::Painter, map: Rect, x: f32, names: (&str, &str), y: f32) {
    painter.line_segment(
        [egui::pos2(x, map.top()), egui::pos2(x, map.bottom())],
        Stroke::new(2.0, Color32::WHITE),
    );
    let font = egui::FontId::proportional(13.0);
    for (text, anchor, dx) in [
        (names.0, egui::Align2::RIGHT_TOP, -6.0),
        (names.1, egui::Align2::LEFT_TOP, 6.0),
    ] {
        let galley = painter.layout_no_wrap(text.to_owned(), font.clone(), Color32::WHITE);
        let rect = anchor
            .anchor_size(egui::pos2(x + dx, y), galley.size())
            .expand(3.0);
        painter.rect_filled(rect, 3.0, Color32::from_black_alpha(170));
        painter.galley(rect.min + egui::vec2(3.0, 3.0), galley, Color32::WHITE);
    }
}

/// A layer's name at the top centre of its map (side by side).
pub fn draw_map_title(painter: &egui::Painter, map: Rect, name: &str) {
    let font = egui::FontId::proportional(13.0);
    let galley = painter.layout_no_wrap(name.to_owned(), font, Color32::WHITE);
    let rect = egui::Align2::CENTER_TOP
        .anchor_size(egui::pos2(map.center().x, map.top() + 8.0), galley.size())
        .expand(3.0);
    painter.rect_filled(rect, 3.0, Color32::from_black_alpha(170));
    painter.galley(rect.min + egui::vec2(3.0, 3.0), galley, Color32::WHITE);
}

/// The "Compare two layers" section of the layers panel: on/off, swipe or side by side,
/// the two layers, the divider.
pub fn swipe_ui(ui: &mut Ui, swipe: &mut Option<LayerSwipe>, layers: &[SceneLayer]) {
    if layers.len() < 2 {
        *swipe = None;
        return;
    }
    let mut on = swipe.is_some();
    ui.checkbox(&mut on, "Compare two layers");
    if !on {
        *swipe = None;
        return;
    }
    let s = swipe.get_or_insert(LayerSwipe {
        left: layers[0].id,
        right: layers[1].id,
        at: 0.5,
        mode: CompareMode::Swipe,
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut s.mode, CompareMode::Swipe, "swipe");
        ui.radio_value(&mut s.mode, CompareMode::SideBySide, "side by side");
    });
    // a closed layer leaves the swipe to the others
    if !layers.iter().any(|l| l.id == s.left) {
        s.left = layers[0].id;
    }
    if !layers.iter().any(|l| l.id == s.right) || s.right == s.left {
        s.right = layers
            .iter()
            .map(|l| l.id)
            .find(|&id| id != s.left)
            .unwrap_or(s.right);
    }
    for (label, side, salt) in [
        ("left", &mut s.left, "swipe-left"),
        ("right", &mut s.right, "swipe-right"),
    ] {
        ui.horizontal(|ui| {
            let l = ui.label(label);
            let name = layers
                .iter()
                .find(|x| x.id == *side)
                .map_or_else(String::new, SceneLayer::name);
            egui::ComboBox::from_id_salt(salt)
                .selected_text(name)
                .width(200.0)
                .show_ui(ui, |ui| {
                    for layer in layers {
                        ui.selectable_value(side, layer.id, layer.name());
                    }
                })
                .response
                .labelled_by(l.id);
        });
    }
    if s.mode == CompareMode::Swipe {
        ui.add(egui::Slider::new(&mut s.at, 0.0..=1.0).text("divider"));
        ui.label(RichText::new("or drag the divider on the map").small());
    } else {
        ui.label(RichText::new("the two maps move together").small());
    }
}
