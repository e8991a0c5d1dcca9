//! `tuneDebugger`: a reviewed Python bootstrap that sets TCP_NODELAY on
//! debugpy's own sockets inside the container, and nothing else.
//!
//! pydevd sends each message as two writes (header, body) on sockets without
//! TCP_NODELAY, so Nagle's algorithm and the peer's delayed ACK add ~40 ms to
//! every request that reaches the debuggee (debugpy#1405). dockdap starts the
//! container, so it can fix that: it copies `python/sitecustomize.py` into the
//! container through the archive API (no bind mount, so remote engines work)
//! and puts its folder first on `PYTHONPATH`, which every Python process,
//! gunicorn workers and debugpy's adapter included, inherits. The bootstrap
//! chains to the image's own `sitecustomize`, so the image behaves as before.

/// Where the bootstrap goes in the container.
pub const TUNE_DIR: &str = "/opt/dockdap/tune";

/// The bootstrap itself.
pub const SITECUSTOMIZE: &str = include_str!("python/sitecustomize.py");

/// `PYTHONPATH` with the bootstrap's folder first, keeping what was there.
pub fn pythonpath(existing: Option<&str>) -> String {
    match existing {
        Some(p) if !p.is_empty() => format!("{TUNE_DIR}:{p}"),
        _ => TUNE_DIR.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythonpath_keeps_the_image_path() {
        assert_eq!(pythonpath(None), "/opt/dockdap/tune");
        assert_eq!(pythonpath(Some("/app:/lib")), "/opt/dockdap/tune:/app:/lib");
    }
}
