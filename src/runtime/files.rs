//! Reading a container's files with commands run inside it, whatever the
//! runtime: the list of files changed since a moment (GNU `find`), the
//! identity of paths (`find`, else Python), and the parsing of what they
//! print. The Docker runtime uses these where its API has no answer; the
//! Kubernetes runtime, which has no file API at all, for everything.
//!
//! Paths are separated by NUL, so no file name can forge an entry.

use crate::runtime::FileIdentity;

/// `find ROOT` for the files (not folders) whose status changed after
/// `since` (a time `find -newerct` reads, e.g. RFC 3339), with their link
/// counts: `%n %p\0`.
pub(crate) fn changed_since_command<'a>(root: &'a str, since: &'a str) -> [&'a str; 11] {
    ["find", root, "-mindepth", "1", "!", "-type", "d", "-newerct", since, "-printf", "%n %p\\0"]
}

/// What `changed_since_command` printed: paths relative to `root` with their
/// link counts, sorted.
pub(crate) fn parse_changed(root: &str, out: &str) -> Vec<(String, u64)> {
    let prefix = format!("{}/", root.trim_end_matches('/'));
    let mut files: Vec<(String, u64)> = out
        .split('\0')
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(links, path)| Some((path.strip_prefix(&prefix)?, links.parse().ok()?)))
        .filter(|(rest, _)| !rest.is_empty())
        .map(|(rest, links)| (rest.to_owned(), links))
        .collect();
    files.sort();
    files
}

/// `find PATHS -maxdepth 0` printing what `parse_identities` reads.
pub(crate) fn identities_command(paths: &[String]) -> Vec<&str> {
    let mut find = vec!["find"];
    find.extend(paths.iter().map(String::as_str));
    find.extend(["-maxdepth", "0", "-printf", "%y %i %n %C@ %p\\0"]);
    find
}

/// `find -printf '%y %i %n %C@ %p\0'`, done in Python for images without GNU find.
pub(crate) const IDENTITIES_PY: &str = r#"import os, stat, sys
for p in sys.argv[1:]:
    try:
        s = os.lstat(p)
    except OSError:
        continue
    m = s.st_mode
    k = "f" if stat.S_ISREG(m) else "d" if stat.S_ISDIR(m) else "l" if stat.S_ISLNK(m) else "?"
    sys.stdout.write("%s %d %d %d %s\0" % (k, s.st_ino, s.st_nlink, s.st_ctime_ns, p))
"#;

/// What `identities_command` or `IDENTITIES_PY` printed; junk is dropped.
pub(crate) fn parse_identities(out: &str) -> Vec<FileIdentity> {
    out.split('\0')
        .filter_map(|line| {
            let mut fields = line.splitn(5, ' ');
            let kind = fields.next()?.chars().next()?;
            let inode = fields.next()?.parse().ok()?;
            let links = fields.next()?.parse().ok()?;
            let ctime = fields.next()?.to_owned();
            let path = fields.next()?.to_owned();
            Some(FileIdentity { path, kind, inode, links, ctime })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_parsed_and_junk_is_dropped() {
        let out = "f 12 2 1700000000.5 /var/azureml-app/a b.py\0d 3 4 17.0 /var/azureml-app\0junk\0f x 1 1 /y\0";
        assert_eq!(
            parse_identities(out),
            [
                FileIdentity {
                    path: "/var/azureml-app/a b.py".into(),
                    kind: 'f',
                    inode: 12,
                    links: 2,
                    ctime: "1700000000.5".into()
                },
                FileIdentity { path: "/var/azureml-app".into(), kind: 'd', inode: 3, links: 4, ctime: "17.0".into() },
            ]
        );
    }

    #[test]
    fn changed_files_are_relative_sorted_and_under_the_root() {
        let out = "1 /app/b.py\x002 /app/a b.py\x001 /elsewhere/x\x001 /app/\x00junk\x00";
        assert_eq!(parse_changed("/app/", out), [("a b.py".to_owned(), 2), ("b.py".to_owned(), 1)]);
    }
}
