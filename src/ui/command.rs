//! What panels ask the app to do. Panels draw from the state as it is and push
//! [`Command`]s; the app applies them once, at the end of the frame
//! ([`crate::ui::KestrelApp`]), so nothing changes while a frame is being painted and layers
//! are always addressed by their [`LayerId`], never by a position that may have moved.

use std::path::PathBuf;

use super::LayerId;
use super::scene_layer::LayerStyle;
use crate::raster::BandRole;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open files (dialog, recent list, drag-and-drop).
    Open(Vec<PathBuf>),
    /// Make a layer the one the side panels talk about.
    Select(LayerId),
    /// Fit the map to a layer's scene.
    ZoomTo(LayerId),
    /// Close a layer.
    Remove(LayerId),
    /// Move a layer one place up (-1) or down (+1) in the list; later layers draw over
    /// earlier ones.
    Move(LayerId, i32),
    SetStyle(LayerId, LayerStyle),
    AssignBands(LayerId, Vec<BandRole>),
    /// Stop a layer's background reads and renders.
    CancelJobs(LayerId),
    /// Fit the map to a lon/lat box (a STAC item's footprint).
    FitLonLat {
        west: f64,
        south: f64,
        east: f64,
        north: f64,
    },
    /// Centre the map on a point (a search hit).
    CentreOn {
        lon: f64,
        lat: f64,
    },
    /// Show a search hit of another scene: select its layer (opening the scene if it is not
    /// open) and centre the map on the hit.
    ShowHit {
        scene: PathBuf,
        lon: f64,
        lat: f64,
    },
    /// A click on the map (not a drag): inspect the pixel and pick the tile there.
    MapClicked {
        lon: f64,
        lat: f64,
    },
    /// Tell the user something (errors stay until dismissed).
    Message {
        error: bool,
        text: String,
    },
}
