//! Load benchmark: AWS KMS `Encrypt` requests/s, p50/p99 latency and server RSS with 64
//! concurrent SigV4-signing clients on loopback, against the release `mock-kms` binary and —
//! with the same client and load, in the same run — moto's server.
//!
//! The mock is measured twice, alternately (admin, service, admin, service): signed as the
//! customer administrator, whose calls the customer's documents never decide, and with an
//! `AssumeRole` session of the EKM service role, whose every call is decided by the key policy
//! and the role's policies (and whose session the trust policy admitted). The ratio of the two
//! is the cost of evaluating the documents (issue 11: at most 10 % fewer requests/s).
//!
//! ```text
//! bash mock-kms/tests/python/run.sh --co -q          # makes ${CARGO_TARGET_DIR:-target}/pyenv
//! target/pyenv/bin/pip install 'moto[server]==5.2.5'
//! cargo bench -p ekm-mock-kms --bench aws_load       # MOTO_SERVER=path overrides the venv's
//! ```
//!
//! `LOAD_SECONDS` (default 5) sets the measured time per server. Without moto the mock alone is
//! measured. `MOCK_KMS=path` runs another `mock-kms` binary than the one built with the bench
//! (a before/after comparison with the same clients).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use ekm_clock::Stopwatch;
use ekm_mock_kms::aws::sigv4::{self, Credentials, SignedRequestMut};
use ekm_mock_kms::tenant::Tenant;
use serde_json::{Value, json};

const CLIENTS: usize = 64;

/// Credentials a client signs with (owned, so an STS session can be one).
#[derive(Debug, Clone)]
struct Signer {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Signer {
    /// The demo tenant's customer administrator.
    fn admin(tenant: &Tenant) -> Self {
        Self {
            access_key_id: tenant.aws.admin_access_key_id.clone(),
            secret_access_key: tenant.aws.admin_secret_access_key.clone(),
            session_token: None,
        }
    }

