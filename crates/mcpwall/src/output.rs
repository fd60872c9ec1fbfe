//! Terminal styling. `anstream` drops the colours when the output is not a terminal or when
//! `NO_COLOR` is set.

use anstyle::{AnsiColor, Effects, Style};
use mcpwall_detect::Severity;

pub(crate) fn error_style() -> Style {
    Style::new()
        .fg_color(Some(AnsiColor::Red.into()))
        .effects(Effects::BOLD)
}

pub(crate) fn severity_style(s: Severity) -> Style {
    let color = match s {
        Severity::Critical => AnsiColor::BrightRed,
        Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
        Severity::Info => AnsiColor::BrightBlack,
    };
    let style = Style::new().fg_color(Some(color.into()));
    if s >= Severity::High {
        style.effects(Effects::BOLD)
    } else {
        style
    }
}

pub(crate) fn dim() -> Style {
    Style::new().effects(Effects::DIMMED)
}

pub(crate) fn bold() -> Style {
    Style::new().effects(Effects::BOLD)
}

pub(crate) fn ok_style() -> Style {
    Style::new()
        .fg_color(Some(AnsiColor::Green.into()))
        .effects(Effects::BOLD)
}
