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
    /// Remove the trust (trust policy, workload identity provider, service principal) and revoke
    /// the sessions already issued.
    RevokeTrust,
    /// Give it back (clients need new credentials).
    RestoreTrust,
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
    ];
}

crate::vocabulary!(KeyAction);

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
}
