//! Terminal presentation decided once at the edge: color and the styles named by meaning.

mod style;

pub use style::{ColorChoice, Style, color_enabled};
