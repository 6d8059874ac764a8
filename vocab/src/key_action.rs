//! The key owner's lifecycle actions.

/// A lifecycle action on a key (the control API's `POST /_mock/v1/keys/{name}/{action}`, the
/// scenario step of the same name, the console's key bindings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAction {
    /// New primary version; old versions keep decrypting.
    Rotate,
    /// Refuse operations until enabled.
    Disable,
    /// Undo `Disable`.
    Enable,
    /// Pending deletion for the mock's deletion window of lab time, then destroyed.
    ScheduleDeletion,
    /// Destroy the material now.
    Destroy,
    /// Remove the service's policy / role assignment.
    RevokeAccess,
    /// Give it back.
    RestoreAccess,
    /// Remove the trust (trust policy, workload identity provider, service principal): new
    /// sign-ins fail, sessions already issued live to their expiry.
    RevokeTrust,
    /// Give it back.
    RestoreTrust,
    /// End the sessions already issued to the service, where the cloud can (AWS's "revoke
    /// active sessions" role policy); trust is unchanged.
    RevokeSessions,
}

impl KeyAction {
    /// Whether the action takes the key away from the service (a revocation).
    pub fn revokes(self) -> bool {
        matches!(
            self,
            KeyAction::Disable
                | KeyAction::ScheduleDeletion
                | KeyAction::Destroy
                | KeyAction::RevokeAccess
                | KeyAction::RevokeTrust
        )
    }

    /// The revocation this action undoes, if any.
    pub fn undoes(self) -> Option<KeyAction> {
        match self {
            KeyAction::Enable => Some(KeyAction::Disable),
            KeyAction::RestoreAccess => Some(KeyAction::RevokeAccess),
            KeyAction::RestoreTrust => Some(KeyAction::RevokeTrust),
            _ => None,
        }
    }
}

impl crate::Vocabulary for KeyAction {
    const WHAT: &'static str = "action";
    /// Every action with its wire name.
    const WORDS: &'static [(&'static str, Self)] = &[
        ("rotate", KeyAction::Rotate),
        ("disable", KeyAction::Disable),
        ("enable", KeyAction::Enable),
        ("schedule-deletion", KeyAction::ScheduleDeletion),
        ("destroy", KeyAction::Destroy),
        ("revoke-access", KeyAction::RevokeAccess),
        ("restore-access", KeyAction::RestoreAccess),
        ("revoke-trust", KeyAction::RevokeTrust),
        ("restore-trust", KeyAction::RestoreTrust),
        ("revoke-sessions", KeyAction::RevokeSessions),
    ];
}

crate::vocabulary!(KeyAction);

/// An action the key's owner takes on one version of a key, as GCP (`cryptoKeyVersions` patch of
/// `state`, `:destroy`, `:restore`) and Azure (`attributes.enabled` of a key version) offer it.
/// AWS KMS keys have no per-version state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionAction {
    /// The version encrypts and decrypts nothing until enabled.
    Disable,
    /// Undo `Disable`.
    Enable,
    /// Schedule the version's destruction (GCP): its material goes when the date passes.
    Destroy,
    /// Cancel a scheduled destruction (GCP): the version comes back disabled.
    Restore,
}

impl VersionAction {
    /// Whether the action takes the version away from its users.
    pub fn revokes(self) -> bool {
        matches!(self, VersionAction::Disable | VersionAction::Destroy)
    }

    /// Why `cloud` offers no such action on a key version, if it does not: AWS KMS keys have no
    /// per-version state, and Azure Key Vault deletes and recovers whole keys only.
    pub fn unsupported_on(self, cloud: crate::Cloud) -> Option<&'static str> {
        match (cloud, self) {
            (crate::Cloud::Aws, _) => Some(
                "AWS KMS keys have no per-version state: disable the key, or schedule its deletion",
            ),
            (crate::Cloud::Azure, VersionAction::Destroy | VersionAction::Restore) => Some(
                "Azure Key Vault deletes and recovers whole keys, not versions: disable or enable \
                 the version",
            ),
            _ => None,
        }
    }
}

impl crate::Vocabulary for VersionAction {
    const WHAT: &'static str = "version action";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("disable", VersionAction::Disable),
        ("enable", VersionAction::Enable),
        ("destroy", VersionAction::Destroy),
        ("restore", VersionAction::Restore),
    ];
}

crate::vocabulary!(VersionAction);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vocabulary;

    #[test]
    fn every_action_has_a_word_and_undoing_actions_undo_revocations() {
        for (word, action) in KeyAction::WORDS {
            assert_eq!(action.as_str(), *word);
            assert_eq!(word.parse::<KeyAction>(), Ok(*action));
            if let Some(undone) = action.undoes() {
                assert!(undone.revokes() && !action.revokes(), "{action}");
            }
        }
        assert!(
            "rotat".parse::<KeyAction>().unwrap_err().to_string()
                == "unknown action `rotat` — did you mean `rotate`?"
        );
    }

    #[test]
    fn version_actions_parse_and_suggest() {
        for (word, action) in VersionAction::WORDS {
            assert_eq!(word.parse::<VersionAction>(), Ok(*action));
        }
        assert!(VersionAction::Disable.revokes() && !VersionAction::Restore.revokes());
        assert!(
            VersionAction::Enable
                .unsupported_on(crate::Cloud::Aws)
                .is_some()
        );
        assert!(
            VersionAction::Destroy
                .unsupported_on(crate::Cloud::Azure)
                .is_some()
        );
        assert!(
            VersionAction::Disable
                .unsupported_on(crate::Cloud::Azure)
                .is_none()
        );
        assert!(
            VersionAction::Restore
                .unsupported_on(crate::Cloud::Gcp)
                .is_none()
        );
        assert_eq!(
            "restor".parse::<VersionAction>().unwrap_err().to_string(),
            "unknown version action `restor` — did you mean `restore`?"
        );
    }
}
