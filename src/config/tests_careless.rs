//! The table of careless configurations and what dockdap says about each
//! (issue 21): every refusal names the attribute, says what was wrong and
//! shows an example of what is right (`e.g.` or `write ...`).

use super::*;

const LAUNCH: bool = true;
const ATTACH: bool = false;

#[track_caller]
fn check(is_launch: bool, args: &str, expect: &str) {
    let args: Value = serde_json::from_str(args).unwrap();
    let got = match SessionConfig::parse(is_launch, &args) {
        Ok(config) => format!("accepted; notes: {:?}", config.notes),
        Err(e) => {
            let request = if is_launch { "launch" } else { "attach" };
            let full = e.to_string();
            assert_eq!(full, format!("invalid {request} configuration: {}", e.message));
            assert!(e.message.starts_with('`'), "names the attribute first: {}", e.message);
            assert!(e.message.contains("e.g.") || e.message.contains("write "), "shows what is right: {}", e.message);
            e.message
        }
    };
    assert_eq!(got, expect, "for {args}");
}

/// (request, arguments, what dockdap says: the message, or "accepted" and the console notes).
const ROWS: &[(bool, &str, &str)] = &[
    (LAUNCH, r#"{"image":"localhost:5000/score:1"}"#, "accepted; notes: []"),
    (LAUNCH, r#"{"image":"MyReg.azurecr.io/score:V3"}"#, "accepted; notes: []"),
    (LAUNCH, r#"{"image":"dockdap/azureml-score@sha256:0123abcd"}"#, "accepted; notes: []"),
    (
        LAUNCH,
        r#"{"image":"Debug:1"}"#,
        r#"`image` "Debug:1" is not an image name Docker accepts: repository names are lowercase, e.g. "debug:1""#,
    ),
    (
        LAUNCH,
        r#"{"image":"MyReg.azurecr.io/Score:V3"}"#,
        r#"`image` "MyReg.azurecr.io/Score:V3" is not an image name Docker accepts: repository names are lowercase, e.g. "MyReg.azurecr.io/score:V3""#,
    ),
    (
        LAUNCH,
        r#"{"image":"my image:1"}"#,
        r#"`image` "my image:1" is not an image name: it cannot hold spaces, e.g. "my-image:1""#,
    ),
    (
        LAUNCH,
        r#"{}"#,
        r#"`image` is required: the image to debug, e.g. "debug:1" (build the example with `dockdap demo`), `compose` with the service to debug, e.g. "compose": {"service": "scoring"}, or `kubernetes` with the Deployment or pod to copy, e.g. "kubernetes": {"deployment": "score"}"#,
    ),
    (LAUNCH, r#"{"image":" "}"#, r#"`image` is empty: name the image to debug, e.g. "debug:1""#),
    (
        LAUNCH,
        r#"{"image":"x","ports":["0.0.0.0:80:5001"]}"#,
        r#"`ports[0]` "0.0.0.0:80:5001" is not of the form "HOST:CONTAINER" (e.g. "8000:5001"); ports are published on 127.0.0.1 only, so leave the address out"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugPort":"56x"}"#,
        r#"`debugPort` must be a port number from 1 to 65535, e.g. 5678, not the string "56x""#,
    ),
    (
        ATTACH,
        r#"{}"#,
        r#"`container`, `compose`, `connect` or `kubernetes` says what to attach to: a running container's name or id, e.g. "container": "score-debug", a running Compose service, e.g. "compose": {"service": "scoring"}, a debugpy's address, e.g. "connect": {"host": "127.0.0.1", "port": 5678}, or a pod, e.g. "kubernetes": {"pod": "score-7d4f9"}"#,
    ),
    (
        ATTACH,
        r#"{"container":"a","connect":{"port":1}}"#,
        r#"`container` and `connect` exclude each other: keep one, e.g. "container": "a""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":5001}"#,
        r#"`ports` must be a list of "HOST:CONTAINER" strings, e.g. ["8000:5001"], not the number 5001; a single value is written as a list: ["5001"]"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":["70000:5001"]}"#,
        r#"`ports[0]` "70000:5001": host port 70000 is out of range (0 to 65535); write "HOST:CONTAINER", e.g. "8000:5001" (host port 0 lets Docker choose)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","timeout":"x"}"#,
        r#"`timeout` must be a number of seconds from 0 to 86400, e.g. 60, not the string "x""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","env":["A=1","B=2"]}"#,
        r#"`env` must be an object of environment variables, e.g. {"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models"}, not a list; write ["A=1"] as {"A": "1"}: {"A": "1", "B": "2"}"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","pathMappings":"x"}"#,
        r#"`pathMappings` must be a list of {localRoot, remoteRoot} objects, e.g. [{"localRoot": "${workspaceFolder}/lib", "remoteRoot": "/opt/lib"}], not the string "x""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","pathMappings":[{"localRoot":1}]}"#,
        r#"`pathMappings[0].localRoot` must be a folder on this machine, e.g. "${workspaceFolder}/lib", not the number 1"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","localRoot":"/ws","pathMappings":[{}]}"#,
        r#"`pathMappings[0]` needs `localRoot`, e.g. {"localRoot": "${workspaceFolder}/lib", "remoteRoot": "/opt/lib"}; each entry maps one more folder (the top-level `localRoot` and `appRoot` are mapped already: remove the entry if that is all you meant)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","localRoot":"src"}"#,
        r#"`localRoot` "src" is not an absolute path: write the full path of the folder on this machine, e.g. "${workspaceFolder}" or "${workspaceFolder}/src" (a relative one would leave breakpoints unmapped)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","appRoot":"app"}"#,
        r#"`appRoot` "app" is not an absolute path in the container: write the full path of the app's folder, e.g. "/var/azureml-app""#,
    ),
    (LAUNCH, r#"{"image":5}"#, r#"`image` must be an image name, e.g. "debug:1", not the number 5"#),
    (
        LAUNCH,
        r#"{"imag":"x"}"#,
        r#"`image` is required: the image to debug, e.g. "debug:1" (build the example with `dockdap demo`), `compose` with the service to debug, e.g. "compose": {"service": "scoring"}, or `kubernetes` with the Deployment or pod to copy, e.g. "kubernetes": {"deployment": "score"}; `imag` is not a dockdap attribute: did you mean `image`?"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","containerName":"my app"}"#,
        r#"`containerName` "my app" is not a name Docker accepts: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, e.g. "score-debug" (leave it out to get a generated one)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","appRoot":""}"#,
        r#"`appRoot` "" is not an absolute path in the container: write the full path of the app's folder, e.g. "/var/azureml-app""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":[8000]}"#,
        r#"`ports[0]` must be a "HOST:CONTAINER" string, e.g. "8000:5001", not the number 8000"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":["8000:5001/tcp"]}"#,
        r#"`ports[0]` "8000:5001/tcp" names a protocol: only TCP is published, so write "8000:5001" without "/tcp""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":["-1:5001"]}"#,
        r#"`ports[0]` "-1:5001": host port "-1" is not a port number; write "HOST:CONTAINER", e.g. "8000:5001" (host port 0 lets Docker choose)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":["8000:5001","8000:5002"]}"#,
        r#"`ports[1]` "8000:5002" publishes host port 8000 a second time: give each pair its own host port, e.g. ["8000:5001", "8001:5002"] (or 0 to let Docker choose)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","ports":"8000:5001"}"#,
        r#"`ports` must be a list of "HOST:CONTAINER" strings, e.g. ["8000:5001"], not the string "8000:5001"; a single value is written as a list: ["8000:5001"]"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugPort":5678.5}"#,
        r#"`debugPort` must be a port number from 1 to 65535, e.g. 5678, not the number 5678.5"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugPort":0}"#,
        r#"`debugPort` must be a port number from 1 to 65535, e.g. 5678, not the number 0"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugPort":70000}"#,
        r#"`debugPort` must be a port number from 1 to 65535, e.g. 5678, not the number 70000"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugger":"Inject"}"#,
        r#"`debugger` must be one of "auto", "image", "inject", "azureml", e.g. "auto", not the string "Inject""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","transport":"tcp"}"#,
        r#"`transport` must be one of "auto", "port", "exec", e.g. "auto", not the string "tcp""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","waitForDebugger":"true"}"#,
        r#"`waitForDebugger` must be true or false, e.g. true, not the string "true"; write it without quotes"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","timeout":-5}"#,
        r#"`timeout` must be a number of seconds from 0 to 86400, e.g. 60, not the number -5"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","timeout":1e+20}"#,
        r#"`timeout` must be a number of seconds from 0 to 86400, e.g. 60, not the number 1e+20"#,
    ),
    (LAUNCH, r#"{"image":"x","env":{"A":1}}"#, r#"`env.A` must be a string, e.g. "1", not the number 1"#),
    (
        LAUNCH,
        r#"{"image":"x","env":{"A=B":"x"}}"#,
        r#"`env` has the name "A=B", which cannot be an environment variable (no `=`, not empty): write {"NAME": "value"}, e.g. {"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models"}"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","command":"python score.py"}"#,
        r#"`command` must be a list of strings, e.g. ["python3", "score.py"], not the string "python score.py"; write one string per word: ["python", "score.py"]"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","entrypoint":[1]}"#,
        r#"`entrypoint[0]` must be a string, e.g. "/bin/sh", not the number 1"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","keepContainer":"yes"}"#,
        r#"`keepContainer` must be true or false, e.g. false, not the string "yes""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","readonlyRootfs":"yes"}"#,
        r#"`readonlyRootfs` must be true or false, e.g. false, not the string "yes""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","tmpfs":"/tmp"}"#,
        r#"`tmpfs` must be a list of absolute paths in the container, e.g. ["/tmp"], not the string "/tmp"; a single value is written as a list: ["/tmp"]"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","tmpfs":["tmp"]}"#,
        r#"`tmpfs[0]` "tmp" is not an absolute path in the container: write a folder such as "/tmp" (Docker's `--tmpfs` options are not taken here)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","sync":"off"}"#,
        r#"`sync` must be an object, e.g. {"fromContainer": "auto", "toContainer": "off"}, not the string "off""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","sync":{"fromContainer":"never"}}"#,
        r#"`sync.fromContainer` must be one of "auto", "manual", "off", e.g. "auto", not the string "never""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","sync":{"from":"off"}}"#,
        r#"`sync` has no setting `from`: it takes `fromContainer`, `toContainer`, `allowAnyFolder`, `deletions`, e.g. {"fromContainer": "auto", "toContainer": "off"}"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","debugpyPath":5}"#,
        r#"`debugpyPath` must be a folder on this machine, e.g. "/usr/lib/python3/dist-packages/debugpy", not the number 5"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","localRoot":"~/project"}"#,
        r#"`localRoot` "~/project" is not an absolute path (`~` is not expanded): write the full path of the folder on this machine, e.g. "${workspaceFolder}" or "${workspaceFolder}/src" (a relative one would leave breakpoints unmapped)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","localRoot":"${workspacefolder}/src"}"#,
        r#"`localRoot` "${workspacefolder}/src" is not an absolute path (only ${workspaceFolder} is substituted; the editor left this variable as it was): write the full path of the folder on this machine, e.g. "${workspaceFolder}" or "${workspaceFolder}/src" (a relative one would leave breakpoints unmapped)"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","localroot":"/ws"}"#,
        r#"accepted; notes: ["`localroot` is not a dockdap attribute (did you mean `localRoot`?); it is passed to debugpy as it is"]"#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","pathMappings":[{"localRoot":"lib","remoteRoot":"/opt/lib"}]}"#,
        r#"`pathMappings[0].localRoot` "lib" is not an absolute path: write a full path on this machine, e.g. "${workspaceFolder}/lib""#,
    ),
    (
        LAUNCH,
        r#"{"image":"x","pathMappings":[{"localRoot":"/lib","remoteRoot":"opt/lib"}]}"#,
        r#"`pathMappings[0].remoteRoot` "opt/lib" is not an absolute path in the container: write a full path, e.g. "/opt/lib""#,
    ),
    (LAUNCH, r#"{"image":"x","tuneDebugger":null}"#, r#"`tuneDebugger` must be true or false, e.g. true, not null"#),
    (
        ATTACH,
        r#"{"container":"c","prefetch":"off"}"#,
        r#"`prefetch` must be true or false, e.g. true, not the string "off""#,
    ),
    (
        ATTACH,
        r#"{"container":""}"#,
        r#"`container` is empty: name a running container, e.g. "score-debug" (`docker ps` lists them)"#,
    ),
    (
        ATTACH,
        r#"{"connect":"127.0.0.1:5678"}"#,
        r#"`connect` must be an object, e.g. {"host": "127.0.0.1", "port": 5678}, not the string "127.0.0.1:5678"; write {"host": "127.0.0.1", "port": 5678}"#,
    ),
    (ATTACH, r#"{"connect":{}}"#, r#"`connect` needs `port`, e.g. {"host": "127.0.0.1", "port": 5678}"#),
    (
        ATTACH,
        r#"{"connect":{"port":"x"}}"#,
        r#"`connect.port` must be a port number from 1 to 65535, e.g. 5678, not the string "x""#,
    ),
    (
        ATTACH,
        r#"{"connect":{"port":5678,"host":""}}"#,
        r#"`connect.host` is empty: write a host name or address, e.g. "127.0.0.1""#,
    ),
    (
        ATTACH,
        r#"{"container":5}"#,
        r#"`container` must be a container name or id, e.g. "score-debug", not the number 5"#,
    ),
    (LAUNCH, r#"{"compose":{"service":"scoring"}}"#, "accepted; notes: []"),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","file":["a.yml","b.yml"],"project":"shop","profiles":["debug"],"index":2}}"#,
        "accepted; notes: []",
    ),
    (
        LAUNCH,
        r#"{"image":"x","compose":{"service":"scoring"}}"#,
        r#"`image` and `compose` exclude each other: with `compose` the image is the service's, from the Compose file; remove `image`, e.g. "compose": {"service": "scoring"}"#,
    ),
    (LAUNCH, r#"{"compose":{}}"#, r#"`compose` needs `service`, e.g. {"service": "scoring"}"#),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","files":["a.yml"]}}"#,
        r#"`compose` has no setting `files`: it takes `file`, `service`, `project`, `profiles`, `index`, `alsoDebug` (did you mean `file`?), e.g. {"service": "scoring"}"#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","file":"a.yml"}}"#,
        r#"`compose.file` must be a list of Compose files, e.g. ["docker-compose.yml"], not the string "a.yml"; a single value is written as a list: ["a.yml"]"#,
    ),
    (
        LAUNCH,
        r#"{"compose":"scoring"}"#,
        r#"`compose` must be an object, e.g. {"service": "scoring"}, not the string "scoring""#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":" "}}"#,
        r#"`compose.service` is empty: name the service to debug, e.g. "scoring" (`docker compose config --services` lists them)"#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","project":"My Shop"}}"#,
        r#"`compose.project` "My Shop" is not a project name Compose accepts: lowercase letters, digits, `_` and `-`, starting with a letter or digit, e.g. "shop""#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","index":0}}"#,
        r#"`compose.index` must be a replica number from 1 to 65535, e.g. 1, not the number 0"#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring"},"containerName":"x"}"#,
        r#"`containerName` "x" cannot be used with `compose`: the Compose tool names the service's container; remove it, e.g. "compose": {"service": "scoring"}"#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring"},"commitOnRestart":true}"#,
        r#"`commitOnRestart` cannot be used with `compose`: a restart brings the project up again from its Compose files; remove it (`commitOnExit` still snapshots the service's container), e.g. "compose": {"service": "scoring"}"#,
    ),
    (ATTACH, r#"{"compose":{"service":"scoring","index":"2"}}"#, "accepted; notes: []"),
    (
        ATTACH,
        r#"{"container":"a","compose":{"service":"scoring"}}"#,
        r#"`container` and `compose` exclude each other: keep one, e.g. "container": "a""#,
    ),
    (
        ATTACH,
        r#"{"compose":{"service":"scoring"},"connect":{"port":1}}"#,
        r#"`compose` and `connect` exclude each other: keep one, e.g. "compose": {"service": "scoring"}"#,
    ),
    (ATTACH, r#"{"kubernetes":{"pod":"score-1","namespace":"prod","context":"aks"}}"#, "accepted; notes: []"),
    (ATTACH, r#"{"kubernetes":{"selector":"app=score"}}"#, "accepted; notes: []"),
    (
        ATTACH,
        r#"{"kubernetes":{}}"#,
        r#"`kubernetes` needs `pod`, `selector` or `deployment` to say which pod, e.g. {"pod": "score-7d4f9", "namespace": "default"} or {"selector": "app=score"}"#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":{"pod":"a","selector":"app=a"}}"#,
        r#"`kubernetes.pod` and `kubernetes.selector` exclude each other: keep one, e.g. {"pod": "score-7d4f9", "namespace": "default"}"#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":{"pod":"Score_1"}}"#,
        r#"`kubernetes.pod` "Score_1" is not a pod name Kubernetes accepts (perhaps "score-1"): lowercase letters, digits and `-` and `.`, starting and ending with a letter or digit, at most 253 characters, e.g. "score-7d4f9""#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":{"pod":"a","namespce":"prod"}}"#,
        r#"`kubernetes` has no setting `namespce`: it takes `pod`, `selector`, `deployment`, `namespace`, `container`, `context`, `kubeconfig` (did you mean `namespace`?), e.g. {"pod": "score-7d4f9", "namespace": "default"}"#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":{"pod":"a","kubeconfig":"~/.kube/config"}}"#,
        r#"`kubernetes.kubeconfig` "~/.kube/config" is not an absolute path: write the full path of the file, e.g. "/home/me/.kube/config" (`~` is not expanded), or leave it out to read KUBECONFIG or ~/.kube/config"#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":"score-1"}"#,
        r#"`kubernetes` must be an object, e.g. {"pod": "score-7d4f9", "namespace": "default"}, not the string "score-1""#,
    ),
    (
        ATTACH,
        r#"{"kubernetes":{"pod":"a"},"container":"b"}"#,
        r#"`container` and `kubernetes` exclude each other: keep one, e.g. "container": "b""#,
    ),
    (
        LAUNCH,
        r#"{"compose":{"service":"scoring","alsoDebug":["scoring"]}}"#,
        r#"`compose.alsoDebug[0]` "scoring" is named twice (as `service` or earlier in `alsoDebug`): name each service once, e.g. "service": "scoring", "alsoDebug": ["features"]"#,
    ),
    (
        ATTACH,
        r#"{"compose":{"service":"scoring","alsoDebug":["proxy"]}}"#,
        r#"`compose.alsoDebug` is for `launch`: an attach joins one running service; attach to "proxy" from a configuration of its own, e.g. "compose": {"service": "proxy"}"#,
    ),
];

#[test]
fn careless_configurations() {
    for (is_launch, args, expect) in ROWS {
        check(*is_launch, args, expect);
    }
}
