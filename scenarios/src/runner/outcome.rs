//! What an action came to: done with a line of detail, or failed with an error kind, and the
//! error kind of an engine failure.

use ekm_engine::EngineError;

use crate::schema::ErrorKind;

/// The result of an action.
pub(super) struct Done {
    pub(super) outcome: Result<(), (ErrorKind, String)>,
    pub(super) detail: String,
}

impl Done {
    pub(super) fn ok(detail: impl Into<String>) -> Self {
        Self {
            outcome: Ok(()),
            detail: detail.into(),
        }
    }

    /// Done with `detail`, failed with the first error if there was one.
    pub(super) fn with_first_error(
        detail: String,
        first_error: Option<(ErrorKind, String)>,
    ) -> Self {
        Self {
            outcome: first_error.map_or(Ok(()), Err),
            detail,
        }
    }

    pub(super) fn failed(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            outcome: Err((kind, message.into())),
            detail: String::new(),
        }
    }
}

/// The error kind of an engine failure.
pub fn error_kind(error: &EngineError) -> ErrorKind {
    if let Some(kms) = error.kms_error() {
        return ErrorKind::from(kms.kind());
    }
    match error {
        EngineError::UnknownKey { .. } => ErrorKind::UnknownKey,
        EngineError::NoProvider { .. } => ErrorKind::NoProvider,
        EngineError::Envelope(_) | EngineError::WrongProject { .. } => ErrorKind::Envelope,
        EngineError::Store(_) => ErrorKind::Store,
        _ => ErrorKind::Other,
    }
}
