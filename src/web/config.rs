//! The `[web]` section: sessions and abuse limits of the consumer pages.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// A session unused for this long is over (WCAG-friendly default: 15 minutes).
    pub session_idle_secs: u64,
    /// A session is over this long after login whatever happens (12 hours).
    pub session_absolute_secs: u64,
    /// Per client address: login starts, status polls and form posts per second…
    pub rate_per_second: u32,
    /// …and how many may come at once.
    pub burst: u32,
    /// Flag actions (place, renew, lift) one person may start per hour.
    pub flag_actions_per_hour: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 15 * 60,
            session_absolute_secs: 12 * 3600,
            rate_per_second: 5,
            burst: 30,
            flag_actions_per_hour: 10,
        }
    }
}

impl WebConfig {
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if self.session_idle_secs == 0 {
            return Err(("web.session_idle_secs", "must be > 0"));
        }
        if self.session_absolute_secs < self.session_idle_secs {
            return Err((
                "web.session_absolute_secs",
                "must be at least web.session_idle_secs",
            ));
        }
        if self.rate_per_second == 0 || self.burst == 0 {
            return Err(("web.rate_per_second", "rate and burst must be > 0"));
        }
        if self.flag_actions_per_hour == 0 {
            return Err(("web.flag_actions_per_hour", "must be > 0"));
        }
        Ok(())
    }
}
