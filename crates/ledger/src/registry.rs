//! The key registry the ledger reads from its own entries: `ledger.genesis`,
//! `agent.registered` and `agent.rotated`.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};

use crate::entry::{Actor, Entry, FORMAT, KIND_GENESIS, KIND_REGISTERED, KIND_ROTATED};
use crate::keys::{
    SYSTEM_ID, SYSTEM_ROLE, fingerprint, public_key_from_base64, public_key_to_base64,
};

#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub role: String,
    pub id: String,
    pub key: VerifyingKey,
    /// First seq this key may sign.
    pub from_seq: u64,
    /// Last seq this key may sign (set by a rotation).
    pub until_seq: Option<u64>,
}

/// Registered keys by fingerprint, plus the ledger origin from genesis.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub origin: Option<String>,
    keys: HashMap<String, KeyRecord>,
}

/// Registry bodies have exactly these members, so nothing rides along unexamined.
const GENESIS_FIELDS: [&str; 4] = ["format", "origin", "public_key", "fingerprint"];
const REGISTERED_FIELDS: [&str; 4] = ["role", "id", "public_key", "fingerprint"];
const ROTATED_FIELDS: [&str; 5] = ["role", "id", "old_fingerprint", "public_key", "fingerprint"];

/// Requires `body` to be an object with exactly `fields` (FORMAT.md lists them per kind).
pub(crate) fn exact_fields(kind: &str, body: &Value, fields: &[&str]) -> Result<(), String> {
    let map = body
        .as_object()
        .ok_or_else(|| format!("{kind} body must be an object"))?;
    if let Some(extra) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(format!(
            "{kind} body has unexpected field {extra:?} (its fields are exactly {})",
            fields.join(", ")
        ));
    }
    if let Some(missing) = fields.iter().find(|f| !map.contains_key(**f)) {
        return Err(format!("{kind} body is missing field {missing:?}"));
    }
    Ok(())
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, String> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("body.{name} missing or not a string"))
}

/// Decodes body.public_key and checks body.fingerprint against it.
fn key_from_body(body: &Value) -> Result<(VerifyingKey, String), String> {
    let key = public_key_from_base64(field(body, "public_key")?).map_err(|e| e.to_string())?;
    let fp = fingerprint(&key);
    if field(body, "fingerprint")? != fp {
        return Err(format!(
            "body.fingerprint does not match public_key (want {fp})"
        ));
    }
    Ok((key, fp))
}

/// Body of a genesis entry.
pub fn genesis_body(origin: &str, key: &VerifyingKey) -> Value {
    json!({"format": FORMAT, "origin": origin, "public_key": public_key_to_base64(key), "fingerprint": fingerprint(key)})
}

/// Body of an `agent.registered` entry.
pub fn registered_body(role: &str, id: &str, key: &VerifyingKey) -> Value {
    json!({"role": role, "id": id, "public_key": public_key_to_base64(key), "fingerprint": fingerprint(key)})
}

