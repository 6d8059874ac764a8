//! Sharding a scenario library over a CI's parallel jobs: `ekm scenario run --shard I/N` runs
//! part I of N.
//!
//! The partition is deterministic — every job computes the same one from the same files — and
//! covers every scenario exactly once. Scenarios are weighed by their wall time in a previous
//! JSON report when one is given (`--durations report.json`; unknown ones weigh the mean of the
//! known), otherwise all alike; then, heaviest first (ties by name), each goes to the lightest
//! shard so far (ties to the lowest number) — the longest-processing-time rule, within 4/3 of
//! the best balance. With equal weights that is round-robin over the names in order.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// One part of a partition: number `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// Why a shard or a durations file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// The shard is not `I/N` with 1 ≤ I ≤ N.
    #[error("shard `{given}`: expected I/N with 1 ≤ I ≤ N (e.g. 2/4)")]
    Syntax {
        /// What was given.
        given: String,
    },
    /// The durations file could not be read.
    #[error("durations {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The durations file is not an `ekm scenario run --json` report.
    #[error("durations {path}: not an `ekm scenario run --json` report: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: serde_json::Error,
    },
}

impl Shard {
    /// Shard `index` (1-based) of `count`.
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        if index == 0 || index > count {
            return Err(ShardError::Syntax {
                given: format!("{index}/{count}"),
            });
        }
        Ok(Self { index, count })
    }

    /// The shard's number, from 1.
    pub fn index(self) -> usize {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> usize {
        self.count
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax {
            given: s.to_owned(),
        };
        let (index, count) = s.split_once('/').ok_or_else(syntax)?;
        let index = index.trim().parse().map_err(|_| syntax())?;
        let count = count.trim().parse().map_err(|_| syntax())?;
        Self::new(index, count).map_err(|_| syntax())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Recorded wall times by scenario name, from a previous `ekm scenario run --json` report.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Durations(BTreeMap<String, Duration>);

impl Durations {
    /// Reads the wall times out of a JSON report.
    pub(crate) fn load(path: &Path) -> Result<Self, ShardError> {
        let text = std::fs::read_to_string(path).map_err(|source| ShardError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ShardError::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads the wall times out of a JSON report's text.
    pub(crate) fn parse(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Run {
            scenarios: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            wall: f64,
        }
        let run: Run = serde_json::from_str(json)?;
        Ok(Self(
            run.scenarios
                .into_iter()
                .filter_map(|e| Some((e.name, Duration::try_from_secs_f64(e.wall).ok()?)))
                .collect(),
        ))
    }

    /// The recorded wall time of `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Option<Duration> {
        self.0.get(name).copied()
    }
}

/// The positions in `names` (scenario names, in any order) that `shard` runs.
///
/// Every position belongs to exactly one shard of the same count, whatever the order of
/// `names`; positions come back ascending.
pub(crate) fn partition(names: &[&str], shard: Shard, durations: &Durations) -> Vec<usize> {
    let known: Vec<Duration> = names.iter().filter_map(|n| durations.get(n)).collect();
    let fallback = match known.len() {
        0 => Duration::from_secs(1),
        n => known.iter().sum::<Duration>() / n as u32,
    };
    let mut order: Vec<(Duration, &str, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (durations.get(name).unwrap_or(fallback), *name, i))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    let mut load = vec![Duration::ZERO; shard.count];
    let mut mine = Vec::new();
    for (weight, _, position) in order {
        let lightest = (0..shard.count)
            .min_by_key(|&s| (load[s], s))
            .unwrap_or_default();
        load[lightest] += weight;
        if lightest + 1 == shard.index {
            mine.push(position);
        }
    }
    mine.sort_unstable();
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_shards(names: &[&str], count: usize, durations: &Durations) -> Vec<Vec<usize>> {
        (1..=count)
            .map(|i| partition(names, Shard::new(i, count).unwrap(), durations))
            .collect()
    }

    #[test]
    fn every_scenario_runs_exactly_once_across_shards() {
        let names: Vec<String> = (0..23).map(|i| format!("scenario-{i:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let durations = Durations(
            names
                .iter()
                .take(15)
                .enumerate()
                .map(|(i, n)| ((*n).to_owned(), Duration::from_millis(10 + 37 * i as u64)))
                .collect(),
        );
        for count in 1..=8 {
            for weights in [&Durations::default(), &durations] {
                let mut seen: Vec<usize> = all_shards(&names, count, weights).concat();
                seen.sort_unstable();
                assert_eq!(seen, (0..names.len()).collect::<Vec<_>>(), "{count} shards");
            }
        }
    }

    #[test]
    fn the_partition_does_not_depend_on_the_listing_order() {
        let names: [&'static str; 5] = ["d", "a", "c", "b", "e"];
        let reversed: Vec<&'static str> = names.iter().rev().copied().collect();
        for i in 1..=2 {
            let shard = Shard::new(i, 2).unwrap();
            let pick = |list: &[&'static str]| -> Vec<&'static str> {
                let mut got: Vec<&'static str> = partition(list, shard, &Durations::default())
                    .into_iter()
                    .map(|p| list[p])
                    .collect();
                got.sort_unstable();
                got
            };
            assert_eq!(pick(&names), pick(&reversed));
        }
    }

    #[test]
    fn recorded_durations_balance_the_shards() {
        let json = r#"{"passed": true, "scenarios": [
            {"name": "long", "wall": 9.0}, {"name": "a", "wall": 3.0},
            {"name": "b", "wall": 3.0}, {"name": "c", "wall": 3.0}]}"#;
        let durations = Durations::parse(json).unwrap();
        let names = ["a", "b", "c", "long"];
        let shards = all_shards(&names, 2, &durations);
        assert_eq!(shards, vec![vec![3], vec![0, 1, 2]]);
        // Without durations it is round-robin: two and two.
        assert_eq!(
            all_shards(&names, 2, &Durations::default())
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [2, 2]
        );
    }

    #[test]
    fn malformed_shards_are_refused_by_name() {
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "1/2/3", ""] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
    }

    #[test]
    fn a_report_that_is_not_a_run_report_is_refused() {
        assert!(Durations::parse("{\"scenarios\": 3}").is_err());
        assert!(Durations::parse("not json").is_err());
    }
}
