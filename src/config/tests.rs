//! Reading launch and attach arguments.

use serde_json::json;

use super::*;

#[test]
fn arguments_must_be_an_object() {
    let err = SessionConfig::parse(false, &json!([1])).unwrap_err();
    assert_eq!(err.to_string(), "invalid attach configuration: the arguments must be a JSON object");
}

#[test]
fn debugpy_gets_everything_else_in_order() {
    let args = json!({
        "type": "dockdap", "request": "launch", "name": "x", "image": "debug:1", "justMyCode": false,
        "pathMappings": [{"localRoot": "/l", "remoteRoot": "/r"}], "subProcess": true, "env": {"A": "1"},
        "tuneDebugger": false, "__sessionId": "s"
    });
    let config = SessionConfig::parse(true, &args).unwrap();
    let keys: Vec<&String> = config.for_debugpy.keys().collect();
    assert_eq!(keys, ["type", "request", "name", "justMyCode", "subProcess", "__sessionId"]);
    let Request::Launch(launch) = config.request else { panic!() };
    assert_eq!(launch.ports, ["8000:5001"]);
    assert_eq!(launch.paths.app_root, "/var/azureml-app");
    assert!(launch.wait_for_debugger && !launch.tune_debugger);
}

#[test]
fn attach_owns_connect() {
    let args = json!({"connect": {"port": 5678}, "appRoot": "/app", "localRoot": "/ws", "justMyCode": true});
    let config = SessionConfig::parse(false, &args).unwrap();
    assert_eq!(Value::Object(config.for_debugpy.clone()), json!({"justMyCode": true}));
    let map = config.paths().path_map(Path::new("/cwd"));
    assert_eq!(map.to_container("/ws/a.py").as_deref(), Some("/app/a.py"));
}

#[test]
fn workspace_folder_placeholder() {
    let args = json!({"connect": {"port": 1}, "localRoot": "${workspaceFolder}/src"});
    let config = SessionConfig::parse(false, &args).unwrap();
    let map = config.paths().path_map(Path::new("/home/u/ws"));
    assert_eq!(map.to_container("/home/u/ws/src/a.py").as_deref(), Some("/var/azureml-app/a.py"));
}

#[test]
fn a_read_only_app_root_is_not_synced_into() {
    let config = SessionConfig::parse(true, &json!({"image": "x", "readonlyRootfs": true})).unwrap();
    assert_eq!(config.sync().to_container, SyncMode::Off);
    assert_eq!(config.sync().from_container, SyncMode::Auto);
    assert!(config.sync_note().unwrap().contains("read-only root filesystem"));
    let config = SessionConfig::parse(
        true,
        &json!({"image": "x", "readonlyRootfs": true, "tmpfs": ["/var/azureml-app"], "appRoot": "/var/azureml-app"}),
    )
    .unwrap();
    assert_eq!(config.sync().to_container, SyncMode::Auto);
    assert!(config.sync_note().is_none());
    let config = SessionConfig::parse(true, &json!({"image": "x"})).unwrap();
    assert_eq!(config.sync().to_container, SyncMode::Auto);
}

#[test]
fn ports() {
    assert_eq!(parse_port_pair("8000:5001"), Ok((8000, 5001)));
    assert_eq!(parse_port_pair("5001"), Ok((5001, 5001)));
    assert_eq!(parse_port_pair("0:5001"), Ok((0, 5001)));
    assert!(parse_port_pair("8000:0").is_err());
    assert!(parse_port_pair("a:b").is_err());
}

#[test]
fn schema_lists_every_launch_attribute() {
    let names = owned_attributes(true);
    for attr in [
        "image",
        "containerName",
        "appRoot",
        "localRoot",
        "pathMappings",
        "ports",
        "debugPort",
        "debugger",
        "transport",
        "waitForDebugger",
        "timeout",
        "env",
        "command",
        "entrypoint",
        "keepContainer",
        "readonlyRootfs",
        "tmpfs",
        "commitOnExit",
        "commitOnRestart",
        "reloadOnSave",
        "reattach",
        "sync",
        "tuneDebugger",
        "prefetch",
    ] {
        assert!(names.iter().any(|n| n == attr), "{attr} missing from {names:?}");
    }
}

/// serde_json's `arbitrary_precision` against `#[serde(flatten)]`.
mod precision {
    use super::*;

    /// serde_json's `arbitrary_precision` (which keeps numbers byte-exact in
    /// rewritten messages) is known to break numbers read through
    /// `#[serde(flatten)]`; these structs must still read theirs.
    #[test]
    fn numbers_survive_flatten_with_arbitrary_precision() {
        let args = serde_json::json!({"image": "x", "debugPort": 5679, "timeout": 2.5, "appRoot": "/a"});
        let config = SessionConfig::parse(true, &args).unwrap();
        let Request::Launch(launch) = config.request else { panic!() };
        assert_eq!((launch.debug_port, launch.timeout, launch.paths.app_root.as_str()), (5679, 2.5, "/a"));
        let args = serde_json::json!({"connect": {"host": "h", "port": 7}, "timeout": 1});
        let config = SessionConfig::parse(false, &args).unwrap();
        let Request::Attach(attach) = config.request else { panic!() };
        assert_eq!(attach.connect.unwrap().port, 7);
        assert_eq!(attach.timeout, 1.0);
    }

    /// Helix templates and vimspector variables can only send strings.
    #[test]
    fn numbers_as_strings() {
        let args = serde_json::json!({"image": "x", "debugPort": "5679", "timeout": " 2.5 "});
        let config = SessionConfig::parse(true, &args).unwrap();
        let Request::Launch(launch) = config.request else { panic!() };
        assert_eq!((launch.debug_port, launch.timeout), (5679, 2.5));
        let args = serde_json::json!({"connect": {"host": "h", "port": "5678"}, "timeout": "1"});
        let config = SessionConfig::parse(false, &args).unwrap();
        let Request::Attach(attach) = config.request else { panic!() };
        assert_eq!(attach.connect.unwrap().port, 5678);
        assert_eq!(attach.timeout, 1.0);
    }
}
