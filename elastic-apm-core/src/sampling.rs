//! Head-based sampling (`tracing-sampling.md`).

use std::fmt;

/// A sampling rate in `[0, 1]`, rounded half away from zero to four decimal places;
/// rates between 0 and 0.0001 become 0.0001.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct SampleRate(f64);

impl SampleRate {
    /// Sample everything (the default).
    pub const ALWAYS: SampleRate = SampleRate(1.0);
    /// Sample nothing.
    pub const NEVER: SampleRate = SampleRate(0.0);

    /// The configured rate, rounded per the spec; `None` outside `[0, 1]` or NaN.
    pub fn new(rate: f64) -> Option<Self> {
        if !(0.0..=1.0).contains(&rate) {
            return None;
        }
        let rounded = (rate * 10_000.0).round() / 10_000.0;
        Some(SampleRate(if rate > 0.0 && rounded < 0.0001 {
            0.0001
        } else {
            rounded
        }))
    }

    /// A rate received from upstream (`tracestate`), taken as it is if in `[0, 1]`.
    pub fn new_exact(rate: f64) -> Option<Self> {
        (0.0..=1.0).contains(&rate).then_some(SampleRate(rate))
    }

    /// The rate.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Makes a head-based decision with the thread's fast random generator.
    pub fn sample(self) -> bool {
        if self.0 >= 1.0 {
            true
        } else if self.0 <= 0.0 {
            false
        } else {
            fastrand::f64() < self.0
        }
    }
}

impl Default for SampleRate {
    fn default() -> Self {
        SampleRate::ALWAYS
    }
}

impl fmt::Display for SampleRate {
    /// Shortest form: `1`, `0.5`, `0.0001` (used in `tracestate`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_per_spec() {
        let r = |x| SampleRate::new(x).unwrap().get();
        assert_eq!(r(0.00001), 0.0001);
        assert_eq!(r(0.55554), 0.5555);
        assert_eq!(r(0.55555), 0.5556);
        assert_eq!(r(0.55556), 0.5556);
        assert_eq!(r(0.0), 0.0);
        assert_eq!(r(1.0), 1.0);
        assert!(SampleRate::new(1.01).is_none());
        assert!(SampleRate::new(-0.1).is_none());
        assert!(SampleRate::new(f64::NAN).is_none());
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(SampleRate::new(1.0).unwrap().to_string(), "1");
        assert_eq!(SampleRate::new(0.5).unwrap().to_string(), "0.5");
        assert_eq!(SampleRate::new(0.55555).unwrap().to_string(), "0.5556");
        assert_eq!(SampleRate::new(0.00001).unwrap().to_string(), "0.0001");
    }

    #[test]
    fn extremes_are_deterministic() {
        assert!((0..1000).all(|_| SampleRate::ALWAYS.sample()));
        assert!((0..1000).all(|_| !SampleRate::NEVER.sample()));
        let half = SampleRate::new(0.5).unwrap();
        let hits = (0..10_000).filter(|_| half.sample()).count();
        assert!((4000..6000).contains(&hits), "{hits}");
    }
}
