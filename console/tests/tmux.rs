//! End to end: the real `ekm` binary in a tmux pane — start, revoke access to the selected key
//! (`aws-demo`), jump lab time one hour, see its objects turn unreadable, quit, and check the
//! shell got its terminal back (alternate screen left, canonical mode on). Skipped, with a
//! message, only where tmux is not installed.

use std::process::{Command, Output};
use std::time::Duration;

use ekm_engine::clock::Stopwatch;

const SESSION_PREFIX: &str = "ekm-e2e";

fn tmux(args: &[&str]) -> Output {
    Command::new("tmux").args(args).output().expect("tmux runs")
}

fn capture(session: &str) -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
}

/// Polls the pane until `check` holds (the UI works in real time: this waits for frames, not
/// for lab TTLs, which the test moves past with the jump key).
fn wait_for(session: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let stopwatch = Stopwatch::start();
    loop {
        let screen = capture(session);
        if check(&screen) {
            return screen;
        }
        assert!(
            stopwatch.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; the pane shows:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.0]);
    }
}

#[test]
fn revoke_jump_unreadable_quit_restores_the_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed; the end-to-end console test needs it");
        return;
    }
    let session = Session(format!("{SESSION_PREFIX}-{}", std::process::id()));
    let script = format!(
        "{} --speed 60; echo EKM-EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon'; echo EKM-DONE; sleep 60",
        env!("CARGO_BIN_EXE_ekm")
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session.0,
        "-x",
        "100",
        "-y",
        "30",
        "sh",
        "-c",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");

    wait_for(&session.0, "the lab with readable objects", |s| {
        s.contains("aws-demo*") && s.contains("aws-00") && s.contains("✓ yes")
    });
    tmux(&["send-keys", "-t", &session.0, "a"]);
    wait_for(&session.0, "access revoked", |s| s.contains(" NO "));
    tmux(&["send-keys", "-t", &session.0, "J"]);
    let screen = wait_for(&session.0, "unreadable objects", |s| {
        s.contains("✗ access denied")
    });
    assert!(screen.contains("AccessDeniedException"), "{screen}");

    tmux(&["send-keys", "-t", &session.0, "q"]);
    let after = wait_for(&session.0, "the shell", |s| s.contains("EKM-DONE"));
    assert!(after.contains("EKM-EXIT=0"), "{after}");
    assert!(
        !after.contains("┌ Keys"),
        "still on the alternate screen:\n{after}"
    );
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "the terminal was left in raw mode:\n{after}"
    );
}
