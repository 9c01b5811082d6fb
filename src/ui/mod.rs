//! Terminal presentation decided once at the edge: the [`Shell`] that owns stdout and stderr,
//! color and the styles named by meaning, progress, prompts and interrupts.

mod progress;
pub mod shell;
mod style;
pub mod terminal;

pub use shell::{Messages, Settings, Shell, Terminals};
pub use style::{ColorChoice, Style, color_enabled};
