//! What an image's own files say it will do with a debugger, judged before
//! the container starts. The Docker runtime reads the files (the entry
//! script, the local modules it imports, whether some packages are
//! installed) through the archive API without running anything; this module
//! only reads text and paths, so `debugger: "auto"` can be tested without
//! an engine.

/// The packages whose presence `auto` weighs (import names).
pub const PACKAGES: [&str; 3] = ["debugpy", "ptvsd", "azureml_inference_server_http"];

/// How many modules an entry script imports that are looked for beside it.
pub const MAX_IMPORTS: usize = 12;

/// A Python file read from the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    /// Its path in the image.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// What was read from an image before start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFiles {
    /// The entry script first, then the modules beside it that it imports.
    pub scripts: Vec<ScriptFile>,
    /// Which of [`PACKAGES`] are installed; `None` when the image's Python
    /// (and so its site folders) could not be found.
    pub packages: Option<Vec<String>>,
}

impl ImageFiles {
    /// Whether `package` is installed: `None` when that is unknown.
    pub fn has_package(&self, package: &str) -> Option<bool> {
        self.packages.as_ref().map(|list| list.iter().any(|p| p == package))
    }
}

/// A debugger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debugger {
    /// debugpy.
    Debugpy,
    /// ptvsd 4, debugpy's deprecated predecessor.
    Ptvsd,
}

/// A call that starts a debugger, found in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebuggerCall {
    /// Which debugger.
    pub debugger: Debugger,
    /// The call as written, e.g. `debugpy.listen`.
    pub call: &'static str,
    /// `file:line`.
    pub at: String,
    /// Whether it runs when the module loads (not indented: not inside a
    /// function or an `if`).
    pub when_loaded: bool,
    /// The port in the call, when it is a literal.
    pub port: Option<u16>,
}

const CALLS: [(&str, Debugger); 4] = [
    ("debugpy.listen", Debugger::Debugpy),
    ("debugpy.connect", Debugger::Debugpy),
    ("ptvsd.enable_attach", Debugger::Ptvsd),
    ("ptvsd.attach", Debugger::Ptvsd),
];

/// The calls in `script` that start a debugger.
pub fn debugger_calls(script: &ScriptFile) -> Vec<DebuggerCall> {
    let file = script.path.rsplit('/').next().unwrap_or(&script.path);
    let mut found = Vec::new();
    for (index, line) in script.text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        for (call, debugger) in CALLS {
            let Some(at) = code.find(&format!("{call}(")) else { continue };
            found.push(DebuggerCall {
                debugger,
                call,
                at: format!("{file}:{}", index + 1),
                when_loaded: !code.starts_with(char::is_whitespace),
                port: literal_port(&code[at + call.len()..]),
            });
        }
    }
    found
}

/// The first integer literal that is not part of a dotted address.
fn literal_port(arguments: &str) -> Option<u16> {
    arguments
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|token| !token.is_empty() && !token.contains('.'))
        .and_then(|token| token.parse().ok())
}

/// The top-level modules `text` imports (`import a.b, c`, `from d import e`),
/// in order, without relative imports.
pub fn imported_modules(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let listed = if let Some(rest) = line.strip_prefix("import ") {
            rest.split(',').map(|part| part.split_whitespace().next().unwrap_or_default()).collect()
        } else if let Some(rest) = line.strip_prefix("from ") {
            vec![rest.split_whitespace().next().unwrap_or_default()]
        } else {
            Vec::new()
        };
        for name in listed {
            let top = name.split('.').next().unwrap_or_default();
            if !top.is_empty()
                && top.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !names.iter().any(|n| n == top)
            {
                names.push(top.to_owned());
            }
        }
    }
    names
}

/// Where the image's entry script is, best guess first: the Azure ML
/// server's `--entry_script` or `AZUREML_ENTRY_SCRIPT` (relative to the app
/// root, else the working directory), else the script of `python X.py`.
pub fn entry_script_paths(command: &[String], env: &[String], working_dir: &str) -> Vec<String> {
    let var = |name: &str| env.iter().rev().find_map(|e| e.strip_prefix(name)?.strip_prefix('='));
    let flag = command.windows(2).find(|w| w[0] == "--entry_script").map(|w| w[1].as_str());
    let script = flag.or_else(|| var("AZUREML_ENTRY_SCRIPT")).or_else(|| {
        let python = command.iter().position(|c| c.rsplit('/').next().is_some_and(|n| n.starts_with("python")))?;
        command[python + 1..].iter().find(|a| !a.starts_with('-')).filter(|a| a.ends_with(".py")).map(String::as_str)
    });
    let Some(script) = script else { return Vec::new() };
    if script.starts_with('/') {
        return vec![script.to_owned()];
    }
    let mut roots = Vec::new();
    if flag.is_some() || var("AZUREML_ENTRY_SCRIPT").is_some() {
        roots.push(var("AML_APP_ROOT").unwrap_or("/var/azureml-app"));
    }
    roots.push(if working_dir.is_empty() { "/" } else { working_dir });
    let mut paths: Vec<String> = roots
        .iter()
        .map(|root| format!("{}/{}", root.trim_end_matches('/'), script.trim_start_matches("./")))
        .collect();
    paths.dedup();
    paths
}

