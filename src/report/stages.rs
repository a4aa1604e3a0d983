//! Where a run's time went: the wall time of each stage of `voxdose run` (reading, model,
//! source, transport, outputs), in `summary.json` as `stages_s` and on one stderr line.
//!
//! On a clinical CT grid the transport is a fraction of the wall time; this is how a user
//! sees which stage to look at (and how a benchmark tells them apart).

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::time::Instant;

/// Stage wall times in the order the stages ran.
#[derive(Clone, Debug)]
pub struct Stages {
    start: Instant,
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Stages {
    /// Starts the clock.
    pub fn start() -> Self {
        let now = Instant::now();
        Stages {
            start: now,
            last: now,
            laps: Vec::new(),
        }
    }

    /// Ends the stage `name`: the time since the previous lap (or the start), which it
    /// returns. A name given twice adds to its first entry.
    pub fn lap(&mut self, name: &'static str) -> f64 {
        let now = Instant::now();
        let s = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        match self.laps.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += s,
            None => self.laps.push((name, s)),
        }
        s
    }

    /// Seconds since the start.
    pub fn total_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// One line: the total and every stage, e.g. `62.1 s in all: read_ct 4.2 s, …`.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .laps
            .iter()
            .map(|(n, t)| format!("{n} {t:.1} s"))
            .collect();
        format!("{:.1} s in all: {}", self.total_s(), parts.join(", "))
    }
}

/// A JSON object of stage → seconds, in the order the stages ran.
impl Serialize for Stages {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.laps.len()))?;
        for (name, s) in &self.laps {
            map.serialize_entry(name, s)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds spent in `name`, if it ran.
    fn get(st: &Stages, name: &str) -> Option<f64> {
        st.laps.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    #[test]
    fn laps_add_up_and_serialize_in_order() {
        let mut st = Stages::start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        st.lap("read");
        st.lap("model");
        std::thread::sleep(std::time::Duration::from_millis(20));
        st.lap("read");
        let read = get(&st, "read").unwrap();
        assert!(read >= 0.04, "two sleeps of 20 ms: {read}");
        assert!(get(&st, "model").unwrap() < read);
        assert!(get(&st, "transport").is_none());
        assert!(st.total_s() >= read + get(&st, "model").unwrap());
        let json = serde_json::to_string(&st).unwrap();
        assert!(json.starts_with("{\"read\":"), "{json}");
        assert!(json.contains(",\"model\":"), "{json}");
        assert!(st.line().contains("read "), "{}", st.line());
    }
}
