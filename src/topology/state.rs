//! What the topology task remembers across restarts (`[health] state_file`):
//! the highest timeline seen for each cluster (`system_identifier`), so a
//! restarted proxy still refuses an old primary while the new one is down,
//! and the timelines a promotion was already issued from.
//!
//! Without a state file the same struct lives in memory only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Topology;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    /// system_identifier → highest timeline seen.
    #[serde(default)]
    pub timelines: BTreeMap<u64, u32>,
    /// system_identifier → timeline a promotion was issued from.
    #[serde(default)]
    pub promoted_from: BTreeMap<u64, u32>,
}

impl Persisted {
    pub fn highest(&self, system_identifier: u64) -> Option<u32> {
        self.timelines.get(&system_identifier).copied()
    }

    /// The state after seeing `topology`, when that changes anything.
    pub fn record(&self, topology: &Topology) -> Option<Persisted> {
        let mut next = self.clone();
        for b in &topology.backends {
            if let (Some(id), Some(tl)) = (b.system_identifier, b.timeline) {
                let e = next.timelines.entry(id).or_insert(tl);
                *e = (*e).max(tl);
            }
        }
        (next != *self).then_some(next)
    }

    /// Reads the file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Persisted, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("state file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
            Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
        }
    }

    /// Writes a temp file next to `path`, syncs it, renames it over `path`:
    /// a crash leaves the old or the new state, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err =
            |what: &str, e: std::io::Error| format!("state file {}: {what}: {e}", path.display());
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| err("create temp", e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| err("write temp", e))?;
        std::fs::rename(&tmp, path).map_err(|e| err("rename", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Makes the rename itself durable; best effort.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::BackendState;
    use super::*;

    fn at(id: u64, tl: u32) -> BackendState {
        BackendState {
            system_identifier: Some(id),
            timeline: Some(tl),
            ..BackendState::default()
        }
    }

    #[test]
    fn records_the_highest_timeline_per_cluster() {
        let t = Topology {
            backends: vec![at(7, 1), at(7, 2), BackendState::default()],
            ..Topology::default()
        };
        let p = Persisted::default().record(&t).unwrap();
        assert_eq!(p.highest(7), Some(2));
        assert_eq!(p.record(&t), None, "unchanged");
        let older = Topology {
            backends: vec![at(7, 1)],
            ..Topology::default()
        };
        assert_eq!(p.record(&older), None, "never goes back");
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = std::env::temp_dir().join(format!("pgsplit-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert_eq!(Persisted::load(&path).unwrap(), Persisted::default());
        let mut p = Persisted::default();
        p.timelines.insert(u64::MAX, 3);
        p.promoted_from.insert(u64::MAX, 2);
        p.save(&path).unwrap();
        assert_eq!(Persisted::load(&path).unwrap(), p);
        assert!(!path.with_extension("tmp").exists());
        std::fs::write(&path, "{not json").unwrap();
        assert!(Persisted::load(&path).unwrap_err().contains("state.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
