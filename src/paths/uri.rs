//! `file://` URIs <-> host paths, for clients that said `pathFormat: "uri"`
//! in `initialize` (debugpy itself only accepts plain paths).
//!
//! Handles local POSIX paths, Windows drive paths and UNC shares
//! (`file://server/share`), with UTF-8 percent-encoding. It deliberately
//! does not handle other schemes (`untitled:`, `vscode-remote:`), which are
//! left to pass through unchanged, and does not map anything: that is
//! `PathMap`'s job.

/// Whether `s` has the `file:` scheme (case-insensitive), the only one converted.
pub(crate) fn is_file_uri(s: &str) -> bool {
    s.get(..5).is_some_and(|scheme| scheme.eq_ignore_ascii_case("file:"))
}

/// `file:///C:/a%20b` -> `C:\a b`, `file://server/share/x` -> `\\server\share\x`,
/// `file:///home/u/x` -> `/home/u/x`; `None` for anything else or bad
/// percent-encoding. Query and fragment are dropped. Like other file URI
/// parsers, a first name that looks like a drive (`file:///c:/x`) is read
/// as a Windows drive.
pub(crate) fn file_uri_to_path(uri: &str) -> Option<String> {
    if !is_file_uri(uri) {
        return None;
    }
    let rest = &uri[5..];
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => r.split_at(r.find('/').unwrap_or(r.len())),
        None if rest.starts_with('/') => ("", rest),
        None => return None,
    };
    let authority = percent_decode(authority)?;
    let path = percent_decode(path)?;
    if !authority.is_empty() && !authority.eq_ignore_ascii_case("localhost") {
        return Some(format!("\\\\{authority}{}", path.replace('/', "\\")));
    }
    let b = path.as_bytes();
    let drive =
        b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' && (b.len() == 3 || b[3] == b'/');
    if drive {
        let mut out = path[1..].replace('/', "\\");
        if out.len() == 2 {
            out.push('\\');
        }
        return Some(out);
    }
    Some(if path.is_empty() { "/".to_string() } else { path })
}

/// The inverse of [`file_uri_to_path`] for absolute host paths: every byte
/// but unreserved characters and `/` (and a drive letter's `:`) is
/// percent-encoded.
pub(crate) fn path_to_file_uri(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::from("file://");
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        out.push('/');
        out.push_str(&path[..2]);
        percent_encode(&path[2..].replace('\\', "/"), &mut out);
    } else if let Some(unc) = path.strip_prefix("\\\\") {
        percent_encode(&unc.replace('\\', "/"), &mut out);
    } else {
        if !path.starts_with('/') {
            out.push('/');
        }
        percent_encode(path, &mut out);
    }
    out
}

fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in s.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_value(*b.get(i + 1)?)?;
            let lo = hex_value(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `uri` decodes to `path`; if `canonical`, `path` also encodes to `uri`.
    #[track_caller]
    fn check(uri: &str, path: Option<&str>, canonical: bool) {
        assert_eq!(file_uri_to_path(uri).as_deref(), path, "decode {uri:?}");
        if let (Some(path), true) = (path, canonical) {
            assert_eq!(path_to_file_uri(path), uri, "encode {path:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn uris() {
        check("file:///home/u/ws/app.py", Some("/home/u/ws/app.py"), true);
        check("file:///home/u/ws/donn%C3%A9es/a%20b.py", Some("/home/u/ws/données/a b.py"), true);
        check("file:///home/u/a%5Cb%25c%23d%3Fe", Some("/home/u/a\\b%c#d?e"), true);
        check("file:///home/u/a%3Ab", Some("/home/u/a:b"), true);
        check("file:///C:/Users/U/ws/app.py", Some("C:\\Users\\U\\ws\\app.py"), true);
        check("file:///c%3A/Users/U/WS/app.py", Some("c:\\Users\\U\\WS\\app.py"), false);
        check("file:///c:/Users/U/WS/app.py", Some("c:\\Users\\U\\WS\\app.py"), true);
        check("file:///C:/", Some("C:\\"), true);
        check("file:///C:", Some("C:\\"), false);
        check("file://server/share/ws/x.py", Some("\\\\server\\share\\ws\\x.py"), true);
        check("file://localhost/home/u/x.py", Some("/home/u/x.py"), false);
        check("FILE:///home/u/x.py", Some("/home/u/x.py"), false);
        check("file:/home/u/x.py", Some("/home/u/x.py"), false);
        check("file:///home/u/x.py?query#frag", Some("/home/u/x.py"), false);
        check("file://", Some("/"), false);
        check("file:///", Some("/"), true);
        check("file:relative/x.py", None, false);
        check("file:///bad%zz", None, false);
        check("file:///bad%+f", None, false);
        check("file:///bad%", None, false);
        check("file:///bad%FF", None, false);
        check("untitled:Untitled-1", None, false);
        check("vscode-remote://wsl+ubuntu/home/u/x.py", None, false);
        check("/home/u/x.py", None, false);
        assert!(is_file_uri("File:///x"));
        assert!(!is_file_uri("fil"));
        assert!(!is_file_uri("é:///x"));
    }

    proptest! {
        #[test]
        fn round_trip(segments in prop::collection::vec("[^/\\\\:]{1,8}", 0..5), windows in any::<bool>()) {
            let path = if windows {
                format!("C:\\{}", segments.join("\\"))
            } else {
                format!("/{}", segments.join("/"))
            };
            prop_assert_eq!(file_uri_to_path(&path_to_file_uri(&path)), Some(path));
        }

        #[test]
        fn never_panics(s in "(\\PC|%[0-9a-fA-F]{0,2}|file://|/[a-zA-Z]:){0,20}") {
            let _ = file_uri_to_path(&s);
            let _ = path_to_file_uri(&s);
            let _ = file_uri_to_path(&format!("file://{s}"));
        }
    }
}
