//! The tamper-evident history of a ledger (台账变更记录): append-only events,
//! each digest covering the event and the digest before it, so that editing
//! or deleting any event in the database breaks the chain from there on.
//!
//! digest(n) = SHA-256(canonical JSON of the event's fields, with
//! `prev` = hex digest(n-1)); the first event's `prev` is the ledger's
//! genesis, SHA-256("zhenggai ledger " + ledger id). Canonical JSON sorts
//! object keys and has no whitespace, so anyone can recompute it.

use serde_json::Value;
use uuid::Uuid;

/// One event, as hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ledger_id: Uuid,
    pub seq: i64,
    /// Microseconds since the Unix epoch (what PostgreSQL keeps).
    pub at_micros: i64,
    pub kind: String,
    pub finding_id: Option<Uuid>,
    pub actor: String,
    pub actor_unit: String,
    pub actor_role: String,
    pub reason: String,
    pub from_state: String,
    pub to_state: String,
    pub details: Value,
}

pub type Digest = [u8; 32];

/// The digest a ledger's chain starts from.
pub fn genesis(ledger_id: Uuid) -> Digest {
    sha256(format!("zhenggai ledger {ledger_id}").as_bytes())
}

fn sha256(bytes: &[u8]) -> Digest {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Event {
    /// The digest of this event chained after `prev`.
    pub fn digest(&self, prev: &Digest) -> Digest {
        let value = serde_json::json!({
            "ledger_id": self.ledger_id.to_string(),
            "seq": self.seq,
            "at": self.at_micros,
            "kind": self.kind,
            "finding_id": self.finding_id.map(|id| id.to_string()),
            "actor": self.actor,
            "actor_unit": self.actor_unit,
            "actor_role": self.actor_role,
            "reason": self.reason,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "details": self.details,
            "prev": hex(prev),
        });
        let mut text = String::new();
        canonical(&value, &mut text);
        sha256(text.as_bytes())
    }
}

/// Writes JSON with sorted keys and no whitespace, whatever order the map
/// keeps (jsonb reorders keys on the way back from the database).
pub fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// What a recomputation of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub events: u64,
    /// The first event whose stored digests do not match, and why.
    pub broken_at: Option<(i64, String)>,
    pub head: Digest,
}

/// Recomputes the chain from the stored events (in `seq` order, each with the
/// digests the database holds) and names the first event that does not match.
pub fn verify<'a>(
    ledger_id: Uuid,
    events: impl IntoIterator<Item = (&'a Event, &'a [u8], &'a [u8])>,
) -> ChainReport {
    let mut prev = genesis(ledger_id);
    let mut count = 0;
    for (expected_seq, (event, stored_prev, stored_digest)) in (1_i64..).zip(events) {
        count += 1;
        let fault = if event.seq != expected_seq {
            Some(format!(
                "event {expected_seq} is missing (found {} next)",
                event.seq
            ))
        } else if stored_prev != prev {
            Some("its link to the event before does not match".to_owned())
        } else if stored_digest != event.digest(&prev) {
            Some("its content does not match its digest".to_owned())
        } else {
            None
        };
        if let Some(fault) = fault {
            return ChainReport {
                events: count,
                broken_at: Some((expected_seq, fault)),
                head: prev,
            };
        }
        prev = event.digest(&prev);
    }
    ChainReport {
        events: count,
        broken_at: None,
        head: prev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ledger_id: Uuid, seq: i64, reason: &str) -> Event {
        Event {
            ledger_id,
            seq,
            at_micros: 1_690_000_000_000_000 + seq,
            kind: "finding_updated".into(),
            finding_id: None,
            actor: "village1".into(),
            actor_unit: "411081114204".into(),
            actor_role: "village".into(),
            reason: reason.into(),
            from_state: String::new(),
            to_state: String::new(),
            details: serde_json::json!({"b": 1, "a": ["x", {"z": true, "y": null}]}),
        }
    }

    fn chain(ledger: Uuid, events: &[Event]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut prev = genesis(ledger);
        events
            .iter()
            .map(|event| {
                let digest = event.digest(&prev);
                let link = (prev.to_vec(), digest.to_vec());
                prev = digest;
                link
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": 1, "a": {"d": "动", "c": [2, 1]}}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":{"c":[2,1],"d":"动"},"b":1}"#);
    }

    #[test]
    fn an_edited_event_is_named() {
        let ledger = Uuid::new_v4();
        let mut events: Vec<Event> = (1..=4).map(|seq| event(ledger, seq, "ok")).collect();
        let links = chain(ledger, &events);
        let rows = |events: &[Event]| -> ChainReport {
            verify(
                ledger,
                events
                    .iter()
                    .zip(&links)
                    .map(|(event, (prev, digest))| (event, prev.as_slice(), digest.as_slice()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(rows(&events).broken_at, None);
        assert_eq!(rows(&events).events, 4);
        events[2].reason = "edited".into();
        assert_eq!(rows(&events).broken_at.map(|(seq, _)| seq), Some(3));
    }
}
