//! What makes an archive from the container provably the file at its path,
//! before its content is written into the workspace.
//!
//! The archive API resolves the path when it reads it and says nothing of
//! link counts, so on its own it cannot tell `/var/azureml-app/x` from a
//! hard link `x` to `/etc/shadow` (issue 21: 474 bytes of shadow came into
//! the workspace), nor a file reached through a folder that is a symlink.
//! So the identity of the file and of every folder above it under the app
//! root (kind, inode, link count, change time) is read before and after the
//! archive, and the archive counts only when:
//!
//! - the file is a regular file with exactly one link, and every folder on
//!   the way below the app root is a folder (no symlink);
//! - nothing of that changed between the two looks. Making or removing a
//!   name for an inode changes its change time, and the change time cannot
//!   be set back, so a file swapped for a hard link while the archive was
//!   read, and back, is seen.
//!
//! This module judges identities it is given; reading them is the
//! `Remote`'s job, and the engine decides what to do with a refusal.

use super::names::RelPath;

/// What a path is, as the container's runtime read it.
pub use crate::runtime::FileIdentity as Identity;

/// The app root, each folder under it on the way to `path`, and `path`'s file.
pub fn chain(app_root: &str, path: &RelPath) -> Vec<String> {
    let mut out = vec![app_root.to_owned()];
    let mut at = app_root.trim_end_matches('/').to_owned();
    for component in path.components() {
        at = format!("{at}/{component}");
        out.push(at.clone());
    }
    out
}

/// Why the identities of `chain` (as read by one look) do not show a plain
/// file with one link reached through folders; `Ok` when they do.
pub fn judge(chain: &[String], seen: &[Identity]) -> Result<(), String> {
    let last = chain.len().saturating_sub(1);
    for (i, path) in chain.iter().enumerate() {
        let Some(identity) = seen.iter().find(|s| s.path == *path) else {
            return Err(format!("{path} could not be looked at (it is gone, or was never there)"));
        };
        match (i, identity.kind) {
            // The configured app root may itself be a link (`/app` -> `/srv/app`).
            (0, 'd' | 'l') => {}
            (i, 'd') if i < last => {}
            (i, 'l') if i < last => {
                return Err(format!("{path} is a symbolic link; files are never read through one"));
            }
            (i, 'f') if i == last && identity.links == 1 => {}
            (i, 'f') if i == last => return Err(too_many_links(identity.links)),
            (i, _) if i == last => return Err("it is not a regular file; only files and folders are synced".into()),
            _ => return Err(format!("{path} is not a folder")),
        }
    }
    Ok(())
}

/// Why a file with `links` names is refused.
pub fn too_many_links(links: u64) -> String {
    format!(
        "it has {links} hard links: the same file is elsewhere in the container too (it could be /etc/shadow); only files with one link are synced"
    )
}

/// Whether two looks at the same chain saw the same things.
pub fn unchanged(before: &[Identity], after: &[Identity]) -> bool {
    let sorted = |v: &[Identity]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    };
    sorted(before) == sorted(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::names::HostOs;

    fn id(path: &str, kind: char, links: u64) -> Identity {
        Identity { path: path.into(), kind, inode: path.len() as u64, links, ctime: "1.0".into() }
    }

    #[test]
    fn only_a_single_link_file_under_folders_passes() {
        let path = RelPath::parse("sub/x.py", HostOs::Posix).unwrap();
        let chain = chain("/app", &path);
        assert_eq!(chain, ["/app", "/app/sub", "/app/sub/x.py"]);
        let good = [id("/app", 'l', 1), id("/app/sub", 'd', 2), id("/app/sub/x.py", 'f', 1)];
        assert_eq!(judge(&chain, &good), Ok(()));
        let linked = [id("/app", 'd', 3), id("/app/sub", 'd', 2), id("/app/sub/x.py", 'f', 2)];
        assert!(judge(&chain, &linked).unwrap_err().starts_with("it has 2 hard links"));
        let through = [id("/app", 'd', 3), id("/app/sub", 'l', 1), id("/app/sub/x.py", 'f', 1)];
        assert_eq!(
            judge(&chain, &through).unwrap_err(),
            "/app/sub is a symbolic link; files are never read through one"
        );
        let fifo = [id("/app", 'd', 3), id("/app/sub", 'd', 2), id("/app/sub/x.py", 'p', 1)];
        assert!(judge(&chain, &fifo).unwrap_err().starts_with("it is not a regular file"));
        assert!(judge(&chain, &good[..2]).unwrap_err().contains("/app/sub/x.py could not be looked at"));
    }

    #[test]
    fn any_change_between_the_looks_counts() {
        let before = [id("/app", 'd', 3), id("/app/x", 'f', 1)];
        let mut after = before.to_vec();
        after.reverse();
        assert!(unchanged(&before, &after));
        after[0].ctime = "1.000000001".into();
        assert!(!unchanged(&before, &after));
    }
}
