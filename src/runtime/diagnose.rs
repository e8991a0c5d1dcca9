//! Why did the container die? A plain-language reading of its last lines.
//!
//! Azure ML users know the message "Your container application crashed. This
//! may be caused by errors in your scoring file's init() function" and little
//! else. dockdap reads the log tail for the failures that account for most
//! crashes and says what each means; the raw lines always follow.

/// Known failure signatures: (text to look for, what it means).
const SIGNATURES: &[(&str, &str)] = &[
    (
        "FileNotFoundError",
        "a file was not found: if it is the model, check AZUREML_MODEL_DIR and the model path that init() builds (Model.get_model_path)",
    ),
    (
        "ModuleNotFoundError",
        "a Python import failed: the package is missing from the image's environment (add it to the conda/pip requirements)",
    ),
    ("ImportError", "a Python import failed: a package is missing or incompatible in the image's environment"),
    (
        "address already in use",
        "a port inside the container is already taken: another process in the image listens on it",
    ),
    ("Permission denied", "a file or port could not be opened for lack of permission inside the container"),
    (
        "exec format error",
        "the image's command is not runnable on this machine (wrong architecture or missing shebang)",
    ),
    ("executable file not found", "the image's command does not exist in the image: check `command`/`entrypoint`"),
    ("SyntaxError", "a Python file does not parse: fix the syntax error shown below"),
];

/// The reading of a log tail: the most telling finding first, then the lines.
pub fn diagnose(code: i64, tail: &str) -> String {
    let mut findings: Vec<&str> =
        SIGNATURES.iter().filter(|(needle, _)| tail.contains(needle)).map(|(_, meaning)| *meaning).collect();
    let in_init = tail.contains("in init") || tail.contains("init()");
    if in_init {
        findings.insert(0, "init() in the scoring script raised an exception (the traceback below shows where)");
    }
    if findings.is_empty() {
        findings.push(match code {
            137 => "the container was killed (SIGKILL: out of memory, or `docker kill`)",
            143 => "the container was stopped (SIGTERM)",
            127 => "the container's command was not found",
            _ => "see the last lines below",
        });
    }
    let mut text = String::new();
    for finding in findings.iter().take(3) {
        text.push_str("- ");
        text.push_str(finding);
        text.push('\n');
    }
    if tail.trim().is_empty() {
        text.push_str("(the container printed nothing)");
    } else {
        text.push_str("last lines:\n");
        text.push_str(tail);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: i64, tail: &str, first: &str) {
        let text = diagnose(code, tail);
        assert_eq!(text.lines().next().unwrap(), first, "{text}");
        assert!(text.contains(tail), "{text}");
    }

    #[test]
    fn table() {
        check(
            1,
            "  File \"/var/azureml-app/score.py\", line 9, in init\nFileNotFoundError: [Errno 2] No such file: '/m/model.json'",
            "- init() in the scoring script raised an exception (the traceback below shows where)",
        );
        check(
            1,
            "ModuleNotFoundError: No module named 'sklearn'",
            "- a Python import failed: the package is missing from the image's environment (add it to the conda/pip requirements)",
        );
        check(137, "", "- the container was killed (SIGKILL: out of memory, or `docker kill`)");
        check(3, "boom", "- see the last lines below");
    }
}
