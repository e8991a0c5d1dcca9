//! Arbitrary JSON through the path rewriter in both directions: no panic.
#![no_main]

use dockdap::paths::{Mapping, PathMap, PathRewriter};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const COMMANDS: &[&str] = &["setBreakpoints", "stackTrace", "source", "loadedSources", "modules", "exceptionInfo"];
const EVENTS: &[&str] = &["output", "breakpoint", "loadedSource", "module", "process"];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let map = PathMap::new(vec![
        Mapping::new("/home/u/ws", "/var/azureml-app"),
        Mapping::new("C:\\Users\\U\\ws", "/opt/app"),
    ]);
    let mut rewriter = PathRewriter::new(map);
    for command in COMMANDS {
        let mut v = value.clone();
        rewriter.request_to_container(command, &mut v);
        let mut v = value.clone();
        rewriter.response_to_host(command, &mut v);
    }
    for event in EVENTS {
        let mut v = value.clone();
        rewriter.event_to_host(event, &mut v);
    }
    if let Some(text) = value.as_str() {
        let _ = rewriter.map().to_container(text);
        let _ = rewriter.map().to_host(text);
    }
});
