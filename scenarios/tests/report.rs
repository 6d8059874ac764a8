//! The shareable report in a real browser: the customer demo (`rotation-vs-revocation.yaml`) is
//! run, its report written with `write_report`, and Debian's headless `chromium` loads the page
//! from disk. The rendered DOM must show a lane per object with the right final state, the key
//! markers, the charts, and the page's own render check must report no script error and no
//! Content-Security-Policy violation (the page may fetch nothing); chromium's console log must
//! be empty. A screenshot is saved beside the test's temporary files (its path is printed).
//!
//! Without chromium the browser test is skipped with a message — except under `CI=true`, where
//! it fails (`.ci/run` installs chromium).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ekm_scenarios::report::{ScenarioReport, write_report};
use ekm_scenarios::runner::{LoadedScenario, run};
use ekm_scenarios::validate;

fn demo_report() -> ScenarioReport {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("rotation-vs-revocation.yaml");
    let scenario = validate::load(&file).expect("the demo scenario is valid");
    played(LoadedScenario {
        file: Some(file),
        scenario,
    })
}

fn played(loaded: LoadedScenario) -> ScenarioReport {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let report = runtime.block_on(run(loaded));
    assert!(report.passed(), "{}", report.failure_summary());
    report
}

/// A small fleet's day: six projects on three clouds, two replicas.
fn fleet_report() -> ScenarioReport {
    let yaml = "name: small-fleet\ndescription: six projects, two replicas, a day\n\
                fleet: {projects: 6, replicas: 2, history_days: 2}\n\
                steps:\n  - at: 0s\n    fleet-traffic: {operations: 600, over: 24h, seed: 5, \
                read_age: {today: 0.8, days: 2}}\n    expect: {outcome: ok}\n";
    let scenario = validate::parse(yaml, "small-fleet.yaml").expect("the fleet story is valid");
    played(LoadedScenario {
        file: None,
        scenario,
    })
}

/// Each cloud's volume row of a fleet report: calls, quota and price beside the forecast.
fn volume_row<'a>(html: &'a str, cloud: &str) -> &'a str {
    let marker = format!(r#"<tr data-cloud="{cloud}">"#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no volume row for {cloud}"));
    &html[at..at + html[at..].find("</tr>").expect("a closed row")]
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("EKM_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless chromium on `page` with `args`, bounded by coreutils `timeout`.
fn browse(chromium: &Path, page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("a profile directory");
    let output = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The `data-NAME` attribute of the first element with `id="ID"` in serialized HTML.
fn attribute<'a>(dom: &'a str, id: &str, name: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let tag_start = dom[..start].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(&tag[at..at + tag[at..].find('"')?])
}

fn lane_state<'a>(dom: &'a str, object: &str) -> &'a str {
    let marker = format!("data-object=\"{object}\" data-final=\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no lane for {object}"))
        + marker.len();
    &dom[at..at + dom[at..].find('"').expect("closed attribute")]
}

