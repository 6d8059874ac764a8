//! Seal + open through the engine on a warm cache, beside raw AES-256-GCM of the same size in
//! the same run (aws-lc-rs and RustCrypto `aes-gcm`), plus the fixed per-message cost of a cache
//! hit, and the shared-failure case: N concurrent opens of one expired eDEK during a KMS outage
//! (time per burst, and KMS calls per open printed once). The engine uses aws-lc-rs by default and
//! RustCrypto with `--features rustcrypto`.
//!
//! All three do the same work per iteration: seal a borrowed plaintext into a new buffer, then
//! open that into another new buffer, leaving the ciphertext intact, both out of place as the
//! engine does (no copy of the plaintext in, buffers zero-filled when new). The `_into` cases do
//! the same into two buffers kept from one iteration to the next (`Engine::seal_into`/`open_into`
//! against aws-lc-rs sealing and opening into reused `Vec`s). The engine's extra work is its
//! header, per-frame calls and the wipe of the opened plaintext when it drops.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm, KeyInit, Nonce, Tag};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as LcNonce, UnboundKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ekm_engine::clock::{Clock, ManualClock};
use ekm_engine::dek_cache::RetryPolicy;
use ekm_engine::provider::memory::MemoryKek;
use ekm_engine::{EncryptionContext, Engine, EngineConfig, Plaintext, ProjectId};

/// Drives a future that, on a warm cache, completes without waiting on anything.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

struct Lab {
    engine: Engine,
    project: ProjectId,
    context: EncryptionContext,
}

impl Lab {
    fn warm() -> Self {
        let project = ProjectId::from("proj_bench");
        let engine = Engine::builder(Arc::new(ManualClock::default()))
            .provider(project.clone(), Arc::new(MemoryKek::new("bench")))
            .build();
        let context = EncryptionContext::new()
            .with("object", "bench.bin")
            .with("tenant", "acme");
        let lab = Self {
            engine,
            project,
            context,
        };
        let sealed = lab.seal(b"warm-up");
        run(lab.engine.open(&lab.project, &sealed, &lab.context)).expect("warm open");
        lab
    }

    fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        run(self.engine.seal(&self.project, &self.context, plaintext)).expect("seal")
    }

    fn seal_open(&self, plaintext: &[u8]) -> usize {
        let sealed = self.seal(plaintext);
        run(self.engine.open(&self.project, &sealed, &self.context))
            .expect("open")
            .len()
    }

    fn seal_open_into(&self, plaintext: &[u8], buffers: &mut (Vec<u8>, Plaintext)) -> usize {
        let (sealed, opened) = buffers;
        run(self
            .engine
            .seal_into(&self.project, &self.context, plaintext, sealed))
        .expect("seal");
        run(self
            .engine
            .open_into(&self.project, sealed, &self.context, opened))
        .expect("open");
        opened.len()
    }
}

/// Seals `plaintext` into `sealed` (ciphertext ‖ tag, resized to fit) and opens it into
/// `opened`, both out of place, as the engine does each frame.
fn aws_lc_seal_open_into(
    key: &LessSafeKey,
    plaintext: &[u8],
    (sealed, opened): &mut (Vec<u8>, Vec<u8>),
) -> usize {
    let nonce = || LcNonce::assume_unique_for_key([1; 12]);
    sealed.resize(plaintext.len() + 16, 0);
    let (ciphertext, tag) = sealed.split_at_mut(plaintext.len());
    key.seal_out_of_place_scatter(nonce(), Aad::from(b"aad"), plaintext, ciphertext, &[], tag)
        .expect("seal");
    let (ciphertext, tag) = sealed.split_at(plaintext.len());
    opened.resize(plaintext.len(), 0);
    key.open_separate_gather(nonce(), Aad::from(&b"aad"[..]), ciphertext, tag, opened)
        .expect("open");
    opened.len()
}

/// [`aws_lc_seal_open_into`] into two new buffers, allocated as the engine's are: the envelope
/// grown to its size, the opened plaintext zeroed by the allocator.
fn aws_lc_seal_open(key: &LessSafeKey, plaintext: &[u8]) -> usize {
    let mut buffers = (Vec::new(), vec![0u8; plaintext.len()]);
    aws_lc_seal_open_into(key, plaintext, &mut buffers)
}

