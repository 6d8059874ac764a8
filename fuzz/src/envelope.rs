//! The envelope parser and opener (`ekm_engine::envelope`), two ways:
//!
//! - **raw**: any bytes go to `parse`; what parses is read through every accessor and opened
//!   with a fixed DEK under its own header's context (which must always match itself).
//! - **sealed**: an envelope is sealed from fuzzed parts under the fixed DEK, must open to the
//!   same plaintext, and then is edited (byte flips, cuts, appended bytes): any edit that changes
//!   the bytes must be refused — a tampered envelope never opens.
//!
//! The first input byte picks the mode; the rest is the raw envelope or the `arbitrary` parts.

use arbitrary::{Arbitrary, Unstructured};
use ekm_engine::envelope::{self, Envelope, SealParams};
use ekm_engine::{Dek, DekId, EncryptionContext, KeyReference, ProjectId, WrappedDek};

/// The DEK of the sealed mode and of the seed envelopes.
pub const FIXED_DEK: [u8; 32] = [7; 32];

/// Runs one input.
pub fn check(data: &[u8]) {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            if let Ok(case) = Sealed::arbitrary_take_rest(Unstructured::new(rest)) {
                case.check();
            }
        }
        Some((_, rest)) => raw(rest),
        None => {}
    }
}

fn dek() -> Dek {
    Dek::from_bytes(&FIXED_DEK).expect("32 bytes")
}

fn raw(bytes: &[u8]) {
    let Ok(parsed) = envelope::parse(bytes) else {
        return;
    };
    read_all(&parsed);
    let context = parsed.header().context();
    parsed
        .check_context(&context)
        .expect("an envelope's own context matches itself");
    let _ = parsed.open(&dek(), &context);
}

fn read_all(parsed: &Envelope<'_>) {
    let header = parsed.header();
    let key = header.key_reference();
    assert!(header.names_key(&key));
    let _ = (
        header.provider(),
        header.key(),
        header.key_version(),
        header.project(),
        header.dek_id().short(),
        header.edek().len(),
        header.message_id(),
        header.frame_len(),
        header.plaintext_len(),
    );
}

/// An edit applied to a sealed envelope.
#[derive(Debug, Arbitrary)]
enum Edit {
    Flip { at: u32, mask: u8 },
    Truncate { to: u32 },
    Append { bytes: Vec<u8> },
}

/// The parts of a sealed envelope.
#[derive(Debug, Arbitrary)]
struct Sealed {
    provider: String,
    key: String,
    key_version: String,
    project: String,
    edek: Vec<u8>,
    context: Vec<(String, String)>,
    frame_len: u8,
    plaintext: Vec<u8>,
    edits: Vec<Edit>,
}

impl Sealed {
    fn check(self) {
        let key = KeyReference::new(self.provider, self.key);
        let wrapped = WrappedDek {
            edek: self.edek,
            key_version: self.key_version,
        };
        let project = ProjectId::new(self.project);
        let mut context = EncryptionContext::new();
        for (k, v) in self.context {
            context.insert(k, v);
        }
        let params = SealParams {
            key: &key,
            wrapped: &wrapped,
            dek_id: DekId::generate().expect("OS RNG"),
            project: &project,
            context: &context,
            frame_len: u32::from(self.frame_len),
        };
        let dek = dek();
        let Ok(sealed) = envelope::seal(&dek, &params, &self.plaintext) else {
            return;
        };
        let parsed = envelope::parse(&sealed).expect("a sealed envelope parses");
        read_all(&parsed);
        let opened = parsed
            .open(&dek, &context)
            .expect("a sealed envelope opens");
        assert_eq!(opened.as_slice(), self.plaintext.as_slice());
        assert!(parsed.header().names_key(&key));
        assert_eq!(parsed.header().project(), project.as_str());

        let mut other = context.clone();
        other.insert("ekm:fuzz-extra", "x");
        if other != context {
            assert!(
                parsed.open(&dek, &other).is_err(),
                "opened under another context"
            );
        }

        let mut edited = sealed.clone();
        for edit in self.edits {
            match edit {
                Edit::Flip { at, mask } if !edited.is_empty() => {
                    let at = at as usize % edited.len();
                    edited[at] ^= mask;
                }
                Edit::Flip { .. } => {}
                Edit::Truncate { to } => edited.truncate(to as usize),
                Edit::Append { bytes } => edited.extend_from_slice(&bytes),
            }
        }
        if edited == sealed {
            return;
        }
        if let Ok(parsed) = envelope::parse(&edited) {
            read_all(&parsed);
            let context = parsed.header().context();
            assert!(
                parsed.open(&dek, &context).is_err(),
                "a tampered envelope opened"
            );
        }
    }
}
