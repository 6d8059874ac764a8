//! `ekm forecast`: a fleet's KMS request volume computed from its parameters
//! ([`ekm_scenarios::fleet::forecast`]) — projects, replicas, operations and their daily shape,
//! bursts, the age of what reads open, `dek_rotation`, `revalidate_after`, sign-in sessions —
//! in milliseconds, with the assumptions printed, each cloud beside its published request
//! quota and price. `--scenario FILE` takes the fleet, its first `fleet-traffic` step and the
//! engine timings from a scenario; `--json` prints the forecast as JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ekm_engine::clock::Stopwatch;
use ekm_scenarios::fleet::forecast::{Forecast, ForecastInput, Sessions, forecast};
use ekm_scenarios::fleet::quotas::published;
use ekm_scenarios::fleet::{Burst, DailyShape, FleetSpec, ReadAge, Workload};
use ekm_scenarios::schema::Action;
use ekm_scenarios::time::LabDuration;
use ekm_vocab::Cloud;

/// Arguments of `ekm forecast`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForecastArgs {
    /// Take the fleet, its first `fleet-traffic` step and the engine timings from this scenario
    /// (the other options then change nothing but `--sessions` and `--json`).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Customer projects, each with its own key.
    #[arg(long, default_value_t = 1000)]
    pub projects: u32,
    /// The clouds their keys are in, in turn.
    #[arg(long, value_delimiter = ',', default_value = "aws,gcp,azure")]
    pub clouds: Vec<Cloud>,
    /// Replicas of the service, each with its own DEK caches.
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// Operations (seals and reads) over the window.
    #[arg(long, default_value_t = 1_000_000)]
    pub operations: u64,
    /// The window.
    #[arg(long, default_value = "24h", value_parser = lab_duration)]
    pub over: LabDuration,
    /// The share of operations that are reads.
    #[arg(long, default_value_t = 0.8)]
    pub reads: f64,
    /// When the day is busiest (with `--swing`).
    #[arg(long, default_value = "14h", value_parser = lab_duration)]
    pub peak: LabDuration,
    /// How deep the night is: 0 a flat day, 0.6 the quietest hour at 40 % of the mean.
    #[arg(long, default_value_t = 0.0)]
    pub swing: f64,
    /// A burst: `AT:FOR:FACTOR`, e.g. `9h:10m:4` (repeatable).
    #[arg(long = "burst", value_parser = burst)]
    pub bursts: Vec<Burst>,
    /// The share of reads that open today's data.
    #[arg(long, default_value_t = 0.9)]
    pub today: f64,
    /// The oldest data read, in days (the rest of the reads: 1 to DAYS days old).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// The exponent of the read age's long tail (weight d^-TAIL).
    #[arg(long, default_value_t = 1.2)]
    pub tail: f64,
    /// How long an active DEK seals before a new one replaces it.
    #[arg(long, default_value = "24h", value_parser = lab_duration)]
    pub dek_rotation: LabDuration,
    /// How long a cached DEK is used before the KMS confirms it again.
    #[arg(long, default_value = "1h", value_parser = lab_duration)]
    pub revalidate_after: LabDuration,
    /// Sign-in sessions: `lab-clock` (each cloud's default lifetime, renewed five minutes
    /// before the end as the engine does) or `wall` (one per replica and project).
    #[arg(long, default_value = "lab-clock", value_parser = sessions)]
    pub sessions: Sessions,
    /// Print the forecast as JSON.
    #[arg(long)]
    pub json: bool,
}

fn lab_duration(text: &str) -> Result<LabDuration, String> {
    LabDuration::parse(text)
}

fn burst(text: &str) -> Result<Burst, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [at, length, factor] = parts[..] else {
        return Err(format!("`{text}` is not AT:FOR:FACTOR (e.g. 9h:10m:4)"));
    };
    Ok(Burst {
        at: LabDuration::parse(at)?,
        length: LabDuration::parse(length)?,
        factor: factor
            .parse()
            .map_err(|_| format!("`{factor}` is not a factor (e.g. 4)"))?,
    })
}

