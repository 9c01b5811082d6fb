//! Stopping between writes when the user interrupts: once asked, a request not yet sent is not
//! sent (it fails as not attempted, and is reported so), while one already sent is answered.
//! Each write is one request, so no object is ever half written. Requests waiting for their
//! turn in the request window stop waiting at once.

use std::sync::LazyLock;

use tokio::sync::watch;

static REQUESTED: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// Why a request was not sent after [`request`].
pub const REASON: &str = "interrupted before it was sent";

/// From now on, no request is sent.
pub fn request() {
    REQUESTED.send_replace(true);
}

/// Whether [`request`] was called.
pub fn requested() -> bool {
    *REQUESTED.borrow()
}

/// Resolves once [`request`] is called.
pub async fn requested_now() {
    let mut stopped = REQUESTED.subscribe();
    let _ = stopped.wait_for(|stopped| *stopped).await;
}
