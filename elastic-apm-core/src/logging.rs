//! The agent's own log lines, through the `log` crate (target `elastic_apm`), filtered
//! by `log_level` so central configuration can turn them up or down.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warning as u8);

pub(crate) fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed) && level != LogLevel::Off
}

macro_rules! agent_log {
    ($level:ident, $log:ident, $($arg:tt)+) => {
        if $crate::logging::enabled($crate::config::LogLevel::$level) {
            log::$log!(target: "elastic_apm", $($arg)+);
        }
    };
}

macro_rules! error { ($($arg:tt)+) => { $crate::logging::agent_log!(Error, error, $($arg)+) }; }
macro_rules! warning { ($($arg:tt)+) => { $crate::logging::agent_log!(Warning, warn, $($arg)+) }; }
macro_rules! info { ($($arg:tt)+) => { $crate::logging::agent_log!(Info, info, $($arg)+) }; }
macro_rules! debug { ($($arg:tt)+) => { $crate::logging::agent_log!(Debug, debug, $($arg)+) }; }

pub(crate) use {agent_log, debug, error, info, warning};
