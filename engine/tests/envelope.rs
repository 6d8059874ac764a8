//! The envelope format through the engine and on its own: round trips, tampering, truncation,
//! reordering, wrong context, wrong DEK, and property tests of the parser.

mod common;

use common::Lab;
use ekm_engine::envelope::{self, DEFAULT_FRAME_LEN, EnvelopeError, SealParams};
use ekm_engine::{
    Dek, DekId, EncryptionContext, EngineConfig, EngineError, KeyReference, ObjectName, ProjectId,
    WrappedDek,
};
use proptest::prelude::*;

const TAG_LEN: usize = 16;

fn small_frames() -> EngineConfig {
    EngineConfig {
        frame_len: 16,
        ..EngineConfig::default()
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn round_trips_at_every_size_class() {
    let lab = Lab::new();
    let frame = DEFAULT_FRAME_LEN as usize;
    for len in [0, 1, frame - 1, frame, frame + 1, 3 * frame + 17] {
        let plaintext = pattern(len);
        let sealed = lab.seal(&plaintext).await;
        let header = envelope::parse(&sealed).expect("parse");
        assert_eq!(header.header().plaintext_len(), len as u64);
        let frames = len.div_ceil(frame).max(1);
        assert_eq!(sealed.len() - len - frames * TAG_LEN, header_len(&sealed));
        assert_eq!(lab.open(&sealed).await.expect("open"), plaintext, "{len} B");
    }
}

/// The header length, recomputed from the envelope's size and the plaintext length.
fn header_len(sealed: &[u8]) -> usize {
    let parsed = envelope::parse(sealed).expect("parse");
    let h = parsed.header();
    let frames = h.plaintext_len().div_ceil(u64::from(h.frame_len())).max(1) as usize;
    sealed.len() - h.plaintext_len() as usize - frames * TAG_LEN
}

#[tokio::test]
async fn every_single_byte_flip_is_rejected() {
    let lab = Lab::with_config(small_frames());
    let plaintext = pattern(40);
    let sealed = lab.seal(&plaintext).await;
    assert_eq!(lab.open(&sealed).await.expect("open"), plaintext);
    let header = header_len(&sealed);
    assert!(header > 100 && sealed.len() > header + 40);
    for position in 0..sealed.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut tampered = sealed.clone();
            tampered[position] ^= mask;
            let result = lab.open(&tampered).await;
            assert!(
                result.is_err(),
                "flip {mask:#04x} at byte {position} (header is {header} bytes) was accepted"
            );
        }
    }
    assert_eq!(
        lab.open(&sealed).await.expect("original still opens"),
        plaintext
    );
}

