//! The clouds EKM Lab speaks to.

/// A cloud KMS: where a customer key lives and which SDK the engine uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cloud {
    /// AWS KMS (the service assumes the customer's role with an ExternalId).
    Aws,
    /// Google Cloud KMS (workload identity federation).
    Gcp,
    /// Azure Key Vault (the operator's app in the customer's tenant; RSA keys).
    Azure,
}

impl Cloud {
    /// Every cloud, in display order.
    pub const ALL: [Cloud; 3] = [Cloud::Aws, Cloud::Gcp, Cloud::Azure];
}

impl crate::Vocabulary for Cloud {
    const WHAT: &'static str = "provider";
    /// Each cloud's word (`aws`, `gcp`, `azure`): the control API's `provider`, the envelope's
    /// provider kind and the scenario files' word.
    const WORDS: &'static [(&'static str, Self)] = &[
        ("aws", Cloud::Aws),
        ("gcp", Cloud::Gcp),
        ("azure", Cloud::Azure),
    ];
}

crate::vocabulary!(Cloud);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_words_list_the_valid_ones() {
        for cloud in Cloud::ALL {
            assert_eq!(cloud.as_str().parse::<Cloud>(), Ok(cloud));
            let json = serde_json::to_string(&cloud).unwrap();
            assert_eq!(serde_json::from_str::<Cloud>(&json).unwrap(), cloud);
        }
        let error = "ibm".parse::<Cloud>().unwrap_err().to_string();
        assert_eq!(
            error,
            "unknown provider `ibm` — expected one of `aws`, `gcp`, `azure`"
        );
    }
}