fn sessions(text: &str) -> Result<Sessions, String> {
    match text {
        "lab-clock" => Ok(Sessions::LabClock),
        "wall" => Ok(Sessions::Wall),
        other => Err(format!("`{other}` is not `lab-clock` or `wall`")),
    }
}

impl ForecastArgs {
    /// The forecast's input, from the scenario or the options, checked.
    pub fn input(&self) -> anyhow::Result<ForecastInput> {
        let input = match &self.scenario {
            Some(file) => self.scenario_input(file)?,
            None => ForecastInput {
                fleet: FleetSpec {
                    projects: self.projects,
                    clouds: self.clouds.clone(),
                    replicas: self.replicas,
                    history_days: self.days,
                },
                workload: Workload {
                    operations: self.operations,
                    over: self.over,
                    reads: self.reads,
                    daily: (self.swing > 0.0).then_some(DailyShape {
                        peak: self.peak,
                        swing: self.swing,
                    }),
                    bursts: self.bursts.clone(),
                    read_age: ReadAge {
                        today: self.today,
                        days: self.days,
                        tail: self.tail,
                    },
                    seed: 0,
                },
                dek_rotation: self.dek_rotation.0,
                revalidate_after: self.revalidate_after.0,
                sessions: self.sessions,
            },
        };
        input.fleet.check()?;
        input.workload.check(&input.fleet)?;
        if input.dek_rotation.is_zero() || input.revalidate_after.is_zero() {
            bail!("--dek-rotation and --revalidate-after must be longer than zero");
        }
        Ok(input)
    }

    fn scenario_input(&self, file: &Path) -> anyhow::Result<ForecastInput> {
        let scenario = ekm_scenarios::validate::load(file)?;
        let fleet = scenario
            .fleet
            .clone()
            .with_context(|| format!("{}: the scenario declares no `fleet:`", file.display()))?;
        let workload = scenario
            .steps
            .iter()
            .find_map(|step| match &step.action {
                Action::FleetTraffic(workload) => Some(workload.clone()),
                _ => None,
            })
            .with_context(|| {
                format!("{}: the scenario has no fleet-traffic step", file.display())
            })?;
        let engine = scenario.engine.unwrap_or_default();
        Ok(ForecastInput {
            fleet,
            workload,
            dek_rotation: engine.dek_rotation,
            revalidate_after: engine.revalidate_after,
            sessions: self.sessions,
        })
    }
}

/// Runs `ekm forecast`: prints the forecast (text or JSON) on stdout.
pub fn run(args: &ForecastArgs) -> anyhow::Result<()> {
    let input = args.input()?;
    let stopwatch = Stopwatch::start();
    let result = forecast(&input);
    let took = stopwatch.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", render(&input, &result, took));
    }
    Ok(())
}

