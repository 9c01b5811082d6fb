//! Progress on stderr for long work; invisible when stderr is not a terminal, so logs and CI
//! output stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A counting bar: `⠋ applying [12/40] ConfigMap/web/settings`, drawn on stderr when it is a
/// terminal (as the shell found it).
pub fn counter(len: u64, verb: &str, stderr_is_terminal: bool) -> ProgressBar {
    let target = if stderr_is_terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let template = format!("{{spinner}} {verb} [{{pos}}/{{len}}] {{wide_msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
