//! The override file dockdap generates and owns (in a folder of its own,
//! never beside the user's files): dockdap's labels on every service (so
//! that reaping and the watchdog know whose containers they are), and for
//! the service being debugged what a plain launch gives a container: the
//! debugger's environment, no restarts, and with the port transport the
//! debug port on an ephemeral port of 127.0.0.1.
//!
//! Pure: it builds JSON (which every Compose tool reads as YAML) and writes
//! nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

/// What the debugged service gets.
#[derive(Debug, Clone, Default)]
pub(super) struct Debugged {
    /// The service.
    pub service: String,
    /// `K=V` variables.
    pub env: Vec<String>,
    /// Its extra labels (the image it runs).
    pub labels: Vec<(String, String)>,
    /// The debug port to publish on 127.0.0.1 (the port transport).
    pub debug_port: Option<u16>,
}

/// The override: `labels` on each of `services`, and each of `debugged`'s settings.
pub(super) fn overlay(services: &[String], labels: &HashMap<String, String>, debugged: &[Debugged]) -> Value {
    let labels: BTreeMap<&str, String> = labels.iter().map(|(k, v)| (k.as_str(), escape(v))).collect();
    let mut all = serde_json::Map::new();
    for service in services {
        all.insert(service.clone(), json!({ "labels": labels }));
    }
    for debugged in debugged {
        let mut own = labels.clone();
        own.extend(debugged.labels.iter().map(|(k, v)| (k.as_str(), escape(v))));
        let env: BTreeMap<&str, String> =
            debugged.env.iter().filter_map(|e| e.split_once('=')).map(|(k, v)| (k, escape(v))).collect();
        let mut settings = json!({ "labels": own, "environment": env, "restart": "no" });
        if let Some(port) = debugged.debug_port {
            settings["ports"] = json!([format!("127.0.0.1::{port}")]);
        }
        all.insert(debugged.service.clone(), settings);
    }
    json!({ "services": all })
}

/// Compose reads `$` as the start of a variable; `$$` is a `$`.
fn escape(value: &str) -> String {
    value.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_labelled_and_only_the_debugged_one_changed() {
        let labels = HashMap::from([("dockdap.session".to_owned(), "s1".to_owned())]);
        let services = ["scoring".to_owned(), "proxy".to_owned()];
        let debugged = Debugged {
            service: "scoring".into(),
            env: vec!["PYTHONPATH=/opt/dockdap/tune:/app".into(), "PRICE=$5".into()],
            labels: vec![("dockdap.image".into(), "score:1".into())],
            debug_port: Some(5678),
        };
        let value = overlay(&services, &labels, std::slice::from_ref(&debugged));
        assert_eq!(value["services"]["proxy"], json!({"labels": {"dockdap.session": "s1"}}));
        let scoring = &value["services"]["scoring"];
        assert_eq!(scoring["labels"], json!({"dockdap.session": "s1", "dockdap.image": "score:1"}));
        assert_eq!(scoring["environment"]["PYTHONPATH"], "/opt/dockdap/tune:/app");
        assert_eq!(scoring["environment"]["PRICE"], "$$5", "a `$` is not read as a variable");
        assert_eq!(scoring["ports"], json!(["127.0.0.1::5678"]), "the debug port only on loopback");
        assert_eq!(scoring["restart"], "no");
        let plain = overlay(&services, &labels, &[Debugged { service: "scoring".into(), ..Default::default() }]);
        assert!(plain["services"]["scoring"].get("ports").is_none(), "nothing published with the exec transport");
        let both = overlay(&services, &labels, &[debugged, Debugged { service: "proxy".into(), ..Default::default() }]);
        assert_eq!(both["services"]["scoring"]["environment"]["PRICE"], "$$5");
        assert_eq!(both["services"]["proxy"]["restart"], "no", "each debugged service gets its settings");
    }
}
