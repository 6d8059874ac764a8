//! `ekm-mock-kms`: a local emulator of AWS KMS, Google Cloud KMS and Azure Key Vault that speaks
//! their real wire protocols and auth flows, so the real cloud SDKs and CLIs talk to it unchanged.
//! Keys can be rotated, disabled, scheduled for deletion, destroyed, have their access or trust
//! revoked, be swapped behind an alias, or be made to fail — all on the lab clock.
//!
//! # Layout
//! - [`state`]: the shared state (keys, aliases, session epochs, call log, faults, clock) and the
//!   authorization rule all three clouds share.
//! - [`keygen`]: key generation on the blocking pool, off the threads serving requests.
//! - [`keys`]: the key model — providers, specs, lifecycle states, versions, material and the
//!   symmetric ciphertext blobs of AWS and GCP keys.
//! - [`tenant`]: who is who — the demo tenant of DESIGN.md §6.
//! - [`sessions`]: the service's sign-in sessions on lab time — lifetimes per cloud, expiry.
//! - `faults` (private): fault admission — scripted latency, error rates, throttling and
//!   outages applied to one call.
//! - [`calls`]: the bounded call log; [`audit`]: each call as its cloud's own audit record
//!   (CloudTrail, Cloud Audit Logs, Key Vault `AuditEvent`).
//! - `pipeline` (private): the one request pipeline of the three clouds' routes — timing, fault
//!   admission and the call log as one middleware; each cloud adds its own `admit()`.
//! - [`error`]: the lab's error type, which each front-end renders in its cloud's dialect.
//! - [`server`]: binding the listeners and serving (`listener`, private: connections, read
//!   timeouts and the connection cap; `tls`, private: the https listener's fresh CA and leaf);
//!   [`config`] (`--config` YAML seed) and `store` (`--state` file, atomic saves) feed it.
//! - [`registration`]: the `ekm.yaml` a client needs to use this mock (`--write-config`).
//! - [`access`]: the customer's access documents in the state, decided by `ekm-access`.
//! - [`aws`], [`gcp`], `azure`: the clouds' wire protocols and auth; [`control`]: the
//!   control API under `/_mock/v1/`.
//! - [`xks`]: the external key store hop — an AWS XKS proxy on the https listener and the
//!   customer's external key manager behind it.

pub mod access;
pub mod audit;
pub mod calls;
pub mod config;
pub mod error;
mod faults;
pub mod keygen;
pub mod keys;
mod listener;
mod pipeline;
pub mod registration;
pub mod server;
pub mod sessions;
pub mod state;
mod store;
pub mod tenant;
mod tls;

pub mod aws;
mod azure;
pub mod control;
pub mod gcp;
pub mod xks;
