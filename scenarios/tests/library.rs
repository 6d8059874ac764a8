//! Every scenario of the library (`scenarios/*.yaml`) as its own test case, and every invalid
//! fixture (`tests/invalid/*.yaml`) as one that must be refused with the message and position
//! its first lines announce:
//!
//! ```yaml
//! # error: unknown action `rotat` — did you mean `rotate`?
//! # at: 7:5
//! ```
//!
//! Run one with `cargo test -p ekm-scenarios --test library -- rotation-vs-revocation`.

use std::path::{Path, PathBuf};

use ekm_scenarios::cli::scenario_files;
use ekm_scenarios::report::{Style, render_timeline};
use ekm_scenarios::runner::{LoadedScenario, run};
use ekm_scenarios::validate::{self, ScenarioError};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut trials = Vec::new();
    for file in files(root) {
        let name = format!("library::{}", stem(&file));
        trials.push(Trial::test(name, move || run_library_scenario(&file)));
    }
    for file in files(&root.join("tests/invalid")) {
        let name = format!("invalid::{}", stem(&file));
        trials.push(Trial::test(name, move || refuse_invalid_fixture(&file)));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn files(dir: &Path) -> Vec<PathBuf> {
    scenario_files(&[dir.to_owned()]).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run_library_scenario(file: &Path) -> Result<(), Failed> {
    let scenario = validate::load(file).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(run(LoadedScenario {
        file: Some(file.to_owned()),
        scenario,
    }));
    if report.passed() {
        Ok(())
    } else {
        Err(render_timeline(&report, Style { color: false }).into())
    }
}

fn refuse_invalid_fixture(file: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let header = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("# {key}: ")))
            .map(str::to_owned)
    };
    let expected = header("error").ok_or("the fixture has no `# error:` line")?;
    let error = match validate::load(file) {
        Ok(_) => return Err("the fixture was accepted".into()),
        Err(ScenarioError::Invalid(diagnostics)) => diagnostics,
        Err(other) => return Err(other.to_string().into()),
    };
    let rendered: Vec<String> = error.iter().map(ToString::to_string).collect();
    let Some(hit) = error.iter().find(|d| d.message.contains(&expected)) else {
        return Err(format!(
            "expected a message containing {expected:?}, got:\n{}",
            rendered.join("\n")
        )
        .into());
    };
    if let Some(at) = header("at") {
        let found = hit
            .location
            .map(|l| format!("{}:{}", l.line, l.column))
            .unwrap_or_else(|| "no location".into());
        if found != at {
            return Err(format!(
                "expected the position {at}, got {found}: {}",
                rendered.join("\n")
            )
            .into());
        }
    }
    let origin = file.display().to_string();
    if !hit.to_string().starts_with(&origin) {
        return Err(format!("the message does not name the file: {hit}").into());
    }
    Ok(())
}
