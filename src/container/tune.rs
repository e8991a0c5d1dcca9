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

use bytes::Bytes;

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

/// A tar archive, to be extracted at `/`, holding the bootstrap.
pub fn archive() -> std::io::Result<Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    let mut path = String::new();
    for part in TUNE_DIR.trim_start_matches('/').split('/') {
        path.push_str(part);
        path.push('/');
        builder.append_data(&mut dir.clone(), &path, std::io::empty())?;
    }
    let mut file = tar::Header::new_gnu();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o644);
    file.set_size(SITECUSTOMIZE.len() as u64);
    builder.append_data(&mut file, format!("{path}sitecustomize.py"), SITECUSTOMIZE.as_bytes())?;
    Ok(Bytes::from(builder.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_only_the_bootstrap() {
        let bytes = archive().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["opt/", "opt/dockdap/", "opt/dockdap/tune/", "opt/dockdap/tune/sitecustomize.py"]);
    }

    #[test]
    fn pythonpath_keeps_the_image_path() {
        assert_eq!(pythonpath(None), "/opt/dockdap/tune");
        assert_eq!(pythonpath(Some("/app:/lib")), "/opt/dockdap/tune:/app:/lib");
    }
}
