//! What callers do with a model: image [`preprocess`]ing (8-bit RGB through [`pil_resize`]), [`zeroshot`] classification,
//! [`retrieval`] (cosine scores, ranking, query by example), the [`embedder`] facade that the
//! search and UI code use, and [`bench`](mod@bench) timings.

pub mod bench;
pub mod embedder;
pub mod pil_resize;
pub mod preprocess;
pub mod retrieval;
pub mod zeroshot;
