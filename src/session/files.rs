//! The session's side of files and snapshots: starting the sync worker once
//! the container is up, `dockdap/sync` and `dockdap/commit`, a sync when the
//! debuggee stops, and the last sync and `commitOnExit` in the shutdown
//! order (step 3b, while the container still exists).
//!
//! Slow work runs as tasks that report back as a `Task`; the loop keeps
//! forwarding meanwhile, so a DAP request made during a commit is answered.
//! The container is reached only through the session's `Runtime`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWrite;

use super::{Input, Session, Task};
use crate::config::{ConfigError, DeletionMode, Request, SessionConfig, SyncMode};
use crate::console::{Category, Event, EventSender};
use crate::dap::Message;
use crate::error::Error;
use crate::runtime::{CommitRequest, Runtime, Snapshot};
use crate::sync::guard::{self, Unfit};
use crate::sync::names::{self, HostOs, RelPath};
use crate::sync::{Directions, Side, SyncHandle, SyncSetup};

/// How long the session waits for sync's first look before attaching.
const FIRST_LOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last sync at the end of a session may take.
const FINAL_SYNC_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `commitOnExit` may take before the container is removed anyway.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Refuses, before the target starts and before sync reads anything, a
/// `localRoot` that is a file, and a `localRoot` or `appRoot` that is not
/// an app's folder (`sync::guard`) unless sync is off or
/// `sync.allowAnyFolder` says to go on.
pub(super) async fn check_folders(config: &SessionConfig, workspace: PathBuf) -> Result<(), Error> {
    let request = if matches!(config.request, Request::Launch(_)) { "launch" } else { "attach" };
    let refuse = |message: String| Error::Config(ConfigError { request, message });
    // A file is no folder to map, whether or not it is synced.
    if workspace.is_file() {
        let folder = workspace.parent().map(|p| p.display().to_string()).unwrap_or_default();
        return Err(refuse(format!(
            "`localRoot` {:?} is a file: write the folder that holds the app, e.g. {folder:?}",
            workspace.display().to_string()
        )));
    }
    let settings = config.sync();
    let syncs = match &config.request {
        Request::Launch(_) => true,
        Request::Attach(attach) => attach.connect.is_none(),
    };
    let off = settings.from_container == SyncMode::Off && settings.to_container == SyncMode::Off;
    if !syncs || off || settings.allow_any_folder {
        return Ok(());
    }
    let app_root = &config.paths().app_root;
    if guard::app_root(app_root).is_err() {
        return Err(refuse(format!(
            "`appRoot` is {app_root:?}, the container's root: sync would copy every file the container changes (logs, /tmp, /etc) into the workspace. Set `appRoot` to the app's folder, e.g. \"/var/azureml-app\"; {SYNC_OFF}"
        )));
    }
    let shown = workspace.display().to_string();
    let judged = tokio::task::spawn_blocking(move || guard::workspace(&workspace)).await;
    let what = match judged {
        Ok(Ok(())) | Err(_) => return Ok(()),
        Ok(Err(Unfit::Root)) => "the root of the file system: sync would read every file on this machine and could send any of them into the container".to_owned(),
        Ok(Err(Unfit::Home)) => "your home folder: sync would send its files into the container, and the container could write into it (.bashrc, .ssh)".to_owned(),
        Ok(Err(Unfit::Large)) => format!("a folder with more than {} files and folders, far more than an app", guard::MAX_ENTRIES),
        Ok(Err(Unfit::Slow { counted })) => format!("a folder whose files could not even be counted within {:?} ({counted} so far)", guard::BUDGET),
    };
    Err(refuse(format!(
        "`localRoot` is {shown:?}, {what}. Set `localRoot` to the app's folder (the one holding score.py), e.g. \"${{workspaceFolder}}/src\"; {SYNC_OFF}; or keep it and sync anyway with \"sync\": {{\"allowAnyFolder\": true}}"
    )))
}

/// How to debug without syncing files, as the refusals say it.
const SYNC_OFF: &str =
    "or debug without syncing files: \"sync\": {\"fromContainer\": \"off\", \"toContainer\": \"off\"}";

