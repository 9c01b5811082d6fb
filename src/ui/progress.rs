//! Progress on stderr for long work; invisible when stderr is not a terminal, so logs and CI
//! output stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A counting bar: `⠋ applying [12/40] ConfigMap/web/settings`.
pub fn counter(len: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    let template = format!("{{spinner}} {verb} [{{pos}}/{{len}}] {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
