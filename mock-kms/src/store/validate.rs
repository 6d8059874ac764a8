//! Checks a state file before the lab trusts it: everything the running mock takes for granted
//! about its keys must hold for a loaded file too, or the file is refused at start with the
//! field and the reason (`keys[2] (azure-demo) versions[0].material: not a PKCS#8 RSA-2048
//! private key`), never accepted to fail later with a 500 on every call.
//!
//! What is checked: key and alias names; each key's cloud id has its provider's shape and no two
//! keys of a provider share one; the spec is one the provider offers; versions exist, have ids
//! of their provider's form (GCP: increasing integers), unique in the key (and, for Azure, in
//! the lab, since the parsed-key cache is keyed by version id); the material matches the spec
//! (AES-256: 32 bytes; RSA: a PKCS#8 RSA private key of the spec's size; EC: a PKCS#8 P-256
//! key) and is gone exactly when the key is destroyed; aliases point at existing AWS keys.

use std::collections::{BTreeMap, BTreeSet};

use ekm_vocab::Cloud;

use super::{Snapshot, StoredKey, StoredMaterial};
use crate::keys::{KeySpec, KeyState};
use crate::state::validate_key_name;

/// The first problem found, as `field: why`.
pub(super) fn check(snapshot: &Snapshot) -> Result<(), String> {
    let mut names = BTreeSet::new();
    let mut ids = BTreeMap::new();
    let mut azure_versions = BTreeMap::new();
    for (index, key) in snapshot.keys.iter().enumerate() {
        let field = format!("keys[{index}] ({})", key.name);
        validate_key_name(&key.name).map_err(|e| format!("{field}.name: {e}"))?;
        if !names.insert(key.name.as_str()) {
            return Err(format!("{field}.name: a key of that name appears earlier"));
        }
        check_id(key).map_err(|why| format!("{field}.id: {why}"))?;
        if let Some(other) = ids.insert((key.provider, key.id.as_str()), key.name.as_str()) {
            return Err(format!(
                "{field}.id: key `{other}` has the same {} id `{}`",
                key.provider, key.id
            ));
        }
        KeySpec::parse_for(key.provider, key.spec.as_str())
            .map_err(|e| format!("{field}.spec: {e}"))?;
        check_versions(key).map_err(|why| format!("{field}.{why}"))?;
        if key.provider == Cloud::Azure {
            for version in &key.versions {
                if let Some(other) = azure_versions.insert(version.id.as_str(), &key.name) {
                    return Err(format!(
                        "{field}.versions: version id `{}` is also a version of Azure key \
                         `{other}`; Azure version ids must be unique in the lab",
                        version.id
                    ));
                }
            }
        }
    }
    for (alias, target) in &snapshot.aliases {
        let field = format!("aliases.{alias}");
        validate_key_name(alias).map_err(|e| format!("{field}: {e}"))?;
        match snapshot.keys.iter().find(|key| key.name == *target) {
            None => return Err(format!("{field}: points at unknown key `{target}`")),
            Some(key) if key.provider != Cloud::Aws => {
                return Err(format!(
                    "{field}: points at `{target}`, a {} key; aliases point at AWS keys",
                    key.provider
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The cloud id has its provider's shape.
fn check_id(key: &StoredKey) -> Result<(), String> {
    let ok = match key.provider {
        // arn:aws:kms:REGION:ACCOUNT:key/ID
        Cloud::Aws => {
            let parts: Vec<&str> = key.id.splitn(6, ':').collect();
            matches!(parts[..], ["arn", "aws", "kms", region, account, resource]
                if !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource.strip_prefix("key/").is_some_and(url_safe))
        }
        // projects/P/locations/L/keyRings/R/cryptoKeys/K
        Cloud::Gcp => {
            let parts: Vec<&str> = key.id.split('/').collect();
            matches!(parts[..], ["projects", p, "locations", l, "keyRings", r, "cryptoKeys", k]
                if [p, l, r, k].into_iter().all(url_safe))
        }
        // The vault key name.
        Cloud::Azure => url_safe(&key.id),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not {}",
            key.id,
            match key.provider {
                Cloud::Aws => "an AWS KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
                Cloud::Gcp =>
                    "a Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)",
                Cloud::Azure => "a Key Vault key name (letters, digits, '-' and '_')",
            }
        ))
    }
}

/// 1–128 of ASCII letters, digits, `-`, `_` and `.`: safe as one URL path segment.
fn url_safe(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 128
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Version ids and material; the error starts with the field (`versions[1].id: …`).
fn check_versions(key: &StoredKey) -> Result<(), String> {
    if key.versions.is_empty() {
        return Err("versions: a key has at least one version".into());
    }
    let destroyed = key.state == KeyState::Destroyed;
    let mut seen = BTreeSet::new();
    let mut last_gcp = 0u64;
    for (index, version) in key.versions.iter().enumerate() {
        let field = format!("versions[{index}]");
        if !seen.insert(version.id.as_str()) {
            return Err(format!(
                "{field}.id: version `{}` appears twice",
                version.id
            ));
        }
        if key.provider == Cloud::Gcp {
            let number = version.id.parse::<u64>().ok().filter(|n| *n > last_gcp);
            last_gcp = number.ok_or_else(|| {
                format!(
                    "{field}.id: `{}` is not a Cloud KMS version number (a positive integer, \
                     increasing from one version to the next)",
                    version.id
                )
            })?;
        } else if !url_safe(&version.id) || version.id.contains('.') {
            return Err(format!(
                "{field}.id: `{}` is not a version id (letters and digits)",
                version.id
            ));
        }
        match (
            &version.material,
            destroyed || version.state == KeyState::Destroyed,
        ) {
            // A destroyed key's or version's material is dropped at load whatever the file says
            // (files written before destruction removed it held zeroes there).
            (_, true) => {}
            (StoredMaterial::Destroyed, false) => {
                return Err(format!(
                    "{field}.material: the material is destroyed but the key is {} and the \
                     version {}",
                    key.state.as_str(),
                    version.state.as_str()
                ));
            }
            (material, false) => check_material(key.spec, material)
                .map_err(|why| format!("{field}.material: {why}"))?,
        }
    }
    Ok(())
}

/// The material is usable key material of `spec`.
fn check_material(spec: KeySpec, material: &StoredMaterial) -> Result<(), String> {
    let der = material
        .decode()
        .map_err(|_| "not valid base64".to_owned())?;
    match (spec, material) {
        (KeySpec::SymmetricDefault, StoredMaterial::Aes256(_)) if der.len() == 32 => Ok(()),
        (KeySpec::SymmetricDefault, StoredMaterial::Aes256(_)) => Err(format!(
            "an AES-256 key is 32 bytes, this one is {}",
            der.len()
        )),
        (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, StoredMaterial::Rsa(_)) => {
            let bits = match spec {
                KeySpec::Rsa2048 => 2048,
                KeySpec::Rsa3072 => 3072,
                _ => 4096,
            };
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
                .map_err(|_| format!("not a PKCS#8 RSA-{bits} private key"))?;
            let actual = pair.public_modulus_len() * 8;
            if actual == bits {
                Ok(())
            } else {
                Err(format!(
                    "an RSA-{actual} key where the spec says {}",
                    spec.as_str()
                ))
            }
        }
        (KeySpec::EcP256, StoredMaterial::EcP256(_)) => {
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &der,
            )
            .map(|_| ())
            .map_err(|_| "not a PKCS#8 EC P-256 private key".to_owned())
        }
        (spec, material) => Err(format!(
            "{} material for a {} key",
            material.kind(),
            spec.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::keys::{Key, KeyMaterial};
    use crate::state::KmsState;
    use crate::store::{StateFile, StoreError};

    use super::*;

    fn now() -> time::OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    /// A valid file's JSON: keys `aws`, `aws2`, `az` (RSA-2048), `gcp` (two versions) and alias
    /// `main` → `aws`. In the file, keys are in name order: indices 0 to 3.
    fn valid() -> Value {
        let arn = |id: &str| format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
        let mut gcp = Key::generate(
            "gcp",
            Cloud::Gcp,
            "projects/p/locations/l/keyRings/r/cryptoKeys/gcp".into(),
            KeySpec::SymmetricDefault,
            now(),
        )
        .unwrap();
        gcp.add_version(
            now(),
            KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap(),
        );
        let keys = [
            Key::generate(
                "aws",
                Cloud::Aws,
                arn("a"),
                KeySpec::SymmetricDefault,
                now(),
            ),
            Key::generate(
                "aws2",
                Cloud::Aws,
                arn("b"),
                KeySpec::SymmetricDefault,
                now(),
            ),
            Key::generate("az", Cloud::Azure, "az".into(), KeySpec::Rsa2048, now()),
        ];
        let mut state = KmsState::default();
        for key in keys.into_iter().map(Result::unwrap).chain([gcp]) {
            state.keys.insert(key.name.clone(), key);
        }
        state.aliases.insert("main".into(), "aws".into());
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("state.json"));
        file.save(&state, now()).unwrap();
        serde_json::from_str(&std::fs::read_to_string(file.path()).unwrap()).unwrap()
    }

    fn b64(bytes: &[u8]) -> Value {
        use base64::Engine as _;
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    #[test]
    fn crafted_files_are_refused_with_the_field_and_why() {
        let rsa_3072_spec = |v: &mut Value| v["keys"][2]["spec"] = json!("RSA_3072");
        type Craft = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Craft, &str)> = vec![
            (
                "garbage RSA material",
                Box::new(|v| v["keys"][2]["versions"][0]["material"]["rsa"] = b64(b"garbage")),
                "keys[2] (az).versions[0].material: not a PKCS#8 RSA-2048 private key",
            ),
            (
                "duplicate version ids",
                Box::new(|v| {
                    let first = v["keys"][0]["versions"][0].clone();
                    v["keys"][0]["versions"] = json!([first.clone(), first]);
                }),
                "keys[0] (aws).versions[1].id: version",
            ),
            (
                "a non-numeric GCP version",
                Box::new(|v| v["keys"][3]["versions"][0]["id"] = json!("one")),
                "keys[3] (gcp).versions[0].id: `one` is not a Cloud KMS version number",
            ),
            (
                "GCP versions out of order",
                Box::new(|v| v["keys"][3]["versions"][1]["id"] = json!("1")),
                "keys[3] (gcp).versions[1].id: version `1` appears twice",
            ),
            (
                "an alias pointing at a GCP key",
                Box::new(|v| v["aliases"]["main"] = json!("gcp")),
                "aliases.main: points at `gcp`, a gcp key",
            ),
            (
                "an alias pointing at no key",
                Box::new(|v| v["aliases"]["main"] = json!("nope")),
                "aliases.main: points at unknown key `nope`",
            ),
            (
                "two keys with one ARN",
                Box::new(|v| v["keys"][1]["id"] = v["keys"][0]["id"].clone()),
                "keys[1] (aws2).id: key `aws` has the same aws id",
            ),
            (
                "a malformed ARN",
                Box::new(|v| v["keys"][1]["id"] = json!("arn:aws:kms:us-east-1:1:key/b")),
                "keys[1] (aws2).id: `arn:aws:kms:us-east-1:1:key/b` is not an AWS KMS key ARN",
            ),
            (
                "a short AES key",
                Box::new(|v| v["keys"][0]["versions"][0]["material"]["aes256"] = b64(&[7; 16])),
                "keys[0] (aws).versions[0].material: an AES-256 key is 32 bytes, this one is 16",
            ),
            (
                "RSA material on a symmetric key",
                Box::new(|v| {
                    v["keys"][0]["versions"][0]["material"] =
                        v["keys"][2]["versions"][0]["material"].clone();
                }),
                "keys[0] (aws).versions[0].material: RSA material for a SYMMETRIC_DEFAULT key",
            ),
            (
                "an RSA key of another size than its spec",
                Box::new(rsa_3072_spec),
                "keys[2] (az).versions[0].material: an RSA-2048 key where the spec says RSA_3072",
            ),
            (
                "material that is not base64",
                Box::new(|v| v["keys"][0]["versions"][0]["material"]["aes256"] = json!("%%%")),
                "keys[0] (aws).versions[0].material: not valid base64",
            ),
            (
                "a spec the provider does not offer",
                Box::new(|v| v["keys"][0]["spec"] = json!("RSA_2048")),
                "keys[0] (aws).spec: unknown key spec `RSA_2048` for aws",
            ),
            (
                "a key name unsafe in URLs",
                Box::new(|v| v["keys"][0]["name"] = json!("../aws")),
                "keys[0] (../aws).name: invalid name",
            ),
            (
                "destroyed material on an enabled key",
                Box::new(|v| v["keys"][0]["versions"][0]["material"] = json!("destroyed")),
                "keys[0] (aws).versions[0].material: the material is destroyed but the key is enabled \
                 and the version enabled",
            ),
            (
                "an Azure version id shared by two keys",
                Box::new(|v| {
                    let mut twin = v["keys"][2].clone();
                    twin["name"] = json!("az2");
                    twin["id"] = json!("az2");
                    v["keys"].as_array_mut().unwrap().push(twin);
                }),
                "keys[4] (az2).versions: version id",
            ),
            (
                "a key without versions",
                Box::new(|v| v["keys"][1]["versions"] = json!([])),
                "keys[1] (aws2).versions: a key has at least one version",
            ),
            (
                "a clock past the horizon",
                Box::new(|v| v["clock"]["lab_time"] = json!("9999-06-01T00:00:00Z")),
                "clock.lab_time: 9999-06-01",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = StateFile::new(&path);
        let good = valid();
        std::fs::write(&path, good.to_string()).unwrap();
        assert!(file.load().unwrap().is_some(), "the base file is valid");
        for (what, craft, expected) in cases {
            let mut crafted = good.clone();
            craft(&mut crafted);
            std::fs::write(&path, crafted.to_string()).unwrap();
            let error = file.load().expect_err(what);
            assert!(
                matches!(error, StoreError::Invalid { .. }),
                "{what}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("state file {} is invalid: ", path.display()))
                    && message.contains(expected),
                "{what}: {message}"
            );
        }
    }

    #[test]
    fn a_destroyed_key_may_keep_legacy_zero_material_which_is_dropped() {
        let mut file = valid();
        file["keys"][2]["state"] = json!({"state": "destroyed"});
        file["keys"][2]["versions"][0]["material"] = json!({"aes256": b64(&[0; 32])});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, file.to_string()).unwrap();
        let saved = StateFile::new(&path).load().unwrap().unwrap();
        let key = saved.state.key("az").unwrap();
        assert!(matches!(key.primary().material, KeyMaterial::Destroyed));
    }
}
