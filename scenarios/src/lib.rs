//! `ekm-scenarios`: stories of key lifecycle told as YAML timelines, run on simulated time.
//!
//! A scenario seeds a lab (the mock KMS with the demo tenant on port 0 and an engine reaching it
//! through the real AWS, GCP and Azure SDKs, both on one `ManualClock`), then walks a timeline:
//! at each step the clock jumps to the step's time, one action happens (seal data, rotate or
//! revoke a key, inject a fault, send traffic), and its expectations are checked along with the
//! global invariants. Hours of key lifecycle run in milliseconds, the same way every time — for
//! CI (`ekm scenario run`, JUnit) and for customer demos (`ekm play`, through [`runner::Playback`]).
//!
//! # A scenario
//!
//! A whole file (this one is run as a doc test):
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let yaml = r#"
//! name: rotation-vs-revocation-aws
//! description: |
//!   The same contract is sealed in two workspaces on two AWS keys. The customer rotates
//!   one key and disables the other: rotation keeps the data readable, revocation shreds it
//!   within the hour.
//! engine: { dek_rotation: 24h, revalidate_after: 1h }   # optional; these are the defaults
//! providers: [aws]                                      # optional; the clouds the story covers
//! keys:                                                 # extra keys, created at the start
//!   - { name: aws-second, provider: aws }               # spec: SYMMETRIC_DEFAULT by default
//! objects:
//!   contract:      { provider: aws, content: "Contract #42" }   # main workspace, alias/ekm-demo
//!   contract-copy: { provider: aws, key: aws-second, content: "Contract #42" }
//! invariants:
//!   revocation_effective_within: 1h     # objects under a revoked key unreadable by then
//!   no_plaintext_dek_on_disk: true      # objects on a real disk; no DEK in any file
//! steps:
//!   - at: 0s
//!     encrypt: [contract, contract-copy]
//!   - after: 1m
//!     read-all:
//!     note: both copies are read once; their DEKs are cached for an hour
//!     expect: { outcome: ok }
//!   - at: 10m
//!     rotate: aws-demo                  # key and fault actions expect `ok` unless told
//!   - after: 0s
//!     disable: aws-second
//!   - at: 1h
//!     decrypt: contract-copy
//!     note: still served from the DEK cache
//!     expect:
//!       outcome: ok
//!       kms_calls: { provider: aws, op: decrypt, exactly: 0 }
//!   - at: 1h2m
//!     read-all:
//!     expect:
//!       readable: contract
//!       unreadable: { contract-copy: KeyDisabled }
//!   - after: 10m
//!     outage: { provider: aws, for: 20m }      # also latency, error-rate, throttle
//!   - after: 30m
//!     traffic: { operations: 1000, over: 50m, provider: aws, reads: 0.5 }
//!     expect:
//!       outcome: ok
//!       kms_calls: [{ provider: aws, op: encrypt, max: 1 }]
//!       cache: { provider: aws, active_deks: 1, decrypt_entries: { min: 1 } }
//! "#;
//! let scenario = ekm_scenarios::validate::parse(yaml, "example.yaml")?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let report = runtime.block_on(ekm_scenarios::runner::run(ekm_scenarios::runner::LoadedScenario {
//!     file: None,
//!     scenario,
//! }));
//! assert!(report.passed(), "{}", report.failure_summary());
//! # Ok(()) }
//! ```
//!
//! The vocabulary:
//! - **time** — each step has `at:` (since the start) or `after:` (since the previous step
//!   ended; a traffic step ends when its window does). Times never go backwards.
//! - **data** — `encrypt: OBJ | [OBJ…]` (seal and store, under the object's provider's project
//!   `proj_demo/<provider>`), `decrypt: OBJ | [OBJ…]`, `read-all:`, and `traffic: {operations,
//!   over, provider: P | [P…], reads}` (operations spread evenly over the window, round-robin
//!   over providers; a deterministic `reads` fraction re-opens earlier traffic envelopes).
//! - **keys** — `rotate`, `disable`, `enable`, `schedule-deletion`, `destroy`, `revoke-access`,
//!   `restore-access`, `revoke-trust`, `restore-trust` take a key name (`aws-demo`, `gcp-demo`,
//!   `azure-demo` or a declared key); `alias-swap: {alias: ekm-demo, to: KEY}` repoints the AWS
//!   alias the AWS project is registered with; `switch-key: {provider, to: KEY}` re-registers a
//!   project on another key (the seed's "switching the KMS identifier is a revocation").
//! - **faults** — `latency: {provider, ms}`, `error-rate: {provider, rate, error}` (`error` ∈
//!   `unavailable`, `internal`, `access-denied`, `throttled`; the rate is deterministic),
//!   `throttle: {provider, limit, per}` (on lab time), `outage: {provider}`; each with `for:`
//!   (the window; the runner removes the fault when it ends), optional `op` (`encrypt`,
//!   `decrypt`, `auth`, `any`; default encrypt+decrypt, an outage everything) and `key`.
//! - **the customer's external key manager** — a declared key may be backed by a key of the
//!   customer's own HSMs: `keys: [{name: aws-hsm, provider: aws, external_key: hsm-kek}]` (AWS:
//!   a key in an external key store; GCP: a Cloud EKM key; several cloud keys may share one
//!   external key, one AWS key per external key). Every wrap and unwrap of such a key makes a
//!   hop from the cloud's KMS to the lab's XKS proxy, opaque to the engine.
//!   `external-key: {key: KEY, action: disable | enable | delete}` acts on the external key
//!   behind cloud key `KEY`, in the customer's manager (the cloud key stays `enabled`; disable
//!   and delete are revocations of every cloud key it backs); `hsm-fleet: {status: ACTIVE |
//!   DEGRADED | UNAVAILABLE, for}` sets the fleet's health; `hop-fault: {fault, for}` slows or
//!   breaks the hop — `fault: latency` with `ms`, `error` with `error` (an XKS error name,
//!   `ThrottlingException`, …) and optional `rate`, `malformed` with optional `rate`,
//!   `unreachable`, `wrong-credentials`. The clouds wait 250 ms for the proxy (the XKS
//!   specification's timeout); a top-level `hop_timeout: 2s` changes that (a story that is not
//!   about latency can spare a loaded CI machine the spec's tight budget).
//! - **the customer's access documents** — a top-level `access: {aws: {trust_policy,
//!   role_policies: {NAME: DOC}, key_policies: {KEY: DOC}}, gcp: {providers, policies: {KEY |
//!   RESOURCE: DOC}, custom_roles}, azure: {service_principals, role_definitions,
//!   role_assignments, vault}}` replaces the demo tenant's documents at the start (a list replaces
//!   the whole list); each DOC is inline YAML in the JSON's shape or `{file: PATH}` relative to
//!   the scenario, as the cloud's CLI prints it (`aws iam get-role`, `aws kms get-key-policy`,
//!   `aws iam get-role-policy`, `gcloud … describe/get-iam-policy --format=json`, `az role
//!   assignment list`), each read and checked at load. Steps edit them as the customer would:
//!   `put-statement: {policy: trust | key | role, key, name, statement: DOC}` (replaces a
//!   statement of the same `Sid`), `remove-statement: {policy, key, name, sid}`, `put-binding:
//!   {key | resource, role, members, condition}`, `remove-binding: {key | resource, role,
//!   members}`, `put-assignment: {role, key | scope: vault | resource-group | subscription | ID,
//!   principal}`, `remove-assignment: {…}`, `delete-service-principal:` (EKM's, or `{app_id}`),
//!   `put-access: {aws, gcp, azure}` (as `access:`, mid-story). An edit that takes EKM's access
//!   or trust away from a key is a revocation for `revocation_effective_within`. `projects:
//!   {NAME: {provider, key, project_id, subject}}` declares other EKM projects reaching the keys
//!   through the same service — another customer's project (its own ExternalId and audience), or
//!   another workload on the same GCP issuer (its own token `sub`) — for objects' `project:`.
//! - **expect** — `outcome: ok | <ErrorKind>` (`AccessDenied`, `KeyDisabled`, `KeyNotFound`,
//!   `KeyDestroyed`, `Throttled`, `Unavailable`, `InvalidCiphertext`, `Authentication`,
//!   `Rejected`, `Transport`, `UnknownKey`, `NoProvider`, `Envelope`, `Store`, `Refused`, `Other`);
//!   `readable: OBJ | [OBJ…]`; `unreadable: OBJ | [OBJ…] | {OBJ: ErrorKind}`; `kms_calls: {provider,
//!   op: encrypt|decrypt|auth|any, outcome: ok|failed|<the cloud's code>, trace: TEXT, exactly |
//!   min | max, window}` (one or a list; counted from the mock's call log during the step, or over
//!   the last `window` of lab time; `trace` counts only calls the documents refused with a trace
//!   containing TEXT — the deciding statement, binding or assignment); `cache: {provider,
//!   active_deks, decrypt_entries}` (live entries; a number or `{min, max}`); `hop_calls:
//!   {provider, key, op: encrypt|decrypt|any, outcome: ok|failed|timeout|<XKS error>|…, exactly |
//!   min | max, window}` (hops the clouds made to the external key manager, counted from their
//!   side of the hop like `kms_calls`); `key_state: {KEY: enabled | disabled | pending-deletion |
//!   destroyed}` (the key as its cloud shows it); `volume: {max_calls_per_1000_ops,
//!   min_hit_ratio, forecast_within}` (a `fleet-traffic` step's KMS volume, each cloud's calls
//!   within a fraction of `ekm forecast`'s).
//! - **fleets** — a top-level `fleet: {projects: 50, clouds: [aws, gcp, azure], replicas: 3,
//!   history_days: 30}` declares many customer projects, each with its own key and registration
//!   in the one lab, served by `replicas` engines with caches of their own, each project with a
//!   day's DEK of older data per history day; `fleet-traffic: {operations, over, reads, daily:
//!   {peak, swing}, bursts: [{at, for, factor}], read_age: {today, days, tail}, seed}` plays a
//!   deterministic workload on it — a rate over the day, bursts, reads of today's data or of
//!   long-tailed older days — and reports its KMS volume per cloud and per key against each
//!   cloud's published quota and price, beside the forecast ([`fleet`]).
//! - **invariants** — `revocation_effective_within: D`: after every revocation (disable,
//!   schedule-deletion, destroy, revoke-access, revoke-trust, alias-swap, switch-key, an
//!   external key disabled or deleted) not undone
//!   within D, the runner checks at exactly D later that every object sealed under the revoked
//!   key is unreadable; `no_plaintext_dek_on_disk: true`: objects live in a temporary directory
//!   and after every step no file holds any DEK (raw, hex or base64) — the DEKs are recovered by
//!   the key owner in-process (`audit`).
//!
//! Errors name the file, line and column and what was expected, e.g.
//! `scenarios/x.yaml:12:5: steps[3]: unknown action `rotat` — did you mean `rotate`?`
//! ([`validate`]).
//!
//! # Layout
//!
//! - [`schema`] — the file format as Rust types (serde, unknown fields refused, suggestions).
//! - [`time`] — durations (`2h30m`) and how reports print lab time.
//! - [`validate`] — loading: YAML errors with positions, then the meaning (references, times).
//! - [`runner`] — the discrete-event runner: [`runner::Playback`] step by step, [`runner::run`],
//!   [`runner::run_all`] in parallel.
//! - `audit` (private) — the `no_plaintext_dek_on_disk` auditor and which key wrapped an envelope.
//! - [`report`] — reports: the readable timeline, JSON, JUnit.
//! - `shard` (private) — `--shard I/N`: a deterministic partition of a library over CI jobs.
//! - [`cli`] — `ekm scenario run | validate | list` for the `ekm` binary.
//! - [`fleet`] — many projects and replicas under a realistic workload: the fleet model, its
//!   schedule, the analytic forecast of KMS volume and the volume report of a run.
//!
//! The scenario library lives beside the crate in `scenarios/*.yaml`; `cargo test` runs each file
//! as its own test case (`tests/library.rs`).

mod audit;
pub mod cli;
pub mod fleet;
pub mod report;
pub mod runner;
pub mod schema;
mod shard;
pub mod time;
pub mod validate;