fn aes_gcm_seal_open(key: &Aes256Gcm, plaintext: &[u8]) -> usize {
    let nonce = Nonce::from([1; 12]);
    let mut sealed = vec![0u8; plaintext.len() + 16];
    let (ciphertext, tag_out) = sealed.split_at_mut(plaintext.len());
    let buf = InOutBuf::new(plaintext, ciphertext).expect("same length");
    let tag: Tag = key
        .encrypt_inout_detached(&nonce, b"aad", buf)
        .expect("seal");
    tag_out.copy_from_slice(&tag);
    let (ciphertext, tag) = sealed.split_at(plaintext.len());
    let tag = Tag::try_from(tag).expect("tag");
    let mut opened = vec![0u8; ciphertext.len()];
    let buf = InOutBuf::new(ciphertext, &mut opened).expect("same length");
    key.decrypt_inout_detached(&nonce, b"aad", buf, &tag)
        .expect("open");
    opened.len()
}

fn seal_open(c: &mut Criterion) {
    let lab = Lab::warm();
    let lc_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let rc_key = Aes256Gcm::new(&[7u8; 32].into());
    for (label, size) in [("1KiB", 1 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let plaintext: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut group = c.benchmark_group(format!("seal_open/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("engine", |b| {
            b.iter(|| lab.seal_open(black_box(&plaintext)))
        });
        group.bench_function("raw_aws_lc", |b| {
            b.iter(|| aws_lc_seal_open(&lc_key, black_box(&plaintext)))
        });
        group.bench_function("raw_aes_gcm", |b| {
            b.iter(|| aes_gcm_seal_open(&rc_key, black_box(&plaintext)))
        });
        let mut buffers = Default::default();
        group.bench_function("engine_into", |b| {
            b.iter(|| lab.seal_open_into(black_box(&plaintext), &mut buffers))
        });
        let mut buffers = Default::default();
        group.bench_function("raw_aws_lc_into", |b| {
            b.iter(|| aws_lc_seal_open_into(&lc_key, black_box(&plaintext), &mut buffers))
        });

        group.finish();
    }
}

fn cache_hit(c: &mut Criterion) {
    let lab = Lab::warm();
    let empty = lab.seal(b"");
    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("open_empty", |b| {
        b.iter(|| {
            run(lab
                .engine
                .open(&lab.project, black_box(&empty), &lab.context))
            .expect("open")
        })
    });
    group.bench_function("seal_empty", |b| b.iter(|| lab.seal(black_box(b""))));
    group.finish();
}

/// N concurrent opens of one eDEK whose entry expired while the KMS is down: one shared flight.
fn shared_failure(c: &mut Criterion) {
    const OPENS: usize = 100;
    let clock = Arc::new(ManualClock::default());
    let kek = Arc::new(MemoryKek::new("outage"));
    let project = ProjectId::from("proj_bench");
    let config = EngineConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_micros(50),
            max_backoff: Duration::from_micros(100),
            max_total_backoff: Duration::from_millis(1),
        },
        ..EngineConfig::default()
    };
    let revalidate_after = config.revalidate_after;
    let engine = Engine::builder(clock.clone())
        .config(config)
        .provider(project.clone(), kek.clone())
        .build();
    let context = EncryptionContext::new().with("object", "hot");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let sealed = Arc::new(
        runtime
            .block_on(engine.seal(&project, &context, b"hot object"))
            .expect("seal"),
    );
    kek.set_outage(true);
    let burst = || {
        clock.advance(revalidate_after);
        runtime.block_on(async {
            let opens: Vec<_> = (0..OPENS)
                .map(|_| {
                    let (engine, sealed) = (engine.clone(), sealed.clone());
                    let (project, context) = (project.clone(), context.clone());
                    tokio::spawn(async move { engine.open(&project, &sealed, &context).await })
                })
                .collect();
            for open in opens {
                open.await.expect("task").expect_err("outage");
            }
        })
    };
    let before = kek.unwrap_calls();
    burst();
    let per_open = (kek.unwrap_calls() - before) as f64 / OPENS as f64;
    eprintln!("shared_failure: {per_open:.3} KMS unwraps per open ({OPENS} concurrent opens)");
    let mut group = c.benchmark_group("shared_failure");
    group.bench_function(format!("{OPENS}_concurrent_opens_during_outage"), |b| {
        b.iter(burst)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = seal_open, cache_hit, shared_failure
}
criterion_main!(benches);
