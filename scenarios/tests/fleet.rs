//! The forecast (`ekm forecast`) against the simulated fleet — every KMS call a real wire call
//! to the mock — on three different workloads: each cloud's KMS calls and sign-ins (sessions on
//! lab time, renewed as the engine renews them), the wraps, the calls per 1,000 operations and
//! the cache hit ratio agree within 10 %. Measured: sign-ins simulated/forecast 0.96–1.08.

use std::time::Duration;

use ekm_engine::config::EngineSettings;
use ekm_scenarios::fleet::forecast::{ForecastInput, Sessions, forecast};
use ekm_scenarios::fleet::{FleetSpec, Workload};
use ekm_scenarios::runner::simulate;

struct Case {
    name: &'static str,
    fleet: &'static str,
    workload: &'static str,
    dek_rotation: Duration,
    revalidate_after: Duration,
}

const CASES: [Case; 3] = [
    Case {
        name: "flat day, mostly today's data",
        fleet: "{projects: 24, replicas: 2, history_days: 7}",
        workload: "{operations: 6000, over: 24h, reads: 0.7, seed: 1, \
                   read_age: {today: 0.9, days: 7, tail: 1.2}}",
        dek_rotation: Duration::from_secs(86_400),
        revalidate_after: Duration::from_secs(3600),
    },
    Case {
        name: "daily shape and a burst, old conversations",
        fleet: "{projects: 30, replicas: 3, history_days: 14}",
        workload: "{operations: 8000, over: 12h, reads: 0.8, seed: 2, \
                   daily: {peak: 6h, swing: 0.6}, bursts: [{at: 3h, for: 20m, factor: 5}], \
                   read_age: {today: 0.7, days: 14, tail: 1.0}}",
        dek_rotation: Duration::from_secs(86_400),
        revalidate_after: Duration::from_secs(3600),
    },
    Case {
        name: "hourly rotation, 15 min re-validation, one replica",
        fleet: "{projects: 12, clouds: [aws, gcp], replicas: 1, history_days: 3}",
        workload: "{operations: 5000, over: 6h, reads: 0.5, seed: 3, \
                   read_age: {today: 0.95, days: 3, tail: 1.5}}",
        dek_rotation: Duration::from_secs(3600),
        revalidate_after: Duration::from_secs(900),
    },
];

fn within(what: &str, simulated: f64, forecast: f64, failures: &mut Vec<String>) {
    let error = (simulated - forecast).abs() / forecast.max(1e-9);
    println!(
        "  {what}: simulated {simulated:.1}, forecast {forecast:.1}, error {:.1} %",
        100.0 * error
    );
    if error > 0.10 {
        failures.push(format!(
            "{what}: simulated {simulated:.1} vs forecast {forecast:.1}"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forecast_agrees_with_the_simulated_fleet_within_ten_percent() {
    let mut failures = Vec::new();
    for case in &CASES {
        let fleet: FleetSpec = serde_yaml::from_str(case.fleet).unwrap();
        let workload: Workload = serde_yaml::from_str(case.workload).unwrap();
        fleet.check().unwrap();
        workload.check(&fleet).unwrap();
        let settings = EngineSettings {
            dek_rotation: case.dek_rotation,
            revalidate_after: case.revalidate_after,
            ..EngineSettings::default()
        };
        let simulated = simulate(&fleet, &workload, settings)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let outcome = &simulated.outcome;
        assert_eq!(
            outcome.failures, 0,
            "{}: {:?}",
            case.name, outcome.first_error
        );
        let predicted = forecast(&ForecastInput {
            fleet: fleet.clone(),
            workload: workload.clone(),
            dek_rotation: case.dek_rotation,
            revalidate_after: case.revalidate_after,
            sessions: Sessions::LabClock,
        });
        let volume = &outcome.volume;
        println!(
            "{} ({:.1} s setup, {:.1} s traffic):",
            case.name,
            simulated.setup.as_secs_f64(),
            simulated.traffic.as_secs_f64()
        );
        for (sim, fc) in volume.clouds.iter().zip(&predicted.clouds) {
            within(
                &format!("{} KMS calls", sim.cloud),
                sim.calls() as f64,
                fc.calls(),
                &mut failures,
            );
            within(
                &format!("{} sign-ins", sim.cloud),
                sim.sign_ins as f64,
                fc.sign_ins,
                &mut failures,
            );
            println!(
                "  {} peak/s {} vs {}, p99/s {} vs {}",
                sim.cloud,
                sim.peak_per_second,
                fc.peak_per_second,
                sim.p99_per_second,
                fc.p99_per_second
            );
        }
        within(
            "wraps",
            volume.clouds.iter().map(|c| c.wraps as f64).sum(),
            predicted.clouds.iter().map(|c| c.wraps).sum(),
            &mut failures,
        );
        within(
            "calls per 1,000 operations",
            volume.calls_per_1000_ops(),
            predicted.calls_per_1000_ops(),
            &mut failures,
        );
        within(
            "hit ratio",
            volume.hit_ratio(),
            predicted.hit_ratio(),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "off by more than 10 %:\n{}",
        failures.join("\n")
    );
}
