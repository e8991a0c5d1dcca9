//! A program that floods its output (10 MB/s) while the editor reads only
//! 1 KB/s: dockdap's memory stays bounded, output beyond its budget is
//! dropped and counted, and no request or response is ever lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use dockdap::client::DapClient;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncRead, ReadBuf};

/// Writes 10 MB/s of 1 KiB lines for `argv[1]` seconds, then a line every half second.
const FLOOD: &str = r#"
import sys, time
line = ("x" * 1023 + "\n").encode()
block = line * 1024
end = time.time() + float(sys.argv[1])
while time.time() < end:
    t = time.time()
    for _ in range(10):
        sys.stdout.buffer.write(block)
    sys.stdout.buffer.flush()
    time.sleep(max(0.0, 1.0 - (time.time() - t)))
for _ in range(300):
    print("tick", flush=True)
    time.sleep(0.5)
"#;

/// Reads at most `per_tick` bytes every 100 ms while `slow` is set.
struct Throttled<R> {
    inner: R,
    slow: Arc<AtomicBool>,
    budget: usize,
    tick: Option<Pin<Box<tokio::time::Sleep>>>,
}

const PER_TICK: usize = 100;

impl<R: AsyncRead + Unpin> AsyncRead for Throttled<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.slow.load(Ordering::Relaxed) {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        if self.budget == 0 {
            let tick = self.tick.get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(100))));
            if tick.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.tick = None;
            self.budget = PER_TICK;
        }
        let want = self.budget.min(buf.remaining());
        let mut small = vec![0u8; want];
        let mut small_buf = ReadBuf::new(&mut small);
        match Pin::new(&mut self.inner).poll_read(cx, &mut small_buf) {
            Poll::Ready(Ok(())) => {
                let n = small_buf.filled().len();
                buf.put_slice(&small[..n]);
                self.budget -= n;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

use std::future::Future;

fn body(m: &dockdap::dap::Message) -> Value {
    m.field("body").unwrap().unwrap_or_default()
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_flooding_program_and_a_slow_editor_lose_output_not_messages() {
    if !require(&format!("the image {STOCK_IMAGE}"), have_docker() && have_image(STOCK_IMAGE)) {
        return;
    }
    let seconds = std::env::var("DOCKDAP_FLOOD_SECONDS").unwrap_or_else(|_| "4".into());
    let mut child = tokio::process::Command::new(dockdap_bin())
        .current_dir(example_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let slow = Arc::new(AtomicBool::new(false));
    let reader = Throttled { inner: child.stdout.take().unwrap(), slow: slow.clone(), budget: PER_TICK, tick: None };
    let mut client = DapClient::new(Box::new(reader), Box::new(child.stdin.take().unwrap()), Duration::from_secs(120));

    client.request("initialize", json!({"adapterID": "dockdap"})).await.unwrap();
    let name = format!("dockdap-test-flood-{}", std::process::id());
    let launch = client
        .send_request(
            "launch",
            json!({"image": STOCK_IMAGE, "debugger": "inject", "containerName": name, "ports": [],
                   "command": ["python3", "-c", FLOOD, seconds], "localRoot": example_dir()}),
        )
        .await
        .unwrap();
    client.wait_event("initialized").await.unwrap();
    client.request("configurationDone", json!({})).await.unwrap();
    client.wait_response(launch).await.unwrap();

    // The editor now reads 1 KB/s while the program writes 10 MB/s.
    slow.store(true, Ordering::Relaxed);
    let mut asked = Vec::new();
    for _ in 0..5 {
        asked.push(client.send_request("threads", json!({})).await.unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let flood_secs: f64 = std::env::var("DOCKDAP_FLOOD_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4.0);
    tokio::time::sleep(Duration::from_secs_f64(flood_secs)).await;
    let peak = peak_rss_kb(pid);

    // Every request is answered once the editor catches up.
    slow.store(false, Ordering::Relaxed);
    for seq in asked {
        let answer = client.wait_response(seq).await.unwrap();
        assert!(matches!(answer.kind(), dockdap::dap::Kind::Response { success: true, .. }), "{answer:?}");
    }
    let backlog = client.drain_backlog();
    let is_notice = |m: &dockdap::dap::Message| {
        m.is_event("output")
            && body(m)["output"].as_str().unwrap_or("").contains("lines of program output were dropped")
    };
    let received: usize =
        backlog.iter().filter(|m| m.is_event("output")).filter_map(|m| body(m)["output"].as_str().map(str::len)).sum();
    // The drop is reported once the editor has caught up: in what it read
    // while catching up, or with the output that follows.
    let notices = backlog.iter().filter(|m| is_notice(m)).count();
    let notice = if notices > 0 { Ok(()) } else { client.wait_for("the drop notice", is_notice).await.map(|_| ()) };
    assert!(notices <= 1, "one notice per time the editor fell behind, not {notices}");
    eprintln!(
        "flood: {flood_secs}s at 10 MB/s with the editor reading 1 KB/s: {} kB of output delivered, dockdap peak RSS {peak} kB",
        received / 1024
    );
    assert!(peak < 120 * 1024, "dockdap's memory stays bounded: peak {peak} kB");
    notice.expect("the editor is told how much output was dropped");
    client.request("disconnect", json!({})).await.unwrap();
    assert!(wait_gone(&name, Duration::from_secs(20)).await);
}
