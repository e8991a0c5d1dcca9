//! The Compose tool the user already has: `docker compose` (the plugin)
//! when `docker compose version` answers, else `docker-compose`; the files
//! it reads; and running it, its errors kept as it said them.
//!
//! dockdap always hands the tool its own override file, and a tool given
//! one `-f` stops looking for files itself; so when `compose.file` is
//! absent, `files` looks them up the tool's way (`COMPOSE_FILE`, else the
//! first folder from `localRoot` upwards with a Compose file, plus its
//! `.override` file).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::sync::OnceCell;

use crate::config::ComposeArguments;
use crate::console::EventSender;
use crate::runtime::ContainerError;

/// The plugin's own lookup order; the standalone tool's is in `V1_FILES`.
const V2_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];
const V2_OVERRIDES: &[&str] =
    &["compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"];
const V1_FILES: &[&str] = &["docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"];
const V1_OVERRIDES: &[&str] =
    &["docker-compose.override.yml", "docker-compose.override.yaml", "compose.override.yml", "compose.override.yaml"];

/// A Compose project as the tool is asked about it: which program, run
/// where, with which files, project name and profiles.
#[derive(Debug, Clone)]
pub(super) struct Tool {
    /// `["docker", "compose"]` or `["docker-compose"]`.
    program: Vec<String>,
    /// Where the tool runs (`localRoot`).
    dir: PathBuf,
    /// The user's files, absolute, in order.
    pub files: Vec<PathBuf>,
    project: Option<String>,
    profiles: Vec<String>,
}

impl Tool {
    /// The tool, and the project's files from `compose` (relative to
    /// `workspace`), or looked up the tool's way.
    pub async fn find(compose: &ComposeArguments, workspace: &Path) -> Result<Tool, ContainerError> {
        let program = program().await?.clone();
        let plugin = program.len() > 1;
        let files = if compose.file.is_empty() {
            default_files(workspace, plugin, std::env::var("COMPOSE_FILE").ok().as_deref())?
        } else {
            compose.file.iter().map(|f| workspace.join(f)).collect()
        };
        for (i, file) in files.iter().enumerate() {
            if !compose.file.is_empty() && !file.is_file() {
                return Err(ContainerError::Unusable(format!(
                    "`compose.file[{i}]` {}: there is no such file (relative names are read from `localRoot`, {}); name the project's Compose file, e.g. [\"docker-compose.yml\"]",
                    file.display(),
                    workspace.display()
                )));
            }
        }
        Ok(Tool {
            program,
            dir: workspace.to_path_buf(),
            files,
            project: compose.project.clone(),
            profiles: compose.profiles.clone(),
        })
    }

    /// How the user would type it: `docker compose` or `docker-compose`.
    pub fn name(&self) -> String {
        self.program.join(" ")
    }

    /// Runs the tool with the project's files (then `overlay`) and
    /// `command`; its error output goes to the debug console line by line
    /// as it comes. Returns its standard output; a failure is
    /// `ContainerError::Compose` with what it said.
    pub async fn run(
        &self,
        overlay: Option<&Path>,
        command: &[&str],
        events: &EventSender,
    ) -> Result<String, ContainerError> {
        self.run_as(overlay, command, events, true).await
    }

    /// `run` for a command that must finish even if dockdap stops waiting
    /// (`down` at the end of a session whose teardown timed out, or whose
    /// process exits): the tool is not killed when the wait is dropped.
    pub async fn run_to_the_end(
        &self,
        overlay: Option<&Path>,
        command: &[&str],
        events: &EventSender,
    ) -> Result<String, ContainerError> {
        self.run_as(overlay, command, events, false).await
    }

    async fn run_as(
        &self,
        overlay: Option<&Path>,
        command: &[&str],
        events: &EventSender,
        kill_on_drop: bool,
    ) -> Result<String, ContainerError> {
        let mut cmd = tokio::process::Command::new(&self.program[0]);
        cmd.args(&self.program[1..]).args(self.arguments(overlay)).args(command);
        cmd.current_dir(&self.dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.kill_on_drop(kill_on_drop);
        let shown = format!("{} {}", self.name(), command.first().copied().unwrap_or_default());
        tracing::debug!(command = ?cmd.as_std(), "running the Compose tool");
        let mut child =
            cmd.spawn().map_err(|e| ContainerError::Unusable(format!("cannot run `{}`: {e}", self.name())))?;
        let mut stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let reading_out = async {
            let mut text = String::new();
            if let Some(out) = stdout.as_mut() {
                let _ = out.read_to_string(&mut text).await;
            }
            text
        };
        let reading_err = async {
            let mut said = Vec::new();
            if let Some(err) = stderr {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.trim().is_empty() {
                        events.console(format!("[compose] {line}"));
                        said.push(line);
                    }
                }
            }
            said
        };
        let (out, said, status) = tokio::join!(reading_out, reading_err, child.wait());
        let status = status.map_err(|e| ContainerError::Unusable(format!("`{shown}` did not finish: {e}")))?;
        if status.success() {
            return Ok(out);
        }
        let said = if said.is_empty() { out.trim().to_owned() } else { said.join("\n") };
        Err(ContainerError::Compose { command: shown, said })
    }

