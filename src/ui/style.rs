//! Colors named by what they mean, and the `--color` decision they follow.

use owo_colors::OwoColorize;

/// The `--color` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Color when standard output is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always color, even when NO_COLOR is set or output is not a terminal.
    Always,
    /// Never color.
    Never,
}

/// Decides color once, from the flag, the `NO_COLOR` convention and whether stdout is a
/// terminal. `--color always` wins over `NO_COLOR`, as the explicit flag should.
pub fn color_enabled(choice: ColorChoice, no_color_env: bool, stdout_is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_terminal && !no_color_env,
    }
}

/// Styles named by what they mean; renderers take a `Style` value and never probe the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn new(color: bool) -> Self {
        Style { color }
    }

    /// No escape codes at all (files, pipes, JSON, markdown).
    pub fn plain() -> Self {
        Style { color: false }
    }

    pub fn is_colored(&self) -> bool {
        self.color
    }

    fn paint(&self, text: &str, f: impl Fn(&str) -> String) -> String {
        if self.color {
            f(text)
        } else {
            text.to_string()
        }
    }

    /// A line or object that will be added.
    pub fn added(&self, text: &str) -> String {
        self.paint(text, |t| t.green().to_string())
    }

    /// A line or object that will be removed.
    pub fn removed(&self, text: &str) -> String {
        self.paint(text, |t| t.red().to_string())
    }

    /// A changed object's header.
    pub fn changed(&self, text: &str) -> String {
        self.paint(text, |t| t.yellow().to_string())
    }

    /// Diff hunk markers and other structure.
    pub fn meta(&self, text: &str) -> String {
        self.paint(text, |t| t.cyan().to_string())
    }

    /// Secondary detail (origins, notes).
    pub fn dim(&self, text: &str) -> String {
        self.paint(text, |t| t.dimmed().to_string())
    }

    /// Errors.
    pub fn error(&self, text: &str) -> String {
        self.paint(text, |t| t.red().bold().to_string())
    }

    /// The `note:` that opens a note.
    pub fn note(&self, text: &str) -> String {
        self.paint(text, |t| t.cyan().bold().to_string())
    }

    /// The `warning:` that opens a warning.
    pub fn warning(&self, text: &str) -> String {
        self.paint(text, |t| t.yellow().bold().to_string())
    }

    /// Emphasis (summary counts).
    pub fn bold(&self, text: &str) -> String {
        self.paint(text, |t| t.bold().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colors_only_a_terminal_without_no_color() {
        assert!(color_enabled(ColorChoice::Auto, false, true));
        assert!(!color_enabled(ColorChoice::Auto, true, true));
        assert!(!color_enabled(ColorChoice::Auto, false, false));
    }

    #[test]
    fn explicit_choices_win() {
        assert!(color_enabled(ColorChoice::Always, true, false));
        assert!(!color_enabled(ColorChoice::Never, false, true));
    }

    #[test]
    fn plain_style_emits_no_escape_codes() {
        assert_eq!(Style::plain().added("+ x"), "+ x");
        assert!(Style::new(true).added("+ x").contains('\u{1b}'));
    }
}
