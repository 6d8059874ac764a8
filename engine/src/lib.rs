//! The EKM Lab envelope engine: envelope encryption of customer data under customer-managed KMS
//! keys, behaving as the Enterprise Key Management design in `shared/seeds/` describes.
//!
//! The engine generates data encryption keys (DEKs) itself, has the customer's key encryption key
//! (KEK) wrap them into eDEKs through a provider, seals data into self-describing envelopes that
//! carry the eDEK, and caches DEKs in memory only — on the encrypt path one active DEK per
//! (project, KEK), rotated every `dek_rotation`; on the decrypt path eDEK → DEK entries that live
//! `revalidate_after` — so KMS calls stay far fewer than operations while a customer's revocation
//! still takes effect within `revalidate_after`. Every time-based decision reads the lab
//! [`clock`], so a scenario can run a day of key lifecycle in milliseconds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ekm_engine::EngineError> {
//! use std::sync::Arc;
//! use ekm_engine::clock::ManualClock;
//! use ekm_engine::provider::memory::MemoryKek;
//! use ekm_engine::{EncryptionContext, Engine, ProjectId};
//!
//! let project = ProjectId::from("proj_demo");
//! let engine = Engine::builder(Arc::new(ManualClock::default()))
//!     .provider(project.clone(), Arc::new(MemoryKek::new("demo")))
//!     .build();
//! let context = EncryptionContext::new().with("object", "notes.txt");
//! let envelope = engine.seal(&project, &context, b"hello").await?;
//! assert_eq!(engine.open(&project, &envelope, &context).await?.as_slice(), b"hello");
//! # Ok(())
//! # }
//! ```
//! (The in-memory KEK needs the `test-support` feature.)
//!
//! # Layout
//!
//! - [`clock`] — the lab clock (re-export of `ekm-clock`): [`Clock`](clock::Clock),
//!   `SystemClock` with a speed factor, `ManualClock` for tests and scenarios.
//! - [`envelope`] — the envelope format (DESIGN.md §3): framed AES-256-GCM under an
//!   HKDF-derived per-message key with key commitment; a total parser with typed errors.
//! - [`config`] — `ekm.yaml`: the project's EKM registration per cloud (the seed's registration
//!   parameters), engine timings, the operator's service identity; validated field by field.
//! - [`dek`] — the DEK type (random, wiped on drop, redacted in `Debug`) and its public id.
//! - [`provider`] — the seam to a KMS: the [`KeyEncryptionKey`] trait, [`KeyReference`],
//!   [`KmsError`]; an in-memory KEK for tests behind the `test-support` feature.
//! - [`dek_cache`] — the encrypt- and decrypt-path DEK caches: rotation, re-validation, expiry
//!   on lab time, single-flight KMS calls, retries of transient failures.
//! - [`events`] — the [`EngineEvent`] stream and the cache [`Snapshot`] for UIs.
//! - [`registration`] — connects the KEK providers an `ekm.yaml` registers ([`registration::Cloud`]).
//! - [`store`] — where envelopes are kept: the [`ObjectStore`] trait, a filesystem store with
//!   atomic writes and an in-memory store.
//! - [`engine`] — the [`Engine`] tying them together: `seal`/`open`, `put`/`get`, per-project
//!   KEK registration.
//!
//! # Features
//!
//! - `aws-lc` (default): AES-256-GCM, HKDF and SHA-256 from aws-lc-rs.
//! - `rustcrypto`: the same from the pure-Rust RustCrypto crates; wins when both are enabled.
//! - `test-support`: [`provider::memory`].

pub use ekm_clock as clock;

pub mod config;
mod crypto;
pub mod dek;
pub mod dek_cache;
pub mod engine;
pub mod envelope;
pub mod events;
pub mod provider;
pub mod registration;
pub mod store;

pub use dek::{Dek, DekId};
pub use dek_cache::RetryPolicy;
pub use engine::{Engine, EngineBuilder, EngineConfig, EngineError};
pub use envelope::{EncryptionContext, EnvelopeError, Plaintext, ProjectId};
pub use events::{CacheEntryView, CachePath, EngineEvent, EventKind, Snapshot};
pub use provider::{KeyEncryptionKey, KeyReference, KmsError, KmsOp, WrappedDek};
pub use store::{FsStore, MemoryStore, ObjectName, ObjectStore, StoreError};
