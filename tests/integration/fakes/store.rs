//! The zone state a fake provider keeps: zones, and the TLSA RRsets in them.

use std::collections::BTreeMap;

/// All zones of the fake account.
#[derive(Debug, Default, Clone)]
pub struct Store {
    pub zones: Vec<Zone>,
    next_id: u64,
}

/// One zone: its name (lower case, no final dot), the provider's id for it and TLSA RRsets by
/// absolute owner name.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub id: String,
    /// The zone's default TTL (Hetzner) and the smallest TTL it accepts (deSEC).
    pub ttl: u32,
    pub min_ttl: u32,
    pub rrsets: BTreeMap<String, Rrset>,
}

#[derive(Debug, Clone, Default)]
pub struct Rrset {
    /// `None`: the zone's default (Hetzner).
    pub ttl: Option<u32>,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub value: String,
    /// Per-record TTL (Cloudflare); the RRset's for the others.
    pub ttl: u32,
}

impl Store {
    pub fn new(zones: &[&str]) -> Self {
        let mut store = Self::default();
        for name in zones {
            let id = store.next_id();
            store.zones.push(Zone {
                name: name.trim_end_matches('.').to_ascii_lowercase(),
                id,
                ttl: 3600,
                min_ttl: 3600,
                rrsets: BTreeMap::new(),
            });
        }
        store
    }

    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        // Looks like the 32-hex-digit ids Cloudflare uses, and parses as a number for Hetzner.
        format!("{:032}", self.next_id)
    }

    /// The zone holding `owner` (absolute): the longest whose name ends it.
    pub fn zone_for(&mut self, owner: &str) -> Option<&mut Zone> {
        let owner = owner.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .iter_mut()
            .filter(|z| owner == z.name || owner.ends_with(&format!(".{}", z.name)))
            .max_by_key(|z| z.name.len())
    }

    pub fn zone_named(&mut self, name: &str) -> Option<&mut Zone> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones.iter_mut().find(|z| z.name == name)
    }

    pub fn zone_with_id(&mut self, id: &str) -> Option<&mut Zone> {
        self.zones.iter_mut().find(|z| z.id == id)
    }

    /// The TLSA values at `owner` (absolute).
    pub fn values(&self, owner: &str) -> Vec<String> {
        let owner = absolute(owner);
        self.zones
            .iter()
            .filter_map(|z| z.rrsets.get(&owner))
            .flat_map(|r| r.records.iter().map(|rec| rec.value.clone()))
            .collect()
    }

    /// Adds `value` at `owner` unless present; a new RRset gets `ttl`.
    pub fn add(&mut self, owner: &str, value: &str, ttl: u32) {
        let id = self.next_id();
        // invariant: tests only publish inside the fake's zones.
        let zone = self.zone_for(owner).expect("owner inside a fake zone");
        zone.add(owner, value, ttl, id);
    }
}

impl Zone {
    pub fn rrset(&self, owner: &str) -> Option<&Rrset> {
        self.rrsets.get(&absolute(owner))
    }

    pub fn add(&mut self, owner: &str, value: &str, ttl: u32, id: String) {
        let rrset = self.rrsets.entry(absolute(owner)).or_insert_with(|| Rrset {
            ttl: Some(ttl),
            records: Vec::new(),
        });
        if !rrset.records.iter().any(|r| r.value == value) {
            let ttl = rrset.ttl.unwrap_or(ttl);
            rrset.records.push(Record {
                id,
                value: value.to_string(),
                ttl,
            });
        }
    }

    pub fn remove(&mut self, owner: &str, value: &str) -> bool {
        let owner = absolute(owner);
        let Some(rrset) = self.rrsets.get_mut(&owner) else {
            return false;
        };
        let before = rrset.records.len();
        rrset.records.retain(|r| r.value != value);
        let removed = rrset.records.len() != before;
        if rrset.records.is_empty() {
            self.rrsets.remove(&owner);
        }
        removed
    }

    /// Replaces the RRset at `owner` (deletes it when `values` is empty).
    pub fn replace(&mut self, owner: &str, values: &[String], ttl: Option<u32>, ids: Vec<String>) {
        let owner = absolute(owner);
        if values.is_empty() {
            self.rrsets.remove(&owner);
            return;
        }
        let records = values
            .iter()
            .zip(ids)
            .map(|(value, id)| Record {
                id,
                value: value.clone(),
                ttl: ttl.unwrap_or(self.ttl),
            })
            .collect();
        self.rrsets.insert(owner, Rrset { ttl, records });
    }

    /// `owner` relative to the zone: `_25._tcp.mail`, or `@` at the apex.
    pub fn relative(&self, owner: &str) -> String {
        let owner = owner.trim_end_matches('.').to_ascii_lowercase();
        if owner == self.name {
            return "@".into();
        }
        owner
            .strip_suffix(&format!(".{}", self.name))
            .unwrap_or(&owner)
            .to_string()
    }

    /// The absolute owner name for a relative one (`@` is the apex).
    pub fn owner(&self, relative: &str) -> String {
        match relative {
            "" | "@" => format!("{}.", self.name),
            sub => format!("{}.{}.", sub.to_ascii_lowercase(), self.name),
        }
    }
}

pub fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}
