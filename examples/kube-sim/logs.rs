//! `pods/log`: a container's output from its Docker container (the current
//! attempt, or the one before with `previous=true`), with `follow`,
//! `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps` and `limitBytes`.
//! A followed log ends when the container stops, as with the kubelet.

use std::sync::Arc;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bytes::Bytes;
use futures_util::StreamExt;
use k8s_openapi::jiff::Timestamp;

use crate::errors::ApiError;
use crate::http::{self, Query, Reply};
use crate::kinds::Kind;
use crate::sim::Sim;
use crate::streams::pick_container;

pub async fn serve(sim: Arc<Sim>, ns: &str, name: &str, query: &Query) -> Result<Reply, ApiError> {
    let pod = sim.store.get(Kind::Pod, ns, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    let container = pick_container(&pod, query.get("container"))?;
    let previous = query.flag("previous");
    let id = sim.kubelet.container_id(&sim, ns, name, &container, previous)?;
    let since = match (query.int("sinceSeconds")?, query.get("sinceTime")) {
        (Some(s), _) => crate::ids::timestamp().as_second() - s,
        (None, Some(t)) => t
            .parse::<Timestamp>()
            .map(|t| t.as_second())
            .map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t}")))?,
        _ => 0,
    };
    let tail = query.int("tailLines")?.map_or_else(|| "all".to_owned(), |n| n.max(0).to_string());
    let mut limit = query.int("limitBytes")?.map(|n| n.max(0) as usize);
    let options = LogsOptions {
        follow: query.flag("follow"),
        stdout: true,
        stderr: true,
        timestamps: query.flag("timestamps"),
        tail,
        since: since.clamp(0, i32::MAX as i64) as i32,
        ..Default::default()
    };
    let mut logs = sim.docker.logs(&id, Some(options));
    let (tx, reply) = http::streamed("text/plain");
    let shutdown = sim.shutdown.clone();
    sim.tasks.spawn(async move {
        loop {
            let chunk = tokio::select! {
                chunk = logs.next() => chunk,
                _ = shutdown.cancelled() => break,
                _ = tx.closed() => break,
            };
            let mut bytes: Bytes = match chunk {
                Some(Ok(
                    LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message },
                )) => message,
                Some(Ok(LogOutput::StdIn { .. })) => continue,
                Some(Err(_)) | None => break,
            };
            if let Some(left) = limit.as_mut() {
                if *left == 0 {
                    break;
                }
                bytes = bytes.slice(..bytes.len().min(*left));
                *left -= bytes.len();
            }
            if tx.send(bytes).await.is_err() {
                break;
            }
        }
    });
    Ok(reply)
}