    /// `-f FILE`... `-p NAME` `--profile P`...
    fn arguments(&self, overlay: Option<&Path>) -> Vec<String> {
        let mut args = Vec::new();
        for file in self.files.iter().map(PathBuf::as_path).chain(overlay) {
            args.push("-f".to_owned());
            args.push(file.to_string_lossy().into_owned());
        }
        if let Some(project) = &self.project {
            args.push("-p".to_owned());
            args.push(project.clone());
        }
        for profile in &self.profiles {
            args.push("--profile".to_owned());
            args.push(profile.clone());
        }
        args
    }
}

/// `docker compose` when the plugin answers, else `docker-compose`; found once.
async fn program() -> Result<&'static Vec<String>, ContainerError> {
    static FOUND: OnceCell<Vec<String>> = OnceCell::const_new();
    FOUND
        .get_or_try_init(|| async {
            for program in [&["docker", "compose"][..], &["docker-compose"][..]] {
                let answered = tokio::process::Command::new(program[0])
                    .args(&program[1..])
                    .arg("version")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .status()
                    .await
                    .is_ok_and(|s| s.success());
                if answered {
                    return Ok(program.iter().map(|s| (*s).to_owned()).collect());
                }
            }
            Err(ContainerError::Unusable(
                "`compose` needs the Compose tool, and neither `docker compose` nor `docker-compose` answers here; install Docker's Compose plugin (https://docs.docker.com/compose/install/) or `docker-compose`"
                    .into(),
            ))
        })
        .await
}

/// The files the tool would read from `dir` by itself: `COMPOSE_FILE`
/// (relative to `dir`), else the first folder from `dir` upwards holding a
/// Compose file, that file and its override file.
fn default_files(dir: &Path, plugin: bool, compose_file: Option<&str>) -> Result<Vec<PathBuf>, ContainerError> {
    if let Some(list) = compose_file.filter(|l| !l.trim().is_empty()) {
        let separator = std::env::var("COMPOSE_PATH_SEPARATOR")
            .ok()
            .and_then(|s| s.chars().next())
            .unwrap_or(if cfg!(windows) { ';' } else { ':' });
        return Ok(list.split(separator).filter(|f| !f.is_empty()).map(|f| dir.join(f)).collect());
    }
    let (names, overrides) = if plugin { (V2_FILES, V2_OVERRIDES) } else { (V1_FILES, V1_OVERRIDES) };
    for folder in dir.ancestors() {
        if let Some(file) = names.iter().map(|n| folder.join(n)).find(|f| f.is_file()) {
            let mut files = vec![file];
            files.extend(overrides.iter().map(|n| folder.join(n)).find(|f| f.is_file()));
            return Ok(files);
        }
    }
    Err(ContainerError::Unusable(format!(
        "`compose`: no Compose file in {} or a folder above it (looked for {}); set `compose.file`, e.g. \"compose\": {{\"file\": [\"docker-compose.yml\"], \"service\": \"scoring\"}}, or `localRoot` to the project's folder",
        dir.display(),
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_looked_up_the_tools_way() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("shop");
        let nested = project.join("services/scoring");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(default_files(&nested, true, None).unwrap_err().to_string().contains("set `compose.file`"));
        std::fs::write(project.join("docker-compose.yml"), "services: {}").unwrap();
        std::fs::write(project.join("compose.yaml"), "services: {}").unwrap();
        std::fs::write(project.join("docker-compose.override.yml"), "services: {}").unwrap();
        assert_eq!(
            default_files(&nested, true, None).unwrap(),
            [project.join("compose.yaml"), project.join("docker-compose.override.yml")],
            "the plugin prefers compose.yaml, and finds the override beside it"
        );
        assert_eq!(
            default_files(&nested, false, None).unwrap(),
            [project.join("docker-compose.yml"), project.join("docker-compose.override.yml")],
            "docker-compose prefers docker-compose.yml"
        );
        // COMPOSE_FILE's separator is the platform's (`;` on Windows), as for the tools.
        let list = if cfg!(windows) { "a.yml;b.yml" } else { "a.yml:b.yml" };
        assert_eq!(default_files(&project, true, Some(list)).unwrap(), [project.join("a.yml"), project.join("b.yml")]);
    }
}
