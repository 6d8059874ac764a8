//! Key generation off the async worker threads.
//!
//! Making an RSA key takes from tens of milliseconds (RSA-2048) to over a second (RSA-4096 on a
//! busy machine). Run on a tokio worker, it stalls every request that worker serves, the control
//! API's `GET /_mock/v1/clock` included; 40 parallel Azure rotates once held unrelated requests
//! for seconds. Request handlers that make key material (`POST /_mock/v1/keys`, the `rotate`
//! action, Key Vault `create` and `rotate`) hand that work to [`off_runtime`], which runs it on
//! tokio's blocking pool, at most [`parallelism`] at a time so that key generation never takes
//! every core from the listeners; the others wait asynchronously, holding no thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::StateError;

/// How many key generations run at once: one core less than the machine has (at least one).
pub fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |cores| cores.get().saturating_sub(1))
        .max(1)
}

static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(parallelism()));
static STARTED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);

/// How many pieces of key-generating work this process has started and finished (a snapshot:
/// `started > finished` means some are running now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Started so far.
    pub started: u64,
    /// Finished so far.
    pub finished: u64,
}

/// The process-wide counts, for diagnostics and for tests that check key generation does not
/// hold up other requests.
pub fn progress() -> Progress {
    // Finished first: a snapshot never shows more finished than started.
    let finished = FINISHED.load(Ordering::SeqCst);
    Progress {
        started: STARTED.load(Ordering::SeqCst),
        finished,
    }
}

/// Runs `work` (which makes key material) on the blocking pool, at most [`parallelism`] at a
/// time, and answers its result. A panic in `work` is resumed here; work cut short because the
/// runtime is shutting down is an internal error.
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StateError> {
    let interrupted = || StateError::Internal("key generation was interrupted".into());
    // The permit moves into the task: a caller that goes away does not free it early.
    let permit = PERMITS.acquire().await.map_err(|_| interrupted())?;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        STARTED.fetch_add(1, Ordering::SeqCst);
        let _finished = Finished;
        work()
    });
    match task.await {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(interrupted()),
    }
}

/// A fresh RSA private key of `bits` (2048, 3072 or 4096) as PKCS#8 DER; `None` for another size
/// or when generation fails.
///
/// In fuzz builds (`cfg(fuzzing)`, which cargo-fuzz sets) every key of one size is the same key,
/// made once per process: the fuzz targets explore requests, and a new RSA key for every input
/// that creates or rotates an Azure key would hold them to a few executions a second.
pub(crate) fn rsa_der(bits: u32) -> Option<Zeroizing<Vec<u8>>> {
    if cfg!(fuzzing) {
        once_per_size(bits)
    } else {
        generate_rsa_der(bits)
    }
}

fn generate_rsa_der(bits: u32) -> Option<Zeroizing<Vec<u8>>> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => return None,
    };
    let der = KeyPair::generate(size).ok()?.as_der().ok()?;
    Some(Zeroizing::new(der.as_ref().to_vec()))
}

fn once_per_size(bits: u32) -> Option<Zeroizing<Vec<u8>>> {
    static MADE: Mutex<Vec<(u32, Zeroizing<Vec<u8>>)>> = Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, der)) = made.iter().find(|(size, _)| *size == bits) {
        return Some(der.clone());
    }
    let der = generate_rsa_der(bits)?;
    made.push((bits, der.clone()));
    Some(der)
}

/// Counts a piece of work as finished when dropped (also when it panics).
struct Finished;

impl Drop for Finished {
    fn drop(&mut self) {
        FINISHED.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_runtime_thread_and_is_counted() {
        let here = std::thread::current().id();
        let before = progress();
        let there = off_runtime(|| std::thread::current().id()).await.unwrap();
        assert_ne!(there, here);
        let after = progress();
        assert!(after.started > before.started && after.finished > before.finished);
        assert!(parallelism() >= 1);
    }
}