#[test]
fn the_report_renders_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromium is missing: .ci/run must install it (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium, or set EKM_CHROMIUM); \
             the browser test of the HTML report needs it"
        );
        return;
    };
    let report = demo_report();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    let files = write_report(&dir, &[report, fleet_report()]).expect("the report is written");
    let page = files.html.canonicalize().expect("an absolute path");

    let output = browse(&chromium, &page, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        attribute(&dom, "render-status", "data-state"),
        Some("ok"),
        "the page's render check did not pass; DOM tail: {}",
        &dom[dom.len().saturating_sub(600)..]
    );
    assert_eq!(attribute(&dom, "render-status", "data-errors"), Some("0"));
    assert_eq!(attribute(&dom, "render-status", "data-lanes"), Some("7"));
    let markers: usize = attribute(&dom, "render-status", "data-markers")
        .and_then(|m| m.parse().ok())
        .expect("a marker count");
    assert!(markers >= 1, "no key markers rendered");
    assert!(dom.contains(r#"data-kind="rotate""#), "no rotation marker");
    assert!(
        dom.contains(r#"data-kind="revoke""#),
        "no revocation marker"
    );
    for cloud in ["aws", "gcp", "azure"] {
        let rotated = lane_state(&dom, &format!("{cloud}-rotated"));
        assert!(
            rotated == "readable" || rotated == "cached",
            "{cloud}-rotated ends {rotated}"
        );
        assert_eq!(lane_state(&dom, &format!("{cloud}-revoked")), "unreadable");
    }
    assert_eq!(lane_state(&dom, "after-rotation"), "readable");
    for chart in ["chart lanes", "chart calls", "chart cache"] {
        assert!(dom.contains(chart), "no {chart} chart");
    }
    assert!(dom.contains(r#"class="bar aws""#), "no KMS-call bars");
    for cloud in ["aws", "gcp", "azure"] {
        assert!(
            dom.contains(&format!(r#"class="vline {cloud}" data-cloud="{cloud}""#)),
            "no {cloud} line in the fleet's volume chart"
        );
        assert!(volume_row(&dom, cloud).contains("$0.03"), "{cloud}'s price");
    }
    assert!(
        dom.contains("KMS request volume of the fleet"),
        "no volume section"
    );
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Content Security Policy"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let screenshot = dir.join("report.png");
    browse(
        &chromium,
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,1000",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);
    eprintln!("screenshot: {}", screenshot.display());
}

#[test]
fn the_report_is_self_contained_and_escapes_what_it_shows() {
    let mut report = demo_report();
    report.name = "<script>alert(1)</script>".into();
    report.description = "Tom & Jerry's \"demo\"".into();
    let dir = tempfile::tempdir().expect("a directory");
    let files = write_report(&dir.path().join("nested/report"), &[report]).expect("written");
    let html = std::fs::read_to_string(&files.html).expect("the page");
    assert!(!html.contains("<script>alert"), "the name was not escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Tom &amp; Jerry&#39;s &quot;demo&quot;"));
    for remote in ["http://", "https://", "src=", "@import", "url("] {
        assert!(!html.contains(remote), "the page refers to `{remote}`");
    }
    assert!(html.contains("default-src 'none'"));
    let markdown = std::fs::read_to_string(&files.markdown).expect("the summary");
    assert!(
        markdown.contains("**1 of 1 scenario(s) passed.**"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| aws-revoked | aws-revoked |"),
        "{markdown}"
    );
    assert!(markdown.contains("unreadable: KeyDisabled"), "{markdown}");
}

/// The library's HSM-outage story: each step lists the hops the clouds made to the customer's
/// external key manager, both sides of each with its own latency and outcome, and counts them
/// apart from the KMS calls.
#[test]
fn the_report_shows_each_hop_with_its_own_latency_and_outcome() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("external-hsm-down.yaml");
    let scenario = validate::load(&file).expect("the story is valid");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let report = runtime.block_on(run(LoadedScenario {
        file: Some(file),
        scenario,
    }));
    assert!(report.passed(), "{}", report.failure_summary());
    let sealed = &report.steps[0];
    let sides: Vec<&str> = sealed.hops.iter().map(|h| h.side.as_str()).collect();
    assert_eq!(
        sides.iter().filter(|s| **s == "xks").count(),
        2,
        "{sides:?}"
    );
    assert_eq!(sides.len(), 4, "both sides of each hop: {sides:?}");
    assert!(
        sealed
            .hops
            .iter()
            .all(|h| h.latency_ms > 0.0 && h.outcome == "ok")
    );
    let cached = &report.steps[3];
    assert!(cached.hops.is_empty() && cached.kms_calls == 0);

    let dir = tempfile::tempdir().expect("a directory");
    let files = write_report(dir.path(), &[report]).expect("written");
    let html = std::fs::read_to_string(&files.html).expect("the page");
    assert!(html.contains(r#"<div class="hop-count">+2 hops</div>"#));
    assert!(html.contains(r#"<tr class="hop ok" data-side="xks"><td>↳ aws KMS → XKS proxy</td><td>Encrypt</td><td>aws-hsm</td>"#));
    assert!(html.contains(r#"<tr class="hop fail" data-side="xks"><td>↳ gcp KMS → XKS proxy</td><td>Decrypt</td><td>gcp-hsm</td>"#));
    assert!(html.contains(r#"<td>InternalException</td>"#));
    assert!(html.contains(" ms</td>"), "latencies in ms");
}

#[test]
fn an_unwritable_report_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("written");
    let error = write_report(&file, &[]).expect_err("a file is not a directory");
    assert_eq!(
        error.to_string(),
        format!("cannot write {}", file.display())
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn a_fleet_report_shows_its_volume_beside_quota_price_and_forecast() {
    let report = fleet_report();
    let volume = report.steps[0]
        .volume
        .as_ref()
        .expect("the fleet step's volume");
    assert_eq!(volume.simulated.projects, 6);
    assert!(volume.simulated.calls() > 0 && volume.simulated.calls() < 600);
    let timeline = ekm_scenarios::report::render_timeline(
        &report,
        ekm_scenarios::report::Style { color: false },
    );
    assert!(
        timeline.contains("fleet of 6 projects × 2 replicas: 600 operations"),
        "{timeline}"
    );
    assert!(timeline.contains("forecast: "), "{timeline}");
    let json = ekm_scenarios::report::render_json(std::slice::from_ref(&report));
    for field in [
        "\"volume\"",
        "\"per_minute\"",
        "\"p99_per_second\"",
        "\"assumptions\"",
    ] {
        assert!(json.contains(field), "{field} in the JSON");
    }
    let html = ekm_scenarios::report::html::render_html(&[report]);
    assert!(
        volume_row(&html, "aws").contains("<td class=\"num\">100000</td>"),
        "AWS's quota"
    );
    assert!(
        volume_row(&html, "gcp").contains("not published"),
        "GCP's quota"
    );
    assert!(
        volume_row(&html, "azure").contains("<td class=\"num\">400</td>"),
        "Azure's quota"
    );
    assert!(html.contains("busiest keys ("), "the busiest keys");
    assert!(
        html.contains("UNVERIFIED"),
        "the unverified Azure price is marked"
    );
}
