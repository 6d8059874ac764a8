//! Fuzz harnesses for every EKM Lab parser that takes outside bytes. Each `fuzz_targets/*.rs`
//! is one line calling into this library, so the harnesses are ordinary, tested Rust.
//!
//! | target          | what it feeds                                                     |
//! |-----------------|-------------------------------------------------------------------|
//! | `envelope`      | [`envelope`]: the envelope parser and opener, raw and tampered     |
//! | `engine_config` | [`text::engine_config`]: the `ekm.yaml` loader                     |
//! | `scenario`      | [`text::scenario`]: the scenario loader                            |
//! | `mock_control`  | [`mock`]: the http listener with the control API, fresh lab per input |
//! | `mock_http`     | [`mock`]: AWS KMS JSON + SigV4 + STS forms, GCP KMS JSON + paths + STS |
//! | `mock_azure`    | [`mock`]: Azure Key Vault key paths + JWK bodies, the Entra token form |
//!
//! The oracle: no panic, no hang, and for the mock no 5xx unless the input injected a fault.
//! How to run them: `fuzz/README.md`.

pub mod envelope;
pub mod mock;
pub mod text;
pub mod wire;
