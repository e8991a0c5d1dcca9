//! Rewrites container paths inside Python traceback text, so that the
//! editor can turn `File "/var/azureml-app/score.py", line 3` in the debug
//! console or an exception widget into a link to the workspace file.
//!
//! Only a line shaped like a traceback frame is touched: optional
//! indentation (spaces, tabs, and the `|` rails of exception-group
//! tracebacks), then `File "<path>", line <digits>`. Only the quoted path
//! changes, and only when it lies under a mapping; every other byte,
//! including line endings and unmapped paths, is kept. This is a heuristic
//! over free text, so it deliberately does not look for paths anywhere else
//! (`path:line:` in pytest summaries, bare paths in log lines, program data).

use super::map::PathMap;

const FRAME_START: &str = "File \"";
const FRAME_END: &str = "\", line ";

/// Rewrites the quoted paths of traceback frames in `text` from container to
/// host paths; `None` when nothing changed, so callers can skip re-encoding.
pub fn rewrite_traceback_to_host(text: &str, map: &PathMap) -> Option<String> {
    rewrite_frames(text, |path| map.to_host(path))
}

/// The traceback walk with the path translation left to the caller, so the
/// `PathRewriter` can give back the editor's own spelling.
pub(crate) fn rewrite_frames(text: &str, mut to_host: impl FnMut(&str) -> Option<String>) -> Option<String> {
    if !text.contains(FRAME_START) {
        return None;
    }
    let mut out: Option<String> = None;
    let mut done = 0; // bytes of `text` already accounted for in `out`
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if let Some((from, to)) = frame_path(line) {
            let (from, to) = (line_start + from, line_start + to);
            if let Some(host) = to_host(&text[from..to]) {
                let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
                buf.push_str(&text[done..from]);
                buf.push_str(&host);
                done = to;
            }
        }
        line_start += line.len();
    }
    let mut out = out?;
    out.push_str(&text[done..]);
    Some(out)
}

/// Byte range of the quoted path if `line` is a traceback frame line.
fn frame_path(line: &str) -> Option<(usize, usize)> {
    let indent = line.len() - line.trim_start_matches([' ', '\t', '|']).len();
    if !line[indent..].starts_with(FRAME_START) {
        return None;
    }
    let start = indent + FRAME_START.len();
    // The first `", line <digit>` on the line closes the path; Python prints
    // the file name unescaped, so a path containing `", line 1` is misread,
    // which only means it stays unmapped or maps a shorter path.
    let mut search = start;
    while let Some(rel) = line[search..].find(FRAME_END) {
        let end = search + rel;
        let after = &line[end + FRAME_END.len()..];
        if after.starts_with(|c: char| c.is_ascii_digit()) && end > start {
            return Some((start, end));
        }
        search = end + FRAME_END.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::map::Mapping;
    use proptest::prelude::*;

    fn map() -> PathMap {
        PathMap::new(vec![Mapping::new("/home/u/ws", "/var/azureml-app"), Mapping::new("C:\\Users\\U\\ws", "/mnt/win")])
    }

    /// `expect` is `None` when the text must come back unchanged.
    #[track_caller]
    fn check(text: &str, expect: Option<&str>) {
        assert_eq!(rewrite_traceback_to_host(text, &map()).as_deref(), expect, "{text:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn frames() {
        check(
            "  File \"/var/azureml-app/score.py\", line 3, in run\n",
            Some("  File \"/home/u/ws/score.py\", line 3, in run\n"),
        );
        check("File \"/var/azureml-app/x.py\", line 12", Some("File \"/home/u/ws/x.py\", line 12"));
        check("\tFile \"/var/azureml-app/x.py\", line 1\r\n", Some("\tFile \"/home/u/ws/x.py\", line 1\r\n"));
        check("  |   File \"/var/azureml-app/x.py\", line 2, in f", Some("  |   File \"/home/u/ws/x.py\", line 2, in f"));
        check("  File \"/mnt/win/sub/a b.py\", line 9, in <module>", Some("  File \"C:\\Users\\U\\ws\\sub\\a b.py\", line 9, in <module>"));
        check("  File \"/var/azureml-app/données/é.py\", line 4", Some("  File \"/home/u/ws/données/é.py\", line 4"));
        check("  File \"/var/azureml-app/./x.py\", line 4", Some("  File \"/home/u/ws/x.py\", line 4"));
    }

    #[test]
    fn whole_traceback() {
        let text = "Traceback (most recent call last):\n  File \"/usr/lib/python3.11/runpy.py\", line 198, in _run_module_as_main\n  File \"/var/azureml-app/score.py\", line 3, in run\n    return model.predict(data)\n  File \"/var/azureml-app/model.py\", line 40, in predict\n    raise ValueError(\"File \\\"/var/azureml-app/x\\\", line 1\")\nValueError: bad input\n";
        let want = "Traceback (most recent call last):\n  File \"/usr/lib/python3.11/runpy.py\", line 198, in _run_module_as_main\n  File \"/home/u/ws/score.py\", line 3, in run\n    return model.predict(data)\n  File \"/home/u/ws/model.py\", line 40, in predict\n    raise ValueError(\"File \\\"/var/azureml-app/x\\\", line 1\")\nValueError: bad input\n";
        check(text, Some(want));
    }

    #[test]
    #[rustfmt::skip]
    fn left_alone() {
        check("", None);
        check("plain output\n", None);
        check("  File \"/usr/local/lib/python3.11/site-packages/x.py\", line 3, in f", None);
        check("  File \"/var/azureml-app2/x.py\", line 3, in f", None);
        check("  File \"<string>\", line 1, in <module>", None);
        check("  File \"/var/azureml-app/x.py\", line x", None);
        check("  File \"/var/azureml-app/x.py\"", None);
        check("  File \"/var/azureml-app/x.py\", line", None);
        check("  File \"\", line 1", None);
        check("  File '/var/azureml-app/x.py', line 1", None);
        check("  file \"/var/azureml-app/x.py\", line 1", None);
        check("print('File \"/var/azureml-app/x.py\", line 1')", None);
        check("ERROR File \"/var/azureml-app/x.py\", line 1", None);
        check("/var/azureml-app/x.py:12: AssertionError", None);
        check("  File \"/var/azureml-app/x.py\n\", line 1", None);
    }

    #[test]
    #[rustfmt::skip]
    fn unusual_paths() {
        check(
            "  File \"/var/azureml-app/a\", line 1.py\", line 2, in f",
            Some("  File \"/home/u/ws/a\", line 1.py\", line 2, in f"),
        );
        check("  File \"/var/azureml-app/a\", line z.py\", line 2", Some("  File \"/home/u/ws/a\", line z.py\", line 2"));
    }

    proptest! {
        #[test]
        fn never_panics(text in "(\\PC|\n| File \"|\", line [0-9]|/var/azureml-app/){0,30}") {
            if let Some(out) = rewrite_traceback_to_host(&text, &map()) {
                prop_assert_ne!(out, text);
            }
        }

        #[test]
        fn other_lines_untouched(lines in prop::collection::vec("\\PC{0,30}", 0..8)) {
            let text = lines.join("\n");
            let frame = "  File \"/var/azureml-app/s.py\", line 3, in run";
            let mixed = format!("{text}\n{frame}\n{text}");
            let want = format!("{text}\n  File \"/home/u/ws/s.py\", line 3, in run\n{text}");
            if !text.contains("File \"") {
                prop_assert_eq!(rewrite_traceback_to_host(&mixed, &map()), Some(want));
            }
        }
    }
}
