//! Each cloud's published request quota for the calls the engine makes (Encrypt and Decrypt
//! with a symmetric key on AWS and GCP, RSA-2048 encrypt and decrypt on Azure) and its price
//! per 10,000 requests, with the source of each figure (DESIGN.md §9.5, and where it marks a
//! figure unverified, what a look-up found).
//!
//! Quotas belong to the *customer*: AWS counts per account and Region, Azure per vault and
//! Region, GCP per project and region. Each fleet project is a customer with its own key, so a
//! quota is compared with the busiest key's calls per second — the fleet's total is what the
//! operator's service sends to each cloud, not what any one customer is allowed.

use ekm_vocab::Cloud;
use serde::Serialize;

/// A cloud's published figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Published {
    /// The cloud.
    pub cloud: Cloud,
    /// Requests per second one customer may send, if published as a fixed default.
    pub quota_per_second: Option<f64>,
    /// What the quota counts and where it comes from.
    pub quota: &'static str,
    /// US dollars per 10,000 requests.
    pub price_per_10k_usd: f64,
    /// Where the price comes from, and whether the cloud's own page confirmed it.
    pub price: &'static str,
}

/// The published figures of `cloud`.
pub fn published(cloud: Cloud) -> Published {
    match cloud {
        Cloud::Aws => Published {
            cloud,
            // The lab's AWS keys are in us-east-1.
            quota_per_second: Some(100_000.0),
            quota: "symmetric cryptographic operations, shared per account and Region: \
                    100,000/s in us-east-1, us-west-2, eu-west-1 (the lab's keys are in \
                    us-east-1), 20,000/s in six others, 10,000/s elsewhere (KMS Developer Guide, \
                    requests-per-second; DESIGN.md §9.5)",
            price_per_10k_usd: 0.03,
            price: "$0.03 per 10,000 requests after 20,000 free a month (aws.amazon.com/kms/pricing; \
                    unverified in DESIGN.md §9.5, the same figure found on third-party \
                    summaries of that page, e.g. wring.co/blog/aws-kms-pricing-guide)",
        },
        Cloud::Gcp => Published {
            cloud,
            quota_per_second: None,
            quota: "cryptographic requests per project and region; no fixed default is \
                    published: hosting-project quotas are enforced per second and, since \
                    2026-02-16, set from each project's usage (cloud.google.com/kms/quotas; \
                    DESIGN.md §9.5 leaves the crypto limit unverified)",
            price_per_10k_usd: 0.03,
            price: "$0.03 per 10,000 cryptographic operations, SOFTWARE protection level, \
                    effective 2025-03-17 (cloud.google.com/kms/pricing; DESIGN.md §9.5)",
        },
        Cloud::Azure => Published {
            cloud,
            // 4,000 transactions per 10 seconds.
            quota_per_second: Some(400.0),
            quota: "RSA-2048 software keys: 4,000 transactions per 10 s per vault and Region \
                    other than CREATE (HSM keys 2,000), a subscription 5x that; 429 beyond \
                    (azure-docs key-vault service-limits; DESIGN.md §9.5)",
            price_per_10k_usd: 0.03,
            price: "$0.03 per 10,000 transactions for software-protected RSA-2048 keys — \
                    UNVERIFIED: azure.microsoft.com/pricing/details/key-vault was not readable \
                    here; the figure is a third-party summary (gist samngms/be1363b9, 2018)",
        },
    }
}

impl Published {
    /// The cost in US dollars of `requests` requests (ignoring AWS's free 20,000 a month).
    pub fn cost_usd(&self, requests: f64) -> f64 {
        requests / 10_000.0 * self.price_per_10k_usd
    }

    /// `per_second` against the quota, in words (`0.003 % of the 100000/s quota`).
    pub fn quota_text(&self, per_second: f64) -> String {
        match self.quota_per_second {
            Some(quota) => format!(
                "{:.3} % of the {quota:.0}/s quota",
                100.0 * per_second / quota
            ),
            None => "no fixed quota published".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_design_section_9_5() {
        assert_eq!(published(Cloud::Aws).quota_per_second, Some(100_000.0));
        assert_eq!(published(Cloud::Gcp).quota_per_second, None);
        assert_eq!(published(Cloud::Azure).quota_per_second, Some(400.0));
        let aws = published(Cloud::Aws);
        assert!((aws.cost_usd(1_000_000.0) - 3.0).abs() < 1e-9);
        assert_eq!(aws.quota_text(1_000.0), "1.000 % of the 100000/s quota");
        assert_eq!(
            published(Cloud::Gcp).quota_text(5.0),
            "no fixed quota published"
        );
        for cloud in Cloud::ALL {
            let p = published(cloud);
            assert!(p.quota.contains("DESIGN.md") || p.quota.contains("cloud.google.com"));
            assert!(!p.price.is_empty());
        }
    }
}
