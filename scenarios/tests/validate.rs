//! Loading never panics, whatever the input, and reports precisely.

use ekm_scenarios::validate::{ScenarioError, parse};
use proptest::prelude::*;

const LIBRARY_FILE: &str = include_str!("../rotation-vs-revocation.yaml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_is_refused_or_accepted_without_panicking(text in "\\PC{0,200}") {
        let _ = parse(&text, "fuzz.yaml");
    }

    #[test]
    fn truncated_scenarios_never_panic(cut in 0usize..LIBRARY_FILE.len()) {
        let mut end = cut;
        while !LIBRARY_FILE.is_char_boundary(end) {
            end -= 1;
        }
        let _ = parse(&LIBRARY_FILE[..end], "truncated.yaml");
    }

    #[test]
    fn corrupted_scenarios_never_panic(at in 0usize..LIBRARY_FILE.len(), byte in b' '..=b'~') {
        let mut bytes = LIBRARY_FILE.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = parse(&text, "corrupted.yaml");
        }
    }
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let text = "name: many\ndescription: several problems\nsteps:\n  - at: 1h\n    rotate: aws-dem\n  - at: 10m\n    decrypt: nothing\n";
    let Err(ScenarioError::Invalid(diagnostics)) = parse(text, "many.yaml") else {
        panic!("accepted");
    };
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 3, "{rendered:#?}");
    assert_eq!(
        rendered[0],
        "many.yaml:5:13: steps[0].rotate: unknown key `aws-dem` — did you mean `aws-demo`?"
    );
    assert!(rendered[1].starts_with("many.yaml:6:9: steps[1].at: time goes backwards"));
    assert_eq!(
        rendered[2],
        "many.yaml:7:14: steps[1].decrypt: unknown object `nothing` — declare it under `objects:` first"
    );
}

#[test]
fn near_misses_get_suggestions_and_far_misses_the_list() {
    let far = "name: x\ndescription: y\nsteps:\n  - at: 0s\n    frobnicate: 1\n";
    let message = parse(far, "far.yaml").unwrap_err().to_string();
    assert!(
        message.contains("unknown action `frobnicate` — expected one of `encrypt`"),
        "{message}"
    );
}