    /// Signs a request to `service` (`kms`, `sts`) with a body and headers as given.
    fn sign(&self, service: &str, headers: &mut HeaderMap, body: &[u8]) {
        let credentials = Credentials {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: self.session_token.as_deref(),
        };
        sigv4::sign(
            &credentials,
            "us-east-1",
            service,
            &mut SignedRequestMut {
                method: "POST",
                path: "/",
                query: None,
                headers,
                body,
            },
            ekm_clock::wall_time(),
        );
    }
}

/// One signed KMS JSON request.
async fn call(
    http: &reqwest::Client,
    addr: &str,
    signer: &Signer,
    op: &str,
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string().into_bytes();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(addr).expect("address"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(
        "x-amz-target",
        HeaderValue::from_str(&format!("TrentService.{op}")).expect("target"),
    );
    signer.sign("kms", &mut headers, &body);
    match http
        .post(format!("http://{addr}/"))
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// An `AssumeRole` session of the tenant's EKM service role, as the engine gets one: signed
/// with the service principal's keys, the project as ExternalId.
async fn service_session(http: &reqwest::Client, addr: &str, tenant: &Tenant) -> Signer {
    let service = Signer {
        access_key_id: tenant.aws.service_access_key_id.clone(),
        secret_access_key: tenant.aws.service_secret_access_key.clone(),
        session_token: None,
    };
    let body = serde_urlencoded::to_string([
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", tenant.aws.role_arn.as_str()),
        ("RoleSessionName", "aws-load"),
        ("DurationSeconds", "3600"),
        ("ExternalId", tenant.project_id.as_str()),
    ])
    .expect("form")
    .into_bytes();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(addr).expect("address"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    service.sign("sts", &mut headers, &body);
    let response = http
        .post(format!("http://{addr}/"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("AssumeRole answered");
    let status = response.status();
    let xml = response.text().await.expect("AssumeRole body");
    assert!(status.is_success(), "AssumeRole failed: {status} {xml}");
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = xml.find(&open).expect(tag) + open.len();
        let end = start + xml[start..].find('<').expect(tag);
        xml[start..end].to_owned()
    };
    Signer {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: Some(field("SessionToken")),
    }
}

struct Figures {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    rss_kib: u64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// 64 clients sending `Encrypt` of 32 bytes under `key_id` for `seconds`, signed by `signer`.
async fn load(addr: &str, signer: &Signer, key_id: &str, pid: u32, seconds: u64) -> Figures {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let body = Arc::new(
        json!({"KeyId": key_id, "Plaintext": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}),
    );
    let run = Stopwatch::start();
    let deadline = Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, body, addr) = (http.clone(), body.clone(), addr.to_owned());
        let signer = signer.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while run.elapsed() < deadline {
                let watch = Stopwatch::start();
                let (status, _) = call(&http, &addr, &signer, "Encrypt", &body).await;
                latencies.push(watch.elapsed());
                if status != 200 {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while run.elapsed() < deadline {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peak
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await.expect("client task");
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = run.elapsed();
    let rss = sampler.await.unwrap_or(0);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        requests: latencies.len(),
        errors,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        rss_kib: rss,
    }
}

fn report(name: &str, f: &Figures) {
    println!(
        "{name:<10} {:>10.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  RSS {:>7.1} MiB  ({} requests, {} errors)",
        f.per_second,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.rss_kib as f64 / 1024.0,
        f.requests,
        f.errors
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mock() -> (Server, String) {
    let binary = std::env::var_os("MOCK_KMS").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_mock-kms")),
        PathBuf::from,
    );
    let mut child = Command::new(binary)
        .args(["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mock-kms starts");
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let start: Value = serde_json::from_str(&line).expect("start line");
    let addr = start["http"].as_str().expect("http address").to_owned();
    (Server(child), addr)
}

fn moto_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                manifest.join("..").join(t)
            }
        })
        .unwrap_or_else(|| manifest.join("../target"));
    let path = target.join("pyenv/bin/moto_server");
    path.exists().then_some(path)
}

async fn start_moto(http: &reqwest::Client) -> Option<(Server, String)> {
    let path = moto_path()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child);
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if http
            .get(format!("http://{addr}/moto-api/"))
            .send()
            .await
            .is_ok()
        {
            return Some((server, addr));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::main]
async fn main() {
    let seconds = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let http = reqwest::Client::new();
    println!(
        "AWS KMS Encrypt, {CLIENTS} concurrent SigV4-signed clients, {seconds} s each, loopback"
    );

    let tenant = Tenant::default();
    let admin = Signer::admin(&tenant);
    let (mock, addr) = start_mock();
    let session = service_session(&http, &addr, &tenant).await;
    let pid = mock.0.id();
    let mut rounds = Vec::new();
    for _ in 0..2 {
        let as_admin = load(&addr, &admin, "alias/ekm-demo", pid, seconds).await;
        report("mock-kms", &as_admin);
        let as_service = load(&addr, &session, "alias/ekm-demo", pid, seconds).await;
        report("  service", &as_service);
        rounds.push((as_admin, as_service));
    }
    drop(mock);
    for (i, (as_admin, as_service)) in rounds.iter().enumerate() {
        println!(
            "round {}    service session / admin: {:.3} of the requests/s",
            i + 1,
            as_service.per_second / as_admin.per_second.max(f64::MIN_POSITIVE)
        );
    }
    let ours = rounds.swap_remove(0).0;

    let Some((moto, moto_addr)) = start_moto(&http).await else {
        println!("moto_server not found (see the module docs): moto not measured");
        return;
    };
    let (status, created) = call(&http, &moto_addr, &admin, "CreateKey", &json!({})).await;
    let Some(key_id) = created["KeyMetadata"]["KeyId"]
        .as_str()
        .filter(|_| status == 200)
    else {
        println!("moto CreateKey failed ({status}): {created}");
        return;
    };
    let theirs = load(&moto_addr, &admin, key_id, moto.0.id(), seconds).await;
    drop(moto);
    report("moto", &theirs);
    println!(
        "ratio      {:.1}x moto's requests/s",
        ours.per_second / theirs.per_second.max(f64::MIN_POSITIVE)
    );
}
