//! Numbers that may arrive as strings. Helix's debug templates can only
//! send strings (`port = "{1}"`), and so can vimspector's `${var}`
//! substitutions; `"5678"` is read as 5678. The schema still says
//! `integer`/`number`: that is what an editor that can should write.

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

struct Number;

impl Visitor<'_> for Number {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, or a string holding one")
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<f64, E> {
        v.trim().parse().map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
}

/// `config::check` has already said what is wrong in the user's terms;
/// these refuse what slips through rather than cast it (`70000 as u16`
/// is 4464).
pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = d.deserialize_any(Number)?;
    if n.fract() != 0.0 || !(1.0..=65535.0).contains(&n) {
        return Err(D::Error::custom(format!("{n} is not a TCP port (1 to 65535)")));
    }
    u16::try_from(n as u32).map_err(|_| D::Error::custom(format!("{n} is not a TCP port (1 to 65535)")))
}

/// A replica number, from 1.
pub fn replica<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = d.deserialize_any(Number)?;
    if n.fract() != 0.0 || !(1.0..=65535.0).contains(&n) {
        return Err(D::Error::custom(format!("{n} is not a replica number (1 or more)")));
    }
    u16::try_from(n as u32).map_err(|_| D::Error::custom(format!("{n} is not a replica number (1 or more)")))
}

/// At most a day: `Duration::from_secs_f64` panics on what does not fit.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let n = d.deserialize_any(Number)?;
    if !n.is_finite() || !(0.0..=86400.0).contains(&n) {
        return Err(D::Error::custom(format!("{n} is not a number of seconds from 0 to 86400")));
    }
    Ok(n)
}
