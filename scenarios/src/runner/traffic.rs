//! The `traffic:` workload: operations spread evenly over a window, round-robin over the named
//! providers' projects, a deterministic fraction of them re-opening earlier envelopes.

use ekm_engine::clock::Clock;
use ekm_engine::{EncryptionContext, ProjectId};

use super::outcome::{Done, error_kind};
use super::{Playback, to_time};
use crate::schema::{ErrorKind, Traffic};

impl Playback {
    pub(super) async fn traffic(&mut self, traffic: &Traffic) -> Done {
        let start = self.clock.now();
        let providers = &traffic.provider.0;
        let projects: Vec<ProjectId> = providers.iter().filter_map(|p| self.project(*p)).collect();
        if projects.is_empty() {
            return Done::failed(
                ErrorKind::NoProvider,
                "no registered project to send traffic to",
            );
        }
        let reads = traffic.reads.unwrap_or(0.5);
        let over = to_time(traffic.over.0);
        let total = traffic.operations;
        let mut sealed: Vec<Vec<Vec<u8>>> = vec![Vec::new(); projects.len()];
        let (mut seals, mut opens, mut failures) = (0u64, 0u64, 0u64);
        let mut first_error: Option<(ErrorKind, String)> = None;
        let mut debt = 0.0;
        let mut sampled_minute = None;
        for i in 0..total {
            let at = start + over * (i as f64 / total as f64);
            self.advance_to(at).await;
            let minute = self.elapsed().as_secs() / 60;
            if sampled_minute != Some(minute) {
                sampled_minute = Some(minute);
                self.sample_cache();
            }
            let which = (i % projects.len() as u64) as usize;
            debt += reads;
            let is_read = debt >= 1.0 - 1e-9;
            if is_read {
                debt -= 1.0;
            }
            let history = &sealed[which];
            let result = if is_read && !history.is_empty() {
                opens += 1;
                let pick = ((i as usize).wrapping_mul(7919)) % history.len();
                let envelope = &history[pick];
                let context = traffic_context(envelope);
                self.lab
                    .engine()
                    .open(&projects[which], envelope, &context)
                    .await
                    .map(|_| ())
            } else {
                seals += 1;
                let context = EncryptionContext::new().with("traffic", i.to_string());
                match self
                    .lab
                    .engine()
                    .seal(&projects[which], &context, b"traffic")
                    .await
                {
                    Ok(envelope) => {
                        sealed[which].push(envelope);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            if let Err(error) = result {
                failures += 1;
                first_error.get_or_insert_with(|| (error_kind(&error), error.to_string()));
            }
        }
        self.advance_to(start + over).await;
        let detail = format!(
            "{total} operations over {} ({seals} seals, {opens} opens), {failures} failed",
            traffic.over
        );
        match first_error {
            None => Done::ok(detail),
            Some((kind, message)) => Done {
                outcome: Err((kind, format!("{detail}; first: {message}"))),
                detail: String::new(),
            },
        }
    }
}

/// The context traffic envelopes were sealed with (`traffic` = its operation number), read back
/// from the envelope's authenticated header.
pub(super) fn traffic_context(envelope: &[u8]) -> EncryptionContext {
    ekm_engine::envelope::parse(envelope)
        .map(|parsed| parsed.header().context())
        .unwrap_or_default()
}