/// The folders on `PATH` where the image's `python3` may be, in order.
pub fn python_dirs(env: &[String]) -> Vec<String> {
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path.split(':').filter(|d| d.starts_with('/')).map(|d| d.trim_end_matches('/').to_owned()).collect()
}

/// `3.11` from what a `python3` link points to (`python3.11`, `/usr/bin/python3.11`).
pub fn python_version(link_target: &str) -> Option<String> {
    let name = link_target.rsplit('/').next()?;
    let version = name.strip_prefix("python")?;
    let (major, minor) = version.split_once('.')?;
    (major == "3" && !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit())).then(|| version.to_owned())
}

/// The site folders of a Python `version` whose `python3` is in `bin_dir`:
/// its prefix's, then Debian's and the usual `/usr/local` ones.
pub fn site_dirs(bin_dir: &str, version: &str) -> Vec<String> {
    let prefix = bin_dir.strip_suffix("/bin").unwrap_or(bin_dir);
    let mut dirs = Vec::new();
    for prefix in [prefix, "/usr/local", "/usr"] {
        for kind in ["site-packages", "dist-packages"] {
            dirs.push(format!("{prefix}/lib/python{version}/{kind}"));
        }
    }
    dirs.push("/usr/lib/python3/dist-packages".to_owned());
    let mut unique: Vec<String> = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> ScriptFile {
        ScriptFile { path: "/var/azureml-app/score.py".into(), text: text.into() }
    }

    #[test]
    fn finds_the_guide_patterns() {
        let calls =
            debugger_calls(&script("import debugpy\ndebugpy.listen((\"0.0.0.0\", 5678))\ndebugpy.wait_for_client()\n"));
        assert_eq!(
            calls,
            vec![DebuggerCall {
                debugger: Debugger::Debugpy,
                call: "debugpy.listen",
                at: "score.py:2".into(),
                when_loaded: true,
                port: Some(5678),
            }]
        );
        let calls = debugger_calls(&script(
            "import ptvsd\n# ptvsd.attach(x)\nptvsd.enable_attach(address=('0.0.0.0', 5679), redirect_output=True)\n",
        ));
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(
            (calls[0].debugger, calls[0].port, calls[0].at.as_str()),
            (Debugger::Ptvsd, Some(5679), "score.py:3")
        );
        let calls = debugger_calls(&script("def init():\n    if DEBUG:\n        debugpy.listen(5678)\n"));
        assert!(!calls[0].when_loaded);
        assert_eq!(calls[0].port, Some(5678));
        assert_eq!(debugger_calls(&script("debugpy.listen(ADDRESS)\n"))[0].port, None);
    }

    #[test]
    fn imports() {
        assert_eq!(
            imported_modules(
                "import os, json as j\nfrom model.io import load\nfrom . import x\n  import helpers  # local\n"
            ),
            ["os", "json", "model", "helpers"]
        );
    }

    #[test]
    fn entry_scripts() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            entry_script_paths(&s(&["azmlinfsrv", "--entry_script", "score.py"]), &[], "/var/azureml-app"),
            ["/var/azureml-app/score.py"]
        );
        assert_eq!(
            entry_script_paths(&s(&["runsvdir"]), &s(&["AZUREML_ENTRY_SCRIPT=src/score.py", "AML_APP_ROOT=/app"]), "/"),
            ["/app/src/score.py", "/src/score.py"]
        );
        assert_eq!(entry_script_paths(&s(&["python3", "-u", "./app.py"]), &[], "/srv"), ["/srv/app.py"]);
        assert_eq!(entry_script_paths(&s(&["/usr/bin/python3", "/opt/x.py"]), &[], "/srv"), ["/opt/x.py"]);
        assert!(entry_script_paths(&s(&["python3", "-m", "http.server"]), &[], "/").is_empty());
    }

    #[test]
    fn pythons_and_site_folders() {
        assert_eq!(python_version("python3.11").as_deref(), Some("3.11"));
        assert_eq!(python_version("/usr/bin/python3.9").as_deref(), Some("3.9"));
        assert_eq!(python_version("python3"), None);
        assert_eq!(python_dirs(&["PATH=/opt/venv/bin:/usr/bin".into()]), ["/opt/venv/bin", "/usr/bin"]);
        let dirs = site_dirs("/opt/venv/bin", "3.11");
        assert_eq!(dirs[0], "/opt/venv/lib/python3.11/site-packages");
        assert!(dirs.contains(&"/usr/local/lib/python3.11/dist-packages".to_owned()));
    }
}