impl<W: AsyncWrite + Send + Unpin> Session<W> {
    /// The target is up: start syncing files if it is a container and a direction is on.
    pub(super) async fn start_sync(&mut self) {
        let (Some(config), Some(runtime)) = (&self.config, &self.runtime) else { return };
        if runtime.container().is_none() {
            return;
        }
        let runtime = runtime.clone();
        let settings = config.sync();
        let note = config.sync_note();
        let directions = Directions {
            from_container: settings.from_container != SyncMode::Off,
            to_container: settings.to_container != SyncMode::Off,
        };
        if !directions.from_container && !directions.to_container {
            return;
        }
        let workspace = PathBuf::from(config.paths().local_root_on(&self.options.workspace));
        if !workspace.is_dir() {
            let text = format!(
                "[dockdap] files are not synced: the workspace folder {} does not exist (set `localRoot`)",
                workspace.display()
            );
            self.console(Category::Console, &text).await;
            return;
        }
        let setup = SyncSetup {
            workspace,
            app_root: config.paths().app_root.clone(),
            directions,
            watch_workspace: settings.to_container == SyncMode::Auto,
            poll_container: settings.from_container == SyncMode::Auto,
            copy_deletions: settings.deletions == DeletionMode::Copy,
        };
        if let Some(note) = note {
            self.console(Category::Console, &note).await;
        }
        let sync = SyncHandle::spawn(runtime, setup, self.events_tx.clone(), &self.tasks);
        // The first look happens before debugpy is attached (and so before
        // the editor's `launch` is answered), so an edit made once the session
        // is up is an edit, not a difference found at the start.
        if tokio::time::timeout(FIRST_LOOK_TIMEOUT, sync.first_look()).await.is_err() {
            tracing::warn!("the first look at the files took over {FIRST_LOOK_TIMEOUT:?}; going on");
        }
        if self.config.as_ref().is_some_and(SessionConfig::reload_on_save) {
            // Each batch of saves the watcher copies in reloads the app (`reattach`).
            let mut saves = sync.saves_copied();
            saves.mark_unchanged();
            let tx = self.inputs_tx.clone();
            self.tasks.spawn(async move {
                while saves.changed().await.is_ok() {
                    if tx.send(Input::Task(Task::SavesCopied)).await.is_err() {
                        return;
                    }
                }
            });
        }
        self.sync = Some(sync);
    }

    /// The debuggee stopped: bring the container's edits in (what the user looks at now).
    pub(super) fn sync_on_stop(&self) {
        if let Some(sync) = &self.sync {
            sync.debuggee_stopped();
        }
    }

    /// `dockdap/sync {resolve?: "workspace" | "container", paths?: [..]}`.
    pub(super) async fn custom_sync(&mut self, seq: i64, command: &str, args: &Value) {
        let Some(sync) = self.sync.clone() else {
            let why = if self.runtime.as_ref().and_then(|r| r.container()).is_none() {
                "this session has no container, so there are no files to sync"
            } else {
                "file sync is off for this session (`sync` in the launch configuration, or the workspace folder is missing)"
            };
            self.send_to_client(Message::failure(seq, command, why)).await;
            return;
        };
        let resolve = match parse_resolve(args) {
            Ok(resolve) => resolve,
            Err(why) => {
                self.send_to_client(Message::failure(seq, command, &why)).await;
                return;
            }
        };
        let tx = self.inputs_tx.clone();
        self.tasks.spawn(async move {
            let result = match sync.sync(resolve).await {
                Some(answer) => Ok(answer.to_json()),
                None => Err("file sync has stopped for this session".to_owned()),
            };
            let _ = tx.send(Input::Task(Task::Sync { seq, result })).await;
        });
    }

    /// `dockdap/commit {tag?, pause? = false}`: sync, then snapshot.
    pub(super) async fn custom_commit(&mut self, seq: i64, command: &str, args: &Value) {
        let Some(runtime) = self.runtime.clone().filter(|r| r.container().is_some()) else {
            let why = "this session has no container to snapshot";
            self.send_to_client(Message::failure(seq, command, why)).await;
            return;
        };
        let tag = match args.get("tag") {
            None | Some(Value::Null) => None,
            Some(Value::String(tag)) if !tag.trim().is_empty() => Some(tag.trim().to_owned()),
            Some(_) => {
                let why = "`tag` must be an image name such as \"debug:2\"";
                self.send_to_client(Message::failure(seq, command, why)).await;
                return;
            }
        };
        let request = CommitRequest {
            tag,
            pause: args.get("pause").and_then(Value::as_bool).unwrap_or(false),
            app_root: self.config.as_ref().map(|c| c.paths().app_root.clone()).unwrap_or_default(),
        };
        let sync = self.sync.clone();
        let events = self.events_tx.clone();
        let tx = self.inputs_tx.clone();
        if let Some(why) = runtime.no_snapshot() {
            let workspace =
                self.config.as_ref().map(|c| PathBuf::from(c.paths().local_root_on(&self.options.workspace)));
            self.tasks.spawn(async move {
                let saved = save_beside(runtime.as_ref(), &request.app_root, workspace, sync.as_ref()).await;
                let text = format!("[dockdap] {why}; {saved}\n");
                events.send(Event::Output { category: Category::Important, text }).await;
                let result = Err(format!("{why}; {saved}"));
                let _ = tx.send(Input::Task(Task::Commit { seq, result })).await;
            });
            return;
        }
        self.tasks.spawn(async move {
            if let Some(sync) = &sync {
                // The snapshot holds the workspace's saves; the container's
                // edits come into the workspace while it is made (`snapshot`).
                let _ = sync.to_container().await;
            }
            let result = snapshot(runtime.as_ref(), &request, &events, sync.as_ref()).await;
            let _ = tx.send(Input::Task(Task::Commit { seq, result })).await;
        });
    }

