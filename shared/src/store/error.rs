//! How a DynamoDB call failed: worth retrying later or not, DynamoDB's error code when it
//! answered with one, and the SDK's error as the source (its chain holds the detail).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// A DynamoDB call failed. The text is for logs (it never holds a token or a session id:
/// keys only carry user ids and keyed hashes); clients see only the contract's 5xx.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// Worth retrying: timeouts, connection failures, throttling, DynamoDB 5xx.
    pub transient: bool,
    /// DynamoDB's error code, when it answered with one.
    code: Option<String>,
    message: String,
    #[source]
    source: Option<Source>,
}

impl StoreError {
    /// DynamoDB answered, refusing the request with an error code (`AccessDeniedException`
    /// from a role that lacks a permission, `ResourceNotFoundException` for a missing table,
    /// `ValidationException`): a deployment or code problem, not an outage.
    pub fn answered_with_error(&self) -> bool {
        !self.transient && self.code.is_some()
    }

    /// The table does not exist (or is not visible to these credentials in this region).
    pub fn is_missing_table(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }

    /// An item that is not what this code writes (hand-edited, or damaged).
    pub(super) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self {
            transient: false,
            code: None,
            message: format!("unreadable item: {what}"),
            source: None,
        }
    }

    /// A request the SDK refused to build (a missing required field: a bug of ours).
    pub(super) fn unbuildable(error: BuildError) -> Self {
        Self {
            transient: false,
            code: None,
            message: "cannot build the request".into(),
            source: Some(Box::new(error)),
        }
    }

    /// A transaction DynamoDB cancelled for another reason than the caller expected.
    pub(super) fn cancelled(codes: &[String]) -> Self {
        let retry_later = [
            "TransactionConflict",
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
        ];
        Self {
            transient: codes.iter().any(|code| retry_later.contains(&code.as_str())),
            code: Some("TransactionCanceledException".into()),
            message: format!("transaction cancelled: {codes:?}"),
            source: None,
        }
    }

    /// A wait or a page that ran out, with what the caller was doing.
    pub(super) fn transient(message: String, source: Option<Source>) -> Self {
        Self {
            transient: true,
            code: None,
            message,
            source,
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> Self {
        let transient = match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                service.raw().status().is_server_error()
                    || matches!(
                        service.err().code(),
                        Some(
                            "ProvisionedThroughputExceededException"
                                | "ThrottlingException"
                                | "RequestLimitExceeded"
                                | "TransactionInProgressException"
                        )
                    )
            }
            _ => false,
        };
        let code = error.code().map(str::to_string);
        let message = match (&code, transient) {
            (Some(code), _) => format!("DynamoDB answered {code}"),
            (None, true) => "DynamoDB did not answer".to_string(),
            (None, false) => "the DynamoDB request failed".to_string(),
        };
        Self {
            transient,
            code,
            message,
            source: Some(Box::new(error)),
        }
    }
}
