//! The customer's external key manager (an AWS external key store or GCP Cloud EKM behind an
//! XKS proxy): what the customer does to an external key and how its HSM fleet reports health.

/// A lifecycle action the customer takes on a key in their own key manager (the control API's
/// `POST /_mock/v1/xks/keys/{id}/{action}`, the scenario step `external-key`). Every cloud key
/// the external key backs follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalKeyAction {
    /// Refuse cryptographic operations until enabled again.
    Disable,
    /// Undo `Disable`.
    Enable,
    /// Destroy the key material: the data it protects is gone for good.
    Delete,
}

impl crate::Vocabulary for ExternalKeyAction {
    const WHAT: &'static str = "external key action";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("disable", ExternalKeyAction::Disable),
        ("enable", ExternalKeyAction::Enable),
        ("delete", ExternalKeyAction::Delete),
    ];
}

crate::vocabulary!(ExternalKeyAction);

/// One HSM's health as the XKS specification spells it (`ekmFleetDetails[].healthStatus`):
/// a fleet with no member serving makes every hop fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Healthy.
    Active,
    /// Unhealthy but still serving.
    Degraded,
    /// Not serving.
    Unavailable,
}

impl crate::Vocabulary for HealthStatus {
    const WHAT: &'static str = "HSM fleet status";
    const WORDS: &'static [(&'static str, Self)] = &[
        ("ACTIVE", HealthStatus::Active),
        ("DEGRADED", HealthStatus::Degraded),
        ("UNAVAILABLE", HealthStatus::Unavailable),
    ];
}

crate::vocabulary!(HealthStatus);
