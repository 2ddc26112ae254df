//! A domain's `[domain.lockout]` table: the directory's lockout threshold and observation window when the
//! directory does not say them (or says them wrong), and the policy in force: configured, else read from the
//! directory by the plugin (ABI 5).
//!
//! ```toml
//! [domain.lockout]
//! threshold = 5        # the directory locks an account after this many wrong passwords; 0: it never does
//! window = "30m"       # over this long (AD lockOutObservationWindow, ppolicy pwdFailureCountInterval)
//! ```

use std::time::Duration;

use dirconn_abi::LockoutPolicy;

/// What the configuration says of the directory's lockout (each key optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockoutConfig {
    /// `threshold`: overrides what the directory says.
    pub threshold: Option<u32>,
    /// `window`: overrides the directory's observation window.
    pub window: Option<Duration>,
}

impl LockoutConfig {
    /// Reads the table; the error names the key and what is wrong.
    pub fn from_value(value: Option<toml::Value>) -> Result<LockoutConfig, (String, String)> {
        let Some(value) = value else { return Ok(LockoutConfig::default()) };
        let toml::Value::Table(mut table) = value else {
            return Err(("lockout".into(), "expected a table ([domain.lockout])".into()));
        };
        let threshold = match table.remove("threshold") {
            None => None,
            Some(toml::Value::Integer(n)) if (0..=1000).contains(&n) => Some(n as u32),
            Some(_) => return Err(("lockout.threshold".into(), "expected a number from 0 to 1000".into())),
        };
        let window = match table.remove("window") {
            None => None,
            Some(toml::Value::String(s)) => match humantime::parse_duration(&s) {
                Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(7 * 86_400) => Some(d),
                _ => return Err(("lockout.window".into(), format!("`{s}` is not a duration from 1s to 7d"))),
            },
            Some(_) => return Err(("lockout.window".into(), "expected a duration such as \"30m\"".into())),
        };
        if let Some(key) = table.keys().next() {
            return Err((format!("lockout.{key}"), "is not a key of [domain.lockout] (threshold, window)".into()));
        }
        Ok(LockoutConfig { threshold, window })
    }

    /// The policy in force: the configured keys over what the directory said (`read`: `None` when it could
    /// not be asked).
    pub fn apply(&self, read: Option<LockoutPolicy>) -> LockoutPolicy {
        let mut policy = read.unwrap_or(LockoutPolicy {
            found: false,
            threshold: 0,
            window_seconds: 0,
            source: "the connector cannot read the directory's policy".into(),
        });
        if let Some(t) = self.threshold {
            policy = LockoutPolicy {
                found: true,
                threshold: t,
                window_seconds: policy.window_seconds,
                source: "[domain.lockout] threshold".into(),
            };
        }
        if let Some(w) = self.window {
            policy.window_seconds = w.as_secs();
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<LockoutConfig, (String, String)> {
        LockoutConfig::from_value(Some(toml::from_str::<toml::Value>(text).unwrap()))
    }

    #[test]
    fn the_table_overrides_the_directory() {
        let c = read("threshold = 5\nwindow = \"10m\"").unwrap();
        assert_eq!(c, LockoutConfig { threshold: Some(5), window: Some(Duration::from_secs(600)) });
        let dir = LockoutPolicy { found: true, threshold: 3, window_seconds: 1800, source: "ad".into() };
        let p = c.apply(Some(dir.clone()));
        assert_eq!((p.threshold, p.window_seconds, p.source.as_str()), (5, 600, "[domain.lockout] threshold"));
        assert_eq!(LockoutConfig::default().apply(Some(dir.clone())), dir);
        assert!(!LockoutConfig::default().apply(None).found);
        assert_eq!(read("threshold = -1").unwrap_err().0, "lockout.threshold");
        assert_eq!(read("window = \"0s\"").unwrap_err().0, "lockout.window");
        assert_eq!(read("treshold = 3").unwrap_err().0, "lockout.treshold");
    }
}
