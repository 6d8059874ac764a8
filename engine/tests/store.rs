//! Named objects through the filesystem store: round trips, and no DEK bytes ever on disk.

mod common;

use std::sync::Arc;

use common::{HOUR, Lab};
use ekm_engine::clock::Clock;
use ekm_engine::{Engine, EngineError, FsStore, ObjectName, ObjectStore, StoreError};

#[tokio::test]
async fn objects_round_trip_and_the_store_directory_holds_no_dek_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsStore::open(dir.path()).expect("store"));
    let lab = Lab::new();
    let engine = Engine::builder(lab.clock.clone())
        .store(store.clone())
        .provider(lab.project.clone(), lab.kek.clone())
        .build();

    let mut names = Vec::new();
    for day in 0..3 {
        for i in 0..4 {
            let name = ObjectName::new(format!("day{day}-object{i}.txt")).expect("name");
            let body = format!("object {i} of day {day}").repeat(100);
            engine
                .put(&name, &lab.project, &lab.context, body.as_bytes())
                .await
                .expect("put");
            assert_eq!(
                engine
                    .get(&name, &lab.project, &lab.context)
                    .await
                    .expect("get")
                    .as_slice(),
                body.as_bytes()
            );
            names.push(name);
        }
        lab.clock.advance(24 * HOUR);
    }
    assert_eq!(store.list().expect("list").len(), names.len());

    let mut deks = Vec::new();
    for name in &names {
        let envelope = store.get(name).expect("read");
        deks.push(*lab.dek_of(&envelope).await.expose_secret());
    }
    deks.dedup();
    assert_eq!(deks.len(), 3, "one DEK per day");

    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read_dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        for dek in &deks {
            assert!(
                !bytes.windows(dek.len()).any(|w| w == dek),
                "a DEK reached the store"
            );
        }
        files += 1;
    }
    assert_eq!(files, names.len(), "no temporary files left behind");
}

#[tokio::test]
async fn getting_a_missing_object_is_not_found() {
    let lab = Lab::new();
    let name = ObjectName::new("missing").expect("name");
    assert!(matches!(
        lab.engine.get(&name, &lab.project, &lab.context).await,
        Err(EngineError::Store(StoreError::NotFound { .. }))
    ));
}
