//! Stopping between writes when the user interrupts: once asked, a request not yet sent is not
//! sent (it fails as not attempted, and is reported so), while one already sent is answered.
//! Each write is one request, so no object is ever half written.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Why a request was not sent after [`request`].
pub const REASON: &str = "interrupted before it was sent";

/// From now on, no request is sent.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether [`request`] was called.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
