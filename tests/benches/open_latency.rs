//! Open latency per provider against the mock KMS on loopback, beside a baseline measured in the
//! same run: one plain HTTP round trip to the mock (`GET /_mock/v1/clock`).
//!
//! - `cold`: every open misses the cache (the lab clock jumps past `revalidate_after` first), so
//!   it costs one KMS unwrap through the real SDK — signing, auth and the cloud's wire format.
//! - `warm`: the DEK is cached; no KMS call.
//! - `cold … + external key hop`: a cold open under an AWS external key store key / a GCP
//!   Cloud EKM key, whose unwrap also makes the hop from the KMS to the external key manager
//!   (the lab's XKS proxy on the https listener: TLS, SigV4, AES-GCM) — beside the plain cold
//!   open of the same cloud, so the hop's cost is their ratio.
//!
//! Run with `cargo bench -p ekm-tests --bench open_latency`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ekm_engine::EncryptionContext;
use ekm_engine::registration::Cloud;
use ekm_tests::Lab;

fn open_latency(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let lab = runtime.block_on(Lab::start());
    let http = reqwest::Client::new();
    let clock_url = format!("{}/_mock/v1/clock", lab.http_url());

    let mut group = c.benchmark_group("open");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    group.bench_function("baseline: loopback HTTP round trip", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let reply = http.get(&clock_url).send().await.expect("mock answers");
                reply.bytes().await.expect("body")
            })
        })
    });

    let context = EncryptionContext::new().with("object", "bench");
    let step = lab.config.engine.revalidate_after + Duration::from_secs(1);
    for cloud in Cloud::ALL {
        let (engine, project, envelope) = runtime.block_on(async {
            let (engine, project) = lab.engine(lab.kek(cloud).await);
            let envelope = engine
                .seal(&project, &context, &[7u8; 1024])
                .await
                .expect("seal");
            (engine, project, envelope)
        });
        group.bench_function(format!("cold {cloud}: one KMS unwrap"), |b| {
            b.iter(|| {
                lab.advance(step);
                runtime
                    .block_on(engine.open(&project, &envelope, &context))
                    .expect("cold open")
            })
        });
        group.bench_function(format!("warm {cloud}: cached DEK"), |b| {
            b.iter(|| {
                runtime
                    .block_on(engine.open(&project, &envelope, &context))
                    .expect("warm open")
            })
        });
    }
    for cloud in [Cloud::Aws, Cloud::Gcp] {
        let (engine, project, envelope) = runtime.block_on(async {
            let (kek, _) = lab.external_kek(cloud, &format!("bench-{cloud}")).await;
            let (engine, project) = lab.engine(kek);
            let envelope = engine
                .seal(&project, &context, &[7u8; 1024])
                .await
                .expect("seal through the hop");
            (engine, project, envelope)
        });
        group.bench_function(format!("cold {cloud} + external key hop"), |b| {
            b.iter(|| {
                lab.advance(step);
                runtime
                    .block_on(engine.open(&project, &envelope, &context))
                    .expect("cold open through the hop")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, open_latency);
criterion_main!(benches);
