//! What an evaluator answers: allowed or denied (implicitly or explicitly), and the evaluation
//! trace — every document part that was looked at, what it said, and which one decided. The mock
//! records the trace with the call, so a denial says *why* (the ExternalId the call sent, the
//! binding on the wrong key ring) where the cloud's own message cannot.

use serde::{Deserialize, Serialize};

/// The outcome of an access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A statement, binding or assignment grants the request and nothing denies it.
    Allow,
    /// Nothing grants the request.
    ImplicitDeny,
    /// A statement denies the request (it wins over every allow).
    ExplicitDeny,
}

/// One document part the evaluator looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The document (`trust policy of role/ekm`, `IAM policy on keyRings/ekm`).
    pub document: String,
    /// The part of it (`Statement[0] (Sid AllowEkm)`, `bindings[1] roles/cloudkms.admin`).
    pub part: String,
    /// What that part said about this request (`allows`, `does not apply: …`).
    pub note: String,
}

/// An evaluator's answer with its trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Allowed, or which kind of denial.
    pub verdict: Verdict,
    /// The step that decided (the allowing or denying part), if any part did.
    pub decided_by: Option<Step>,
    /// Every step, in evaluation order.
    pub trace: Vec<Step>,
    /// For a denial, the cloud's own message for it (`User: … is not authorized to perform: …`).
    pub message: Option<String>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The trace as one line per step, for logs and `ekm check --explain`.
    pub fn explain(&self) -> String {
        self.trace
            .iter()
            .map(|s| format!("{} {}: {}", s.document, s.part, s.note))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Builds a [`Decision`] while an evaluator walks the documents. A quiet tracer (the hot path:
/// "is this call allowed?") writes no trace and formats no notes.
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    trace: Vec<Step>,
    quiet: bool,
}

impl Tracer {
    /// A tracer that records nothing: its steps are empty and its decision has no trace.
    pub(crate) fn quiet() -> Self {
        Self {
            trace: Vec::new(),
            quiet: true,
        }
    }

    /// Records that `part` of `document` said what `note` makes, formatted only when the trace
    /// is kept.
    pub(crate) fn note_with(
        &mut self,
        document: &str,
        part: &str,
        note: impl FnOnce() -> String,
    ) -> Step {
        self.note_lazy(|| document.to_owned(), || part.to_owned(), note)
    }

    /// [`note_with`](Self::note_with) with the document's and part's names also made only when
    /// the trace is kept.
    pub(crate) fn note_lazy(
        &mut self,
        document: impl FnOnce() -> String,
        part: impl FnOnce() -> String,
        note: impl FnOnce() -> String,
    ) -> Step {
        if self.quiet {
            return Step {
                document: String::new(),
                part: String::new(),
                note: String::new(),
            };
        }
        self.push(Step {
            document: document(),
            part: part(),
            note: note(),
        })
    }

    /// Records that `part` of `document` said `note`.
    pub(crate) fn note(&mut self, document: &str, part: &str, note: impl Into<String>) -> Step {
        self.push(Step {
            document: document.to_owned(),
            part: part.to_owned(),
            note: note.into(),
        })
    }

    fn push(&mut self, step: Step) -> Step {
        self.trace.push(step.clone());
        step
    }

    /// Ends the evaluation with an allow decided by `by`.
    pub(crate) fn allow(self, by: Step) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            decided_by: Some(by),
            trace: self.trace,
            message: None,
        }
    }

    /// Ends the evaluation with a denial, decided by `by` if a part denied explicitly, and the
    /// cloud's `message` for it.
    pub(crate) fn deny(self, verdict: Verdict, by: Option<Step>, message: String) -> Decision {
        Decision {
            verdict,
            decided_by: by,
            trace: self.trace,
            message: Some(message),
        }
    }
}
