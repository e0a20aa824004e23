//! Samples to things people look at: RGBA image grids, scatter plots, decoded sentences and QR
//! codes. The page and the CLI both use these, so neither does pixel maths of its own, and
//! [`View`] is the one place that decides how a sample of each kind is shown.

mod grid;
mod qr;
mod scatter;
mod text;
mod view;

pub use grid::{GAP, Grid, columns_for, image_grid, side_by_side};
pub use qr::qr;
pub use scatter::{SCATTER_SIZE, scatter};
pub use text::decode_text;
pub use view::{Rejections, View};