/// The forecast as text: assumptions, one line per cloud, the totals.
pub fn render(input: &ForecastInput, result: &Forecast, took: Duration) -> String {
    let mut out = format!(
        "ekm forecast: {} projects × {} replicas, {} operations over {} (computed in {} ms)\n\
         assumptions:\n",
        input.fleet.projects,
        input.fleet.replicas,
        input.workload.operations,
        input.workload.over,
        took.as_millis()
    );
    for line in &result.assumptions {
        out.push_str(&format!("  - {line}\n"));
    }
    out.push_str(
        "cloud   projects  KMS calls     wraps   unwraps  peak/s  p99/s  per key at peak/s  cost    sign-ins  one customer's quota\n",
    );
    for c in &result.clouds {
        let quota = published(c.cloud);
        let busiest_minute = c.per_minute.iter().copied().fold(0.0, f64::max);
        let per_key = busiest_minute / 60.0 / f64::from(c.projects.max(1));
        out.push_str(&format!(
            "{:<7} {:>8}  {:>9.0}  {:>8.0}  {:>8.0}  {:>6}  {:>5}  {:>17.3}  ${:<6.2} {:>8.0}  {}\n",
            c.cloud.to_string(),
            c.projects,
            c.calls(),
            c.wraps,
            c.unwraps,
            c.peak_per_second,
            c.p99_per_second,
            per_key,
            quota.cost_usd(c.calls()),
            c.sign_ins,
            quota.quota_text(per_key),
        ));
    }
    out.push_str(&format!(
        "total: {:.0} KMS calls for {} operations — {:.1} per 1,000 operations, cache hit ratio \
         {:.1} %; {:.0} sign-ins apart\n",
        result.calls(),
        result.operations,
        result.calls_per_1000_ops(),
        100.0 * result.hit_ratio(),
        result.sign_ins()
    ));
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ForecastArgs,
    }

    fn args(line: &[&str]) -> ForecastArgs {
        let mut argv = vec!["forecast"];
        argv.extend(line);
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn the_defaults_are_the_scale_benchmarks_fleet() {
        let input = args(&[]).input().unwrap();
        assert_eq!(input.fleet.projects, 1000);
        assert_eq!(input.fleet.replicas, 3);
        assert_eq!(input.workload.operations, 1_000_000);
        assert_eq!(input.sessions, Sessions::LabClock);
        let text = render(&input, &forecast(&input), Duration::from_millis(7));
        assert!(text.contains("computed in 7 ms"), "{text}");
        assert!(text.contains("assumptions:\n  - 1000 projects (aws 334, gcp 333, azure 333)"));
        assert!(text.contains("sessions on lab time"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("azure") && l.contains("of the 400/s quota"))
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("gcp") && l.contains("no fixed quota published"))
        );
    }

    #[test]
    fn options_shape_the_workload_and_nonsense_is_refused() {
        let input = args(&[
            "--swing",
            "0.5",
            "--peak",
            "13h",
            "--burst",
            "9h:10m:4",
            "--clouds",
            "gcp",
            "--sessions",
            "wall",
        ])
        .input()
        .unwrap();
        assert_eq!(input.workload.daily.unwrap().swing, 0.5);
        assert_eq!(input.workload.bursts[0].factor, 4.0);
        assert_eq!(input.fleet.clouds, [Cloud::Gcp]);
        assert_eq!(input.sessions, Sessions::Wall);
        let error = args(&["--replicas", "0"]).input().unwrap_err().to_string();
        assert_eq!(error, "replicas: a service needs at least one replica");
        let error = args(&["--days", "500"]).input().unwrap_err().to_string();
        assert!(
            error.starts_with("history_days: 500 is more than 400"),
            "{error}"
        );
        let error = args(&["--today", "1.5"]).input().unwrap_err().to_string();
        assert!(error.starts_with("read_age.today: 1.5"), "{error}");
        let cli = Cli::try_parse_from(["forecast", "--burst", "9h:4"]);
        assert!(
            cli.unwrap_err()
                .to_string()
                .contains("is not AT:FOR:FACTOR")
        );
        assert!(Cli::try_parse_from(["forecast", "--clouds", "ibm"]).is_err());
    }

    #[test]
    fn a_scenarios_fleet_is_forecast() {
        let file =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fleet-kms-volume.yaml");
        let input = args(&["--scenario", file.to_str().unwrap(), "--sessions", "wall"])
            .input()
            .unwrap();
        assert_eq!(input.fleet.projects, 50);
        assert_eq!(input.workload.operations, 20_000);
        let result = forecast(&input);
        assert!(result.calls() > 1000.0 && result.calls() < 20_000.0);
        let json = serde_json::to_string(&result).unwrap();
        assert!(json.contains("\"assumptions\"") && json.contains("\"per_minute\""));
    }
}
