//! The scale benchmark of issue 13: a fleet of N projects × 3 replicas over 24 lab hours with
//! 1,000 operations per project (1,000,000 at 1,000 projects), every KMS call a real wire call
//! to the mock, for N = 10, 100, 1,000. Prints wall time (setup: keys, replicas, sign-ins, 30
//! days of older data; traffic) and the process's peak RSS after each size, and wall time per
//! operation as a ratio to the smallest fleet's, measured in the same run.
//!
//! `cargo bench -p ekm-scenarios --bench fleet_scale` runs all three sizes; `-- 1000` runs one.
//! The goal: 1,000 projects in < 60 s wall and < 2 GiB RSS on a 2-core machine.

use ekm_engine::config::EngineSettings;
use ekm_scenarios::fleet::forecast::{ForecastInput, Sessions, forecast};
use ekm_scenarios::fleet::{FleetSpec, Workload};
use ekm_scenarios::runner::simulate;

const OPERATIONS_PER_PROJECT: u64 = 1000;

fn workload(projects: u32) -> Workload {
    serde_yaml::from_str(&format!(
        "{{operations: {}, over: 24h, reads: 0.8, seed: 13, \
          daily: {{peak: 14h, swing: 0.6}}, bursts: [{{at: 9h, for: 10m, factor: 4}}], \
          read_age: {{today: 0.9, days: 30, tail: 1.2}}}}",
        u64::from(projects) * OPERATIONS_PER_PROJECT
    ))
    .expect("the bench's workload parses")
}

/// The process's peak resident set size so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let sizes: Vec<u32> = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => vec![n.parse().expect("a number of projects")],
        None => vec![10, 100, 1000],
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut baseline: Option<f64> = None;
    println!(
        "projects  operations  setup_s  traffic_s  wall_s  us_per_op  ratio  peak_rss_mib  kms_calls  forecast"
    );
    for projects in sizes {
        let fleet = FleetSpec {
            projects,
            clouds: ekm_vocab::Cloud::ALL.to_vec(),
            replicas: 3,
            history_days: 30,
        };
        let workload = workload(projects);
        fleet.check().expect("a valid fleet");
        workload.check(&fleet).expect("a valid workload");
        let settings = EngineSettings::default();
        let run = runtime
            .block_on(simulate(&fleet, &workload, settings.clone()))
            .unwrap_or_else(|e| panic!("{projects} projects: {e}"));
        assert_eq!(run.outcome.failures, 0, "{:?}", run.outcome.first_error);
        let predicted = forecast(&ForecastInput {
            fleet,
            workload: workload.clone(),
            dek_rotation: settings.dek_rotation,
            revalidate_after: settings.revalidate_after,
            sessions: Sessions::Wall,
        });
        let wall = (run.setup + run.traffic).as_secs_f64();
        let per_op = wall / workload.operations as f64;
        let ratio = per_op / *baseline.get_or_insert(per_op);
        println!(
            "{projects:>8}  {:>10}  {:>7.1}  {:>9.1}  {wall:>6.1}  {:>9.1}  {ratio:>5.2}  {:>12.0}  {:>9}  {:>8.0}",
            workload.operations,
            run.setup.as_secs_f64(),
            run.traffic.as_secs_f64(),
            per_op * 1e6,
            peak_rss_mib().unwrap_or(f64::NAN),
            run.outcome.volume.calls(),
            predicted.calls(),
        );
        for line in run.outcome.volume.lines() {
            println!("    {line}");
        }
    }
}
