//! The HTML report's section for a `fleet-traffic` step: the fleet's KMS calls per minute per
//! cloud with the forecast's beside them (the cold-start spike and its echo an hour later show
//! here), each cloud's calls, peak and p99 per second against its published quota and price,
//! and the busiest keys.

use std::fmt::Write as _;

use super::svg::{escape, nice_max, num};
use super::{ScenarioReport, plural};
use crate::fleet::volume::FleetVolume;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 1180.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 190.0;
/// Keys listed in the busiest-keys table.
const KEYS_SHOWN: usize = 10;

/// Writes the volume section of every fleet step of `report` (nothing when it has none).
pub(super) fn sections(out: &mut String, report: &ScenarioReport) {
    for step in &report.steps {
        if let Some(volume) = &step.volume {
            section(out, step.index, volume);
        }
    }
}

fn section(out: &mut String, step: usize, volume: &FleetVolume) {
    let sim = &volume.simulated;
    let _ = write!(
        out,
        r#"<h3>KMS request volume of the fleet (step {})</h3><p class="facts volume-summary">{} projects × {} replica{} · {} operations · <b>{} KMS calls</b> ({:.1} per 1,000 operations; forecast {:.0}) · cache hit ratio {:.1} % · {} sign-ins counted apart</p>"#,
        step + 1,
        sim.projects,
        sim.replicas,
        plural(sim.replicas as usize),
        sim.operations,
        sim.calls(),
        sim.calls_per_1000_ops(),
        volume.forecast.calls(),
        100.0 * sim.hit_ratio(),
        sim.sign_ins(),
    );
    per_minute_chart(out, volume);
    clouds_table(out, volume);
    keys_table(out, volume);
    out.push_str(r#"<ul class="sources">"#);
    for cloud in &sim.clouds {
        let _ = write!(
            out,
            "<li><b>{}</b> — quota: {}; price: {}</li>",
            cloud.cloud,
            escape(cloud.published.quota),
            escape(cloud.published.price)
        );
    }
    out.push_str("</ul>");
}

/// Simulated calls per minute per cloud (solid) and the forecast's (dashed).
fn per_minute_chart(out: &mut String, volume: &FleetVolume) {
    let sim = &volume.simulated;
    let minutes = sim.window_secs.div_ceil(60).max(1) as f64;
    let highest = sim
        .clouds
        .iter()
        .flat_map(|c| c.per_minute.iter().copied())
        .chain(
            volume
                .forecast
                .clouds
                .iter()
                .flat_map(|c| c.per_minute.iter().map(|v| v.ceil() as u64)),
        )
        .max()
        .unwrap_or(0);
    let max = nice_max(highest).max(1) as f64;
    let x = |minute: f64| LEFT + (RIGHT - LEFT) * minute / minutes;
    let y = |calls: f64| BOTTOM - (BOTTOM - TOP) * calls / max;
    let _ = write!(
        out,
        r#"<svg class="chart volume" viewBox="0 0 {WIDTH} 215" role="img" aria-label="KMS calls per minute per cloud, simulated and forecast"><g class="axis"><text x="30" y="{}" class="tick">{max}/min</text><text x="30" y="{BOTTOM}" class="tick">0</text>"#,
        num(TOP + 8.0),
    );
    for hour in 0..=(minutes / 60.0) as u64 {
        let at = x(hour as f64 * 60.0);
        let _ = write!(
            out,
            r#"<line x1="{at}" x2="{at}" y1="{TOP}" y2="{BOTTOM}" class="grid"/><text x="{at}" y="208" class="tick">{hour}h</text>"#,
            at = num(at),
        );
    }
    out.push_str("</g>");
    let line = |points: Vec<(f64, f64)>| -> String {
        points
            .iter()
            .map(|(m, c)| format!("{},{}", num(x(*m)), num(y(*c))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (cloud, forecast) in sim.clouds.iter().zip(&volume.forecast.clouds) {
        let simulated = cloud
            .per_minute
            .iter()
            .enumerate()
            .map(|(m, c)| (m as f64 + 0.5, *c as f64))
            .collect();
        let expected = forecast
            .per_minute
            .iter()
            .enumerate()
            .map(|(m, c)| (m as f64 + 0.5, *c))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="vline {c}" data-cloud="{c}" points="{}"><title>{c}: simulated calls per minute</title></polyline><polyline class="vforecast {c}" points="{}"><title>{c}: forecast calls per minute</title></polyline>"#,
            line(simulated),
            line(expected),
            c = cloud.cloud,
        );
    }
    out.push_str("</svg>");
    out.push_str(r#"<p class="legend"><span class="key aws">aws</span> <span class="key gcp">gcp</span> <span class="key azure">azure</span> <span class="note">solid: simulated, every call a wire call to the mock; dashed: ekm forecast</span></p>"#);
}

fn clouds_table(out: &mut String, volume: &FleetVolume) {
    out.push_str(r#"<table class="steps volume"><thead><tr><th>cloud</th><th>projects</th><th>KMS calls</th><th>forecast</th><th>wraps</th><th>unwraps</th><th>peak /s</th><th>p99 /s</th><th>busiest minute</th><th>busiest key /s</th><th>quota /s per customer</th><th>busiest key's share</th><th>price /10k</th><th>cost of the window</th><th>sign-ins</th></tr></thead><tbody>"#);
    for (c, f) in volume.simulated.clouds.iter().zip(&volume.forecast.clouds) {
        let (quota, share) = match c.published.quota_per_second {
            Some(q) => (
                format!("{q:.0}"),
                format!("{:.3} %", 100.0 * c.key_peak_per_second as f64 / q),
            ),
            None => ("not published".to_owned(), "—".to_owned()),
        };
        let _ = write!(
            out,
            r#"<tr data-cloud="{}"><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.0}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} (forecast {})</td><td class="num">{} (forecast {})</td><td class="num">{}</td><td class="num">{}</td><td class="num">{quota}</td><td class="num">{share}</td><td class="num">${}</td><td class="num">${:.4}</td><td class="num">{}</td></tr>"#,
            c.cloud,
            c.cloud,
            c.projects,
            c.calls(),
            f.calls(),
            c.wraps,
            c.unwraps,
            c.peak_per_second,
            f.peak_per_second,
            c.p99_per_second,
            f.p99_per_second,
            c.peak_per_minute,
            c.key_peak_per_second,
            c.published.price_per_10k_usd,
            c.cost_usd,
            c.sign_ins,
        );
    }
    out.push_str("</tbody></table>");
}

fn keys_table(out: &mut String, volume: &FleetVolume) {
    let keys = &volume.simulated.keys;
    let _ = write!(
        out,
        r#"<table class="steps keys"><thead><tr><th>busiest keys ({} of {})</th><th>cloud</th><th>KMS calls</th><th>busiest minute</th><th>busiest second</th></tr></thead><tbody>"#,
        keys.len().min(KEYS_SHOWN),
        keys.len()
    );
    for key in keys.iter().take(KEYS_SHOWN) {
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(&key.key),
            key.cloud,
            key.calls,
            key.peak_per_minute,
            key.peak_per_second
        );
    }
    out.push_str("</tbody></table>");
}
