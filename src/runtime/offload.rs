//! `inject`'s work on this machine, moved off the async runtime's threads:
//! finding debugpy runs `python3` and waits for it, packing debugpy reads
//! and tars a few hundred files. Both run on tokio's blocking pool, so a
//! session's other tasks (and other sessions of `dockdap --listen`) go on
//! meanwhile.
//!
//! The logic stays in `inject`; this only moves it to another thread.

use std::path::PathBuf;

use bytes::Bytes;

use super::inject::{self, InjectError};

/// `inject::find_debugpy`, on the blocking pool.
pub async fn find_debugpy(configured: Option<String>) -> Result<PathBuf, InjectError> {
    tokio::task::spawn_blocking(move || inject::find_debugpy(configured.as_deref()))
        .await
        .unwrap_or_else(|e| Err(InjectError::NoDebugpy(format!("the search for debugpy stopped: {e}"))))
}

/// `inject::archive`, on the blocking pool.
pub async fn archive(debugpy: Option<PathBuf>, root: &'static str) -> Result<Bytes, InjectError> {
    let path = debugpy.clone().unwrap_or_else(|| PathBuf::from("/"));
    tokio::task::spawn_blocking(move || inject::archive(debugpy.as_deref(), root))
        .await
        .unwrap_or_else(|e| Err(InjectError::Pack { path, source: std::io::Error::other(e) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_configured_path_that_is_not_debugpy_is_refused_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_debugpy(Some(dir.path().display().to_string())).await.unwrap_err();
        assert!(matches!(err, InjectError::NotDebugpy(_)), "{err:?}");
        // The bootstrap alone packs without a debugpy.
        assert!(!archive(None, "/").await.unwrap().is_empty());
    }
}
