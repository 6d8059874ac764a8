//! RSA key generation does not stall the server: while RSA-4096 creates (control API) and Azure
//! Key Vault rotates are generating keys, `GET /_mock/v1/clock` is answered.
//!
//! The mock runs on a one-thread runtime of its own, so a key generated on that thread would hold
//! every other request until it is done. The check is not a timing threshold: the process-wide
//! [`keygen::progress`] counters show which generations were running when a clock request was
//! sent, and the request passes only if one of those was still running when its answer came
//! back — impossible if generating occupied the thread serving the clock. (This is the only test
//! in its binary, so no other test's key generation moves the counters.)

use std::thread;

use ekm_mock_kms::keygen;
use ekm_mock_kms::server::{MockKms, Options};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TENANT: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const ADMIN_APP: &str = "99999999-8888-4777-8666-555555555555";
const ADMIN_SECRET: &str = "ekm-lab-customer-admin";

/// A mock on a current-thread runtime in its own thread; dropping `stop` shuts it down.
struct Server {
    http: String,
    https: String,
    ca_pem: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mock = MockKms::start(Options::ephemeral()).await.expect("mock");
                ready_tx
                    .send((
                        mock.http_url(),
                        mock.https_url(),
                        mock.ca_cert_pem().to_owned(),
                    ))
                    .expect("test waits");
                let _ = stopped.await;
                mock.shutdown().await;
            });
        });
        let (http, https, ca_pem) = ready_rx.recv().expect("mock started");
        Self {
            http,
            https,
            ca_pem,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let response: Value = client
        .post(format!("{base}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ADMIN_APP),
            ("client_secret", ADMIN_SECRET),
            ("scope", "https://vault.azure.net/.default"),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token JSON");
    response["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_answers_while_rsa_keys_are_generated() {
    let server = Server::start();
    let ca = reqwest::Certificate::from_pem(server.ca_pem.as_bytes()).expect("CA PEM");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let token = admin_token(&client, &server.https).await;

    let mut work = tokio::task::JoinSet::new();
    for i in 0..2 {
        let (client, url) = (client.clone(), format!("{}/_mock/v1/keys", server.http));
        work.spawn(async move {
            let body = json!({"name": format!("big-{i}"), "provider": "azure", "spec": "RSA_4096"});
            let response = client.post(url).json(&body).send().await;
            response.expect("create answers").status().as_u16()
        });
    }
    for _ in 0..10 {
        let client = client.clone();
        let url = format!("{}/keys/ekm-key/rotate?api-version=7.6", server.https);
        let token = token.clone();
        work.spawn(async move {
            let response = client.post(url).bearer_auth(token).send().await;
            response.expect("rotate answers").status().as_u16()
        });
    }

    let clock = format!("{}/_mock/v1/clock", server.http);
    let mut answered_during_generation = 0;
    let mut statuses = Vec::new();
    while !work.is_empty() {
        while let Some(done) = work.try_join_next() {
            statuses.push(done.expect("request task"));
        }
        let before = keygen::progress();
        if before.started == before.finished {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        }
        let response = client.get(&clock).send().await.expect("clock answers");
        assert_eq!(response.status(), 200);
        // Some generation running at `before` is still running.
        if keygen::progress().finished < before.started {
            answered_during_generation += 1;
        }
    }
    assert_eq!(statuses.len(), 12);
    assert!(
        statuses.iter().filter(|&&s| s == 201).count() == 2
            && statuses.iter().filter(|&&s| s == 200).count() == 10,
        "every create and rotate succeeds: {statuses:?}"
    );
    assert!(
        answered_during_generation >= 3,
        "the clock was answered only {answered_during_generation} times while keys were generated"
    );
    let keys: Value = client
        .get(format!("{}/_mock/v1/keys", server.http))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    let demo = keys
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["name"] == "azure-demo"))
        .expect("azure-demo listed");
    assert_eq!(demo["versions"].as_array().map(Vec::len), Some(11));
}