/// Body of an `agent.rotated` entry.
pub fn rotated_body(role: &str, id: &str, old_fingerprint: &str, key: &VerifyingKey) -> Value {
    json!({"role": role, "id": id, "old_fingerprint": old_fingerprint,
           "public_key": public_key_to_base64(key), "fingerprint": fingerprint(key)})
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The key the actor may sign with at `seq`: registered under the actor's fingerprint,
    /// for the same role and id, and not rotated out before `seq`.
    pub fn key_for(&self, actor: &Actor, seq: u64) -> Result<VerifyingKey, String> {
        let rec = self
            .keys
            .get(&actor.key)
            .ok_or_else(|| format!("key {} is not registered", actor.key))?;
        if rec.role != actor.role || rec.id != actor.id {
            return Err(format!(
                "key {} is registered to {}/{}, not {}/{}",
                actor.key, rec.role, rec.id, actor.role, actor.id
            ));
        }
        if seq < rec.from_seq {
            return Err(format!(
                "key {} is only valid from seq {}",
                actor.key, rec.from_seq
            ));
        }
        if let Some(until) = rec.until_seq
            && seq > until
        {
            return Err(format!(
                "key {} was rotated out at seq {until} and is not valid at seq {seq}",
                actor.key
            ));
        }
        Ok(rec.key)
    }

    /// Applies a registry entry's effect after it has been checked. Non-registry kinds are
    /// ignored. Changes take effect from the next seq, so a key signs its own rotation.
    pub fn apply(&mut self, e: &Entry) -> Result<(), String> {
        match e.kind.as_str() {
            KIND_GENESIS => self.apply_genesis(e),
            KIND_REGISTERED => {
                require_system(e)?;
                exact_fields(KIND_REGISTERED, &e.body, &REGISTERED_FIELDS)?;
                let (role, id) = (field(&e.body, "role")?, field(&e.body, "id")?);
                if role.is_empty() || id.is_empty() {
                    return Err("role and id must not be empty".into());
                }
                if role == SYSTEM_ROLE {
                    return Err("the system key changes only by agent.rotated".into());
                }
                let (key, fp) = key_from_body(&e.body)?;
                self.insert(fp, role, id, key, e.seq + 1)
            }
            KIND_ROTATED => {
                require_system(e)?;
                exact_fields(KIND_ROTATED, &e.body, &ROTATED_FIELDS)?;
                let (role, id) = (field(&e.body, "role")?, field(&e.body, "id")?);
                let old_fp = field(&e.body, "old_fingerprint")?;
                let old = self
                    .keys
                    .get_mut(old_fp)
                    .ok_or_else(|| format!("old key {old_fp} is not registered"))?;
                if old.role != role || old.id != id {
                    return Err(format!(
                        "old key {old_fp} belongs to {}/{}",
                        old.role, old.id
                    ));
                }
                if old.until_seq.is_some() {
                    return Err(format!("old key {old_fp} was already rotated out"));
                }
                let (key, fp) = key_from_body(&e.body)?;
                if self.keys.contains_key(&fp) {
                    return Err(format!("key {fp} is already registered"));
                }
                if let Some(old) = self.keys.get_mut(old_fp) {
                    old.until_seq = Some(e.seq);
                }
                self.insert(fp, role, id, key, e.seq + 1)
            }
            _ => Ok(()),
        }
    }

    fn apply_genesis(&mut self, e: &Entry) -> Result<(), String> {
        if e.seq != 1 || self.origin.is_some() {
            return Err("ledger.genesis is only valid as entry 1".into());
        }
        if e.actor.role != SYSTEM_ROLE || e.actor.id != SYSTEM_ID {
            return Err(format!("genesis actor must be {SYSTEM_ROLE}/{SYSTEM_ID}"));
        }
        exact_fields(KIND_GENESIS, &e.body, &GENESIS_FIELDS)?;
        if field(&e.body, "format")? != FORMAT {
            return Err(format!("body.format must be {FORMAT:?}"));
        }
        let origin = field(&e.body, "origin")?;
        if origin.is_empty() || origin.contains(['\n', '+', ' ']) {
            return Err("body.origin must be non-empty without spaces, '+' or newlines".into());
        }
        let (key, fp) = key_from_body(&e.body)?;
        if e.actor.key != fp {
            return Err("genesis must be signed by the key it declares".into());
        }
        self.origin = Some(origin.to_string());
        // Genesis is self-signed: the key is valid for seq 1 itself.
        self.insert(fp, SYSTEM_ROLE, SYSTEM_ID, key, 1)
    }

    /// Every key the system role has held, oldest first (a checkpoint may be signed by any
    /// of them, depending on when it was made).
    pub fn system_keys(&self) -> Vec<&KeyRecord> {
        let mut keys: Vec<&KeyRecord> = self
            .keys
            .values()
            .filter(|k| k.role == SYSTEM_ROLE && k.id == SYSTEM_ID)
            .collect();
        keys.sort_by_key(|k| k.from_seq);
        keys
    }

    fn insert(
        &mut self,
        fp: String,
        role: &str,
        id: &str,
        key: VerifyingKey,
        from_seq: u64,
    ) -> Result<(), String> {
        if self.keys.contains_key(&fp) {
            return Err(format!("key {fp} is already registered"));
        }
        self.keys.insert(
            fp,
            KeyRecord {
                role: role.to_string(),
                id: id.to_string(),
                key,
                from_seq,
                until_seq: None,
            },
        );
        Ok(())
    }
}

fn require_system(e: &Entry) -> Result<(), String> {
    if e.actor.role != SYSTEM_ROLE {
        return Err(format!("{} must be signed by the system key", e.kind));
    }
    Ok(())
}
