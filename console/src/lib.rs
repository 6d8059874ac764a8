//! `ekm-console`: the `ekm` binary's terminal UI — a live EKM lab in one screen. Keys in three
//! clouds, data being sealed, DEKs appearing in the cache and aging out, rotation timers counting
//! down, every KMS call scrolling past, and a keystroke away from rotating or revoking a key to
//! watch what happens to the data (DESIGN.md §1, §2).
//!
//! The UI follows The Elm Architecture (DESIGN.md §7): a [`Model`](model::Model), the
//! [`Action`](model::Action)s that change it, a pure [`update`](update::update) returning
//! [`Effect`](model::Effect)s, and a pure [`view`](view::view) drawing it for a lab time —
//! so the whole screen is snapshot-tested on ratatui's `TestBackend` with a `ManualClock`.
//!
//! # Layout
//!
//! - [`cli`] — the clap tree: `ekm` alone opens the console; `--speed`, `--config`, …
//! - [`commands`] — `ekm encrypt`, `ekm decrypt` and `ekm check`: scripting a registration.
//! - [`check`] — `ekm check`'s verdicts: sign-in, key state and permissions, each with a hint.
//! - [`explain`] — `ekm check --explain`: the deciding document part of each condition and the
//!   lint of the documents behind the key, read from the lab's mock.
//! - [`lint`] — `ekm lint FILE…`: the least-privilege lint on access documents.
//! - [`forecast`] — `ekm forecast`: a fleet's KMS request volume computed from its parameters.
//! - [`model`] — the state, [`Action`](model::Action) and [`Effect`](model::Effect).
//! - `keymap` (private) — the key table (`keymap::BINDINGS`) behind both `map_key` and the
//!   help overlay; mouse mapping.
//! - [`update`] — `update(&mut Model, Action) -> Vec<Effect>`.
//! - [`view`] — `view(&Model, now, &mut Frame)` and the pane layout.
//! - [`ring`] — bounded buffers: the call log and per-minute counts.
//! - [`backend`] — what the console runs against: the embedded lab, an `ekm.yaml`
//!   registration, or a scenario's lab (`ekm play FILE`); reads keys, DEK caches and the call
//!   log into the model.
//! - [`workload`] — the demo workload sealing and re-opening objects.
//! - [`story`] — story mode (`ekm demo`, `ekm play FILE`): beats, narration and the pinned
//!   objects; `pinned` (private) reads those objects' wrapping key, state and readability.
//! - [`driver`] — the effect loop: performs what `update` asks, feeds the results back.
//! - [`runtime`] — the `select!` loop over input, ticks, task reports and Ctrl-C.
//! - `terminal` (private) — raw mode and the alternate screen, restored on exit and on panic.

pub mod backend;
pub mod check;
pub mod cli;
pub mod commands;
pub mod driver;
pub mod explain;
pub mod forecast;
mod keymap;
pub mod lint;
pub mod model;
mod pinned;
pub mod ring;
pub mod runtime;
pub mod story;
mod terminal;
pub mod update;
pub mod view;
pub mod workload;
