//! The scale benchmark of issue 13: a fleet of N projects × 3 replicas over 24 lab hours with
//! 1,000 operations per project (1,000,000 at 1,000 projects), every KMS call a real wire call
//! to the mock, for N = 10, 100, 1,000. Prints, per size, wall time (setup: keys, replicas,
//! sign-ins, 30 days of older data; traffic), the CPU time and peak RSS of the process, the
//! KMS calls (and the forecast's), sign-ins and operations, the load average, and wall time
//! per operation as a ratio to the smallest fleet's, measured in the same run.
//!
//! `cargo bench -p ekm-scenarios --bench fleet_scale` runs all three sizes; `-- 1000` runs one.
//! The goal: 1,000 projects in < 60 s wall and < 2 GiB RSS on a 2-core machine.
//!
//! Each size runs in a process of its own (this binary again), so its peak RSS and CPU time
//! are its own. That process trusts the system's CA bundle file alone (`SSL_CERT_FILE`, with
//! `SSL_CERT_DIR` unset): the GCP SDK builds two HTTP clients per sign-in (the subject token's
//! and the STS exchange's), each loading every trusted root; with the hashed directory as well
//! (Debian's default, and this machine's environment) each root is read and parsed twice and
//! every entry of the directory is looked up, which was half of a 10-project run's CPU time. The
//! roots trusted are the same; a fleet compresses a day of hourly sign-ins into a minute, so a
//! cost per sign-in that a real replica pays once an hour dominates the lab.

use std::process::Command;

use ekm_engine::config::EngineSettings;
use ekm_scenarios::fleet::forecast::{ForecastInput, Sessions, forecast};
use ekm_scenarios::fleet::{FleetSpec, Workload};
use ekm_scenarios::runner::simulate;

const OPERATIONS_PER_PROJECT: u64 = 1000;

/// Set in the environment of the process that runs one size.
const ONE_SIZE: &str = "EKM_FLEET_SCALE_ONE_SIZE";

/// The system's CA bundle where `SSL_CERT_FILE` does not name one.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const HEADER: &str = "projects  operations  setup_s  traffic_s  wall_s  cpu_s  us_per_op  ratio  \
                      peak_rss_mib  kms_calls  forecast  sign_ins  load_before  load_after";

fn workload(projects: u32) -> Workload {
    serde_yaml::from_str(&format!(
        "{{operations: {}, over: 24h, reads: 0.8, seed: 13, \
          daily: {{peak: 14h, swing: 0.6}}, bursts: [{{at: 9h, for: 10m, factor: 4}}], \
          read_age: {{today: 0.9, days: 30, tail: 1.2}}}}",
        u64::from(projects) * OPERATIONS_PER_PROJECT
    ))
    .expect("the bench's workload parses")
}

/// A field of a `/proc/self/status` line such as `VmHWM:  1234 kB`, in KiB.
fn status_kib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of this process so far, in seconds (`/proc/self/stat` counts in
/// USER_HZ, 100 per second on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The one-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs one size in this process and prints its row (µs per operation in the ratio column's
/// place is filled in by the parent) and the volume report.
fn run_one(projects: u32) {
    let load_before = load();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
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
        sessions: Sessions::LabClock,
    });
    let wall = (run.setup + run.traffic).as_secs_f64();
    let volume = &run.outcome.volume;
    println!(
        "{projects:>8}  {:>10}  {:>7.1}  {:>9.1}  {wall:>6.1}  {:>5.1}  {:>9.1}  RATIO  {:>12.0}  {:>9}  {:>8.0}  {:>8}  {load_before:>11}  {:>10}",
        workload.operations,
        run.setup.as_secs_f64(),
        run.traffic.as_secs_f64(),
        cpu_seconds().unwrap_or(f64::NAN),
        wall / workload.operations as f64 * 1e6,
        status_kib("VmHWM:").unwrap_or(f64::NAN) / 1024.0,
        volume.calls(),
        predicted.calls(),
        volume.sign_ins(),
        load(),
    );
    for line in volume.lines() {
        println!("    {line}");
    }
}

fn main() {
    let sizes: Vec<u32> = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => vec![n.parse().expect("a number of projects")],
        None => vec![10, 100, 1000],
    };
    if std::env::var_os(ONE_SIZE).is_some() {
        sizes.into_iter().for_each(run_one);
        return;
    }
    let bundle = std::env::var_os("SSL_CERT_FILE").or_else(|| {
        std::path::Path::new(SYSTEM_BUNDLE)
            .exists()
            .then(|| SYSTEM_BUNDLE.into())
    });
    match &bundle {
        Some(file) => println!("trusted roots: {} alone", file.to_string_lossy()),
        None => println!("trusted roots: the system's defaults (no CA bundle file found)"),
    }
    println!("{HEADER}");
    let exe = std::env::current_exe().expect("this benchmark's path");
    let mut baseline: Option<f64> = None;
    for projects in sizes {
        let mut command = Command::new(&exe);
        command.arg(projects.to_string()).env(ONE_SIZE, "1");
        if let Some(file) = &bundle {
            command
                .env("SSL_CERT_FILE", file)
                .env_remove("SSL_CERT_DIR");
        }
        let output = command.output().expect("the benchmark runs itself");
        assert!(
            output.status.success(),
            "{projects} projects: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let per_op: f64 = text
            .lines()
            .next()
            .and_then(|row| row.split_whitespace().nth(6)?.parse().ok())
            .expect("a row with µs per operation");
        let ratio = per_op / *baseline.get_or_insert(per_op);
        print!("{}", text.replacen("RATIO", &format!("{ratio:>5.2}"), 1));
    }
}