#[tokio::test]
async fn every_truncation_is_a_truncated_error() {
    let lab = Lab::with_config(small_frames());
    let sealed = lab.seal(&pattern(40)).await;
    for len in 0..sealed.len() {
        match lab.open(&sealed[..len]).await {
            Err(EngineError::Envelope(EnvelopeError::Truncated { .. })) => {}
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    let header = header_len(&sealed);
    assert!(matches!(
        envelope::parse(&sealed[..sealed.len() - 1]),
        Err(EnvelopeError::Truncated { field: "body" })
    ));
    assert!(matches!(
        envelope::parse(&sealed[..header + 16 + TAG_LEN]),
        Err(EnvelopeError::Truncated { field: "body" })
    ));
    let mut extended = sealed.clone();
    extended.extend_from_slice(&[0; 5]);
    assert!(matches!(
        lab.open(&extended).await,
        Err(EngineError::Envelope(EnvelopeError::TrailingBytes {
            count: 5
        }))
    ));
}

#[tokio::test]
async fn reordered_frames_fail_authentication() {
    let lab = Lab::with_config(small_frames());
    let sealed = lab.seal(&pattern(48)).await;
    let header = header_len(&sealed);
    let frame = 16 + TAG_LEN;
    let swap = |a: usize, b: usize| {
        let mut reordered = sealed.clone();
        let (first, second) = (header + a * frame, header + b * frame);
        let copy = reordered[first..first + frame].to_vec();
        reordered.copy_within(second..second + frame, first);
        reordered[second..second + frame].copy_from_slice(&copy);
        reordered
    };
    assert!(matches!(
        lab.open(&swap(0, 1)).await,
        Err(EngineError::Envelope(EnvelopeError::FrameAuthentication {
            index: 0
        }))
    ));
    assert!(matches!(
        lab.open(&swap(1, 2)).await,
        Err(EngineError::Envelope(EnvelopeError::FrameAuthentication {
            index: 1
        }))
    ));
}

#[tokio::test]
async fn a_wrong_context_is_rejected_before_any_kms_call() {
    let lab = Lab::new();
    let sealed = lab.seal(b"secret").await;
    let unwraps = lab.kek.unwrap_calls();
    for context in [
        EncryptionContext::new(),
        EncryptionContext::new().with("object", "other.txt"),
        lab.context.clone().with("extra", "pair"),
    ] {
        assert!(matches!(
            lab.engine.open(&lab.project, &sealed, &context).await,
            Err(EngineError::Envelope(EnvelopeError::ContextMismatch))
        ));
    }
    assert_eq!(lab.kek.unwrap_calls(), unwraps);
}

#[tokio::test]
async fn another_projects_envelope_is_refused_before_any_kms_call() {
    let lab = Lab::new();
    let intruder = ProjectId::from("proj_intruder");
    lab.engine.register(intruder.clone(), lab.kek.clone());
    let sealed = lab.seal(b"not yours").await;
    let unwraps = lab.kek.unwrap_calls();
    for (result, name) in [
        (
            lab.engine.open(&intruder, &sealed, &lab.context).await,
            "open",
        ),
        (
            async {
                let object = ObjectName::new("theirs").expect("name");
                lab.engine.store().put(&object, &sealed).expect("put");
                lab.engine.get(&object, &intruder, &lab.context).await
            }
            .await,
            "get",
        ),
    ] {
        assert!(
            matches!(&result, Err(EngineError::WrongProject { caller, envelope })
                if caller == &intruder && envelope == lab.project.as_str()),
            "{name}: {result:?}"
        );
    }
    assert_eq!(lab.kek.unwrap_calls(), unwraps, "no KMS call was made");
    assert_eq!(lab.open(&sealed).await.expect("owner opens"), b"not yours");
}

struct Sealer {
    key: KeyReference,
    wrapped: WrappedDek,
    project: ProjectId,
}

impl Sealer {
    fn new() -> Self {
        Self {
            key: KeyReference::new("memory", "memory://keys/prop"),
            wrapped: WrappedDek {
                edek: vec![0xed; 60],
                key_version: "memory://keys/prop/versions/1".into(),
            },
            project: ProjectId::from("proj_prop"),
        }
    }

    fn seal(
        &self,
        dek: &Dek,
        context: &EncryptionContext,
        frame_len: u32,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let params = SealParams {
            key: &self.key,
            wrapped: &self.wrapped,
            dek_id: DekId::from_bytes([3; 16]),
            project: &self.project,
            context,
            frame_len,
        };
        envelope::seal(dek, &params, plaintext).expect("seal")
    }
}

#[tokio::test]
async fn a_wrong_dek_fails_the_key_commitment() {
    let sealer = Sealer::new();
    let context = EncryptionContext::new().with("a", "b");
    let dek = Dek::generate().expect("rng");
    let sealed = sealer.seal(&dek, &context, 16, &pattern(100));
    let parsed = envelope::parse(&sealed).expect("parse");
    let other = Dek::generate().expect("rng");
    assert!(matches!(
        parsed.open(&other, &context),
        Err(EnvelopeError::CommitmentMismatch)
    ));
    assert_eq!(
        parsed.open(&dek, &context).expect("open").as_slice(),
        pattern(100)
    );
}

#[tokio::test]
async fn a_forged_edek_under_a_cached_dek_id_is_refused_and_harms_nothing() {
    let lab = Lab::new();
    let sealed = lab.seal(b"x").await;
    lab.open(&sealed).await.expect("open");
    let parsed = envelope::parse(&sealed).expect("parse");
    let edek = parsed.header().edek();
    let position = sealed
        .windows(edek.len())
        .position(|w| w == edek)
        .expect("edek in header");
    let mut forged = sealed.clone();
    forged[position + 5] ^= 1;
    let error = lab.open(&forged).await.expect_err("forged");
    assert!(
        matches!(
            error.kms_error(),
            Some(ekm_engine::KmsError::InvalidCiphertext { .. })
        ),
        "the forged eDEK gets its own unwrap, which the KMS refuses: {error}"
    );
    assert_eq!(lab.open(&sealed).await.expect("genuine"), b"x");
}

fn context_strategy() -> impl Strategy<Value = EncryptionContext> {
    proptest::collection::btree_map("[a-z:_]{1,12}", "\\PC{0,20}", 0..5)
        .prop_map(|pairs| pairs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dek = Dek::from_bytes(&[1; 32]).expect("32 bytes");
        if let Ok(parsed) = envelope::parse(&bytes) {
            let _ = parsed.open(&dek, &parsed.header().context());
        }
        let mut prefixed = envelope::MAGIC.to_vec();
        prefixed.push(envelope::VERSION);
        prefixed.extend_from_slice(&bytes);
        if let Ok(parsed) = envelope::parse(&prefixed) {
            let _ = parsed.open(&dek, &parsed.header().context());
        }
    }

    #[test]
    fn parser_never_panics_on_mutated_envelopes(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let sealer = Sealer::new();
        let dek = Dek::from_bytes(&[2; 32]).expect("32 bytes");
        let context = EncryptionContext::new().with("k", "v");
        let mut sealed = sealer.seal(&dek, &context, 8, &pattern(30));
        for (position, value) in edits {
            let len = sealed.len();
            sealed[position % len] = value;
        }
        sealed.truncate(cut % (sealed.len() + 1));
        if let Ok(parsed) = envelope::parse(&sealed) {
            let _ = parsed.open(&dek, &context);
        }
    }

    #[test]
    fn round_trip_for_arbitrary_plaintext_and_context(
        plaintext in proptest::collection::vec(any::<u8>(), 0..3000),
        context in context_strategy(),
        frame_len in 1u32..1500,
    ) {
        let sealer = Sealer::new();
        let dek = Dek::generate().expect("rng");
        let sealed = sealer.seal(&dek, &context, frame_len, &plaintext);
        let parsed = envelope::parse(&sealed).expect("parse");
        prop_assert_eq!(parsed.header().context(), context.clone());
        let opened = parsed.open(&dek, &context).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}
