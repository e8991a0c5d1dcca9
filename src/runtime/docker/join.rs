//! Joining a container the user started: its debugpy must listen on the
//! debug port inside it (and, with the port transport, be published), or it
//! carries dockdap's Azure ML hook (`dockdap up` with `debugger: "azureml"`),
//! whose server connects out to debugpy's adapter that dockdap then runs in
//! the container. A joined container is watched while the session runs and
//! never stopped or removed. On a remote engine its published service ports
//! are forwarded to this machine (`forward`), and the port transport is
//! refused (its published debug port is on the remote host).

use tokio::time::Instant;

use super::container::DebugContainer;
use super::create;
use super::engine::{ContainerError, Engine};
use super::handle::ContainerRef;
use super::reach::Locality;
use super::watch;
use crate::config::{AttachArguments, DebuggerMode, TransportMode};
use crate::runtime::Context;

impl DebugContainer {
    /// Joins the container `name`, and waits until its debugpy listens.
    /// `subprocess`: the attach is for a subprocess debugpy reported.
    pub async fn join(
        name: &str,
        args: &AttachArguments,
        subprocess: bool,
        cx: &Context,
    ) -> Result<DebugContainer, ContainerError> {
        let transport = if args.transport == TransportMode::Auto { TransportMode::Exec } else { args.transport };
        let engine = Engine::connect().await?;
        if let (TransportMode::Port, Locality::Remote { why }) = (transport, &engine.locality) {
            return Err(super::launch::remote_port_transport(why));
        }
        let handle = ContainerRef::find_in(engine, name).await?;
        let inspect = handle.inspect().await?;
        if !inspect.running {
            return Err(ContainerError::Unusable(format!(
                "container {name:?} is not running; start it first (`docker start {name}`)"
            )));
        }
        // A subprocess's attach (`subProcessId`, from debugpy's
        // `startDebugging`) goes to the port its own adapter listens on,
        // never through a new adapter for the hook: debugpy refuses
        // `listen` together with `subProcessId`.
        let hook = if subprocess { None } else { azureml_hook(&inspect.env) };
        if hook.is_some() && transport == TransportMode::Port {
            return Err(ContainerError::Unusable(format!(
                "container {name:?} was started with the Azure ML hook (`debugger: \"azureml\"`), whose server connects out to debugpy's adapter inside the container; attach with `transport: \"exec\"` (or \"auto\")"
            )));
        }
        let debug_port = hook.as_ref().map_or(args.debug_port, |h| h.port);
        let debug_address = match inspect.ports.iter().find(|(c, _)| *c == debug_port) {
            Some((_, host_port)) => format!("127.0.0.1:{host_port}"),
            None if transport == TransportMode::Exec => format!("docker exec into {}", handle.name),
            None => {
                return Err(ContainerError::Unusable(format!(
                    "container {name:?} does not publish its debug port {debug_port} on the host; use `transport: \"exec\"`, restart it with `-p 127.0.0.1::{debug_port}`, or let dockdap start it with a `launch` configuration"
                )));
            }
        };
        let mode = if hook.is_some() { DebuggerMode::Azureml } else { DebuggerMode::Image };
        let ContainerRef { engine, id, name: found } = handle;
        let mut container = DebugContainer::new(engine, id, found, mode, transport, debug_port, cx);
        container.set_paused.send_replace(inspect.paused);
        container.pythonpath = hook.and_then(|h| h.pythonpath);
        container.facts.debug_address = debug_address;
        let remote = container.handle.engine.is_remote();
        if !remote {
            container.facts.service_ports = create::service_ports(&inspect.ports, debug_port);
        }
        container.follow_output();
        let deadline = Instant::now() + std::time::Duration::from_secs_f64(args.timeout.max(0.0));
        if container.mode == DebuggerMode::Azureml {
            // Nothing listens until `connect` runs debugpy's adapter in the
            // container; the server's workers wait for it at the bootstrap's gate.
            container.python = container.find_python(deadline).await?;
        } else {
            // The container may have just started: connect only once debugpy listens.
            container.wait_for_debugger(debug_port, args.timeout, false).await?;
        }
        if remote {
            // Its published ports are on the remote host: forward them here, on free ports.
            let pairs: Vec<(u16, u16)> =
                create::service_ports(&inspect.ports, debug_port).iter().map(|p| (0, p.container)).collect();
            container.forward_ports(&pairs).await?;
        }
        Ok(container)
    }

    /// Streams what the container prints from now on to the session.
    fn follow_output(&self) {
        let output = watch::follow_logs(&self.handle.engine, &self.id);
        self.tasks.spawn(watch::pump(output, self.events.clone(), self.tail.clone()));
    }
}

/// The Azure ML hook of a container dockdap launched with `debugger:
/// "azureml"`, read from its environment: the port the server connects to
/// (`AZUREML_DEBUG_PORT`), present only with dockdap's gate (`DOCKDAP_GATE`),
/// and the `PYTHONPATH` that holds the debugpy dockdap copied in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AzuremlHook {
    port: u16,
    pythonpath: Option<String>,
}

fn azureml_hook(env: &[String]) -> Option<AzuremlHook> {
    let var = |name: &str| env.iter().rev().find_map(|e| e.strip_prefix(name)?.strip_prefix('='));
    var("DOCKDAP_GATE")?;
    let port = var("AZUREML_DEBUG_PORT")?.trim().parse().ok()?;
    Some(AzuremlHook { port, pythonpath: var("PYTHONPATH").map(str::to_owned) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_containers_with_the_azureml_hook() {
        let env = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            azureml_hook(&env(&["AZUREML_DEBUG_PORT=5679", "DOCKDAP_GATE=5679", "PYTHONPATH=/opt/a:/opt/b"])),
            Some(AzuremlHook { port: 5679, pythonpath: Some("/opt/a:/opt/b".into()) })
        );
        assert_eq!(azureml_hook(&env(&["AZUREML_DEBUG_PORT=5678"])), None, "the user's own hook: not dockdap's");
        assert_eq!(azureml_hook(&env(&["DOCKDAP_GATE=5678"])), None);
        assert_eq!(azureml_hook(&env(&["DOCKDAP_GATE=5678", "AZUREML_DEBUG_PORT=x"])), None);
    }
}