    /// `dockdap/commit` finished: remember the snapshot (a restart starts
    /// from it) and answer.
    pub(super) async fn commit_done(&mut self, seq: i64, result: Result<Snapshot, String>) {
        if let Ok(snap) = &result {
            self.snapshot = Some(snap.image.clone());
        }
        self.answer_custom(seq, "dockdap/commit", result.map(|snap| snapshot_json(&snap))).await;
    }

    /// Shutdown step 3b: the container's last edits come into the workspace,
    /// and `commitOnExit` snapshots it, before the container is removed.
    pub(super) async fn finish_files(&mut self) {
        if let Some(sync) = self.sync.take() {
            match tokio::time::timeout(FINAL_SYNC_TIMEOUT, sync.finish()).await {
                Ok(Some(answer)) => {
                    tracing::info!(pulled = answer.pulled.len(), conflicts = answer.conflicts.len(), "last sync done")
                }
                Ok(None) => tracing::debug!("the sync worker had already stopped"),
                Err(_) => {
                    sync.stop();
                    let text = format!(
                        "[dockdap] the last sync took over {FINAL_SYNC_TIMEOUT:?} and was abandoned; edits still in the container may not be in the workspace\n"
                    );
                    self.events_tx.send(Event::Output { category: Category::Stderr, text }).await;
                }
            }
        }
        let commit = self.config.as_ref().is_some_and(|c| c.commit_on_exit());
        let runtime = self.runtime.clone().filter(|r| r.container().is_some());
        if let (true, Some(runtime)) = (commit, runtime) {
            let request = CommitRequest {
                tag: None,
                pause: false,
                app_root: self.config.as_ref().map(|c| c.paths().app_root.clone()).unwrap_or_default(),
            };
            let events = self.events_tx.clone();
            match tokio::time::timeout(COMMIT_TIMEOUT, snapshot(runtime.as_ref(), &request, &events, None)).await {
                Ok(Ok(snap)) => self.snapshot = Some(snap.image),
                Ok(Err(_)) => {}
                Err(_) => {
                    let text =
                        format!("[dockdap] commitOnExit: the snapshot took over {COMMIT_TIMEOUT:?}; giving up\n");
                    self.events_tx.send(Event::Output { category: Category::Stderr, text }).await;
                }
            }
        }
    }
}

/// Commits, telling the user what happens in the debug console. With a
/// `sync`, the files the snapshot changed are copied into the workspace
/// while the engine commits, so both hold the same files when it is done.
pub(super) async fn snapshot(
    runtime: &dyn Runtime,
    request: &CommitRequest,
    events: &EventSender,
    sync: Option<&SyncHandle>,
) -> Result<Snapshot, String> {
    let say = |category: Category, text: String| Event::Output { category, text: format!("{text}\n") };
    let name = runtime.container().map(|c| c.name.clone()).unwrap_or_default();
    let start = if request.pause {
        format!(
            "[dockdap] snapshotting {name}: the container is paused, so the program and debugpy are frozen until it is done"
        )
    } else {
        format!("[dockdap] snapshotting {name} without pausing it")
    };
    events.send(say(Category::Console, start)).await;
    let commit = async {
        let plan = runtime.plan_snapshot(request).await?;
        let files: Vec<String> = plan.existing_files().map(str::to_owned).collect();
        let pull = async {
            if let Some(sync) = sync {
                sync.pull(files).await;
            }
        };
        let (snap, ()) = tokio::join!(runtime.snapshot(plan), pull);
        snap
    };
    match commit.await {
        Ok(snap) => {
            let what = if snap.changed.is_empty() {
                "no file under the app folder changed".to_owned()
            } else {
                format!("changed: {}", snap.changed.join(", "))
            };
            events.send(say(Category::Console, format!("[dockdap] snapshot {} ({what})", snap.image))).await;
            for warning in &snap.warnings {
                events.send(say(Category::Important, format!("[dockdap] snapshot {}: {warning}", snap.image))).await;
            }
            Ok(snap)
        }
        Err(e) => {
            let why = format!("the snapshot of {name} failed: {e}");
            events.send(say(Category::Stderr, format!("[dockdap] {why}"))).await;
            Err(why)
        }
    }
}

