//! Terminal presentation decided once at the edge: color and the styles named by meaning.

mod progress;
mod style;
pub mod terminal;

pub use progress::counter;
pub use style::{ColorChoice, Style, color_enabled};