/// `dockdap/commit` where there is no commit (a pod): the workspace's saves
/// go in, the files changed under `app_root` since the container started
/// come into the workspace (as a snapshot's do), and copies of them are
/// saved in a new folder beside the workspace, `WORKSPACE.pod-NAME.N`, the
/// pod's files as they are now. Returns what was done, for the answer.
async fn save_beside(
    runtime: &dyn Runtime,
    app_root: &str,
    workspace: Option<PathBuf>,
    sync: Option<&SyncHandle>,
) -> String {
    let (Some(sync), Some(workspace)) = (sync, workspace) else {
        return "file sync is off for this session, so the pod's files were not saved".into();
    };
    let _ = sync.to_container().await;
    let changes = match runtime.changes_once(app_root).await {
        Ok(changes) => changes,
        Err(e) => return format!("the files changed in it could not be listed, so none was saved: {e}"),
    };
    let prefix = format!("{}/", app_root.trim_end_matches('/'));
    let files: Vec<String> = changes
        .iter()
        .filter(|c| !c.deleted)
        .filter_map(|c| c.path.strip_prefix(&prefix))
        .filter(|p| RelPath::parse(p, HostOs::current()).is_ok_and(|p| !names::is_ignored(&p)))
        .map(str::to_owned)
        .collect();
    if files.is_empty() {
        return format!("no file under {app_root} changed since it started, so there was nothing to save");
    }
    let _ = sync.pull(files.clone()).await;
    let pod = runtime.container().map(|c| c.name.trim_start_matches("pod/").to_owned()).unwrap_or_default();
    let dest = match new_folder_beside(&workspace, &pod) {
        Ok(dest) => dest,
        Err(e) => return format!("no folder beside {} could be made for its files ({e})", workspace.display()),
    };
    let copies = sync.save_copies(files, dest.clone()).await.unwrap_or_default();
    let mut said = format!(
        "the {} file(s) changed under {app_root} since it started are saved in {} ({}) and synced into the workspace: rebuild and push the image from there",
        copies.saved.len(),
        dest.display(),
        copies.saved.join(", ")
    );
    for note in &copies.notes {
        said.push_str(&format!("; {note}"));
    }
    said
}

/// A new folder `NAME.pod-POD.N` beside `workspace` (the lowest free `N`).
fn new_folder_beside(workspace: &std::path::Path, pod: &str) -> std::io::Result<PathBuf> {
    let parent = workspace.parent().unwrap_or(workspace);
    let name = workspace.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "workspace".into());
    for n in 1..10_000 {
        let dest = parent.join(format!("{name}.pod-{pod}.{n}"));
        match std::fs::create_dir(&dest) {
            Ok(()) => return Ok(dest),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("10,000 such folders exist already"))
}

/// The `dockdap/commit` response body.
fn snapshot_json(snap: &Snapshot) -> Value {
    json!({ "image": snap.image, "id": snap.id, "changed": snap.changed, "warnings": snap.warnings })
}

/// `resolve` and `paths` of `dockdap/sync`.
fn parse_resolve(args: &Value) -> Result<Option<(Side, Vec<String>)>, String> {
    let side = match args.get("resolve") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s == "workspace" => Side::Workspace,
        Some(Value::String(s)) if s == "container" => Side::Container,
        Some(other) => {
            return Err(format!(
                "`resolve` must be \"workspace\" (the workspace's version goes into the container) or \"container\" (the container's version replaces the workspace's), not {other}"
            ));
        }
    };
    let paths = match args.get("paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or("`paths` must be a list of file paths"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`paths` must be a list of file paths".into()),
    };
    Ok(Some((side, paths)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_arguments() {
        assert_eq!(parse_resolve(&json!({})), Ok(None));
        assert_eq!(parse_resolve(&json!({"resolve": "workspace"})), Ok(Some((Side::Workspace, vec![]))));
        assert_eq!(
            parse_resolve(&json!({"resolve": "container", "paths": ["score.py"]})),
            Ok(Some((Side::Container, vec!["score.py".to_owned()])))
        );
        assert!(parse_resolve(&json!({"resolve": "mine"})).unwrap_err().contains("must be \"workspace\""));
        assert!(parse_resolve(&json!({"resolve": "container", "paths": "x"})).is_err());
    }
}
