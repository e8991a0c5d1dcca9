//! Part 2, throughput: the synthetic adapter floods 1 KiB `output` events,
//! read through a raw byte relay (A) and through dockdap (B), alternating
//! A B B A; then one large message each way. dockdap runs as its own process
//! here, so its peak RSS under this load is read as well (part 6).

use std::time::{Duration, Instant};

use serde_json::json;

use super::footprint::mib;
use super::procs::Listener;
use super::report::{Goal, progress};
use super::stats::Samples;
use super::synthetic::{self, Lean};
use super::{Options, Reporter};

/// The largest body dockdap (and debugpy) accept is 16 MiB; the big message
/// stays a little under it, so that renumbering `seq` cannot push it over.
const BIG: usize = 16 * 1024 * 1024 - 4096;

pub async fn run(options: &Options, report: &mut Reporter<'_>) -> anyhow::Result<()> {
    let (count, rounds, big) = if options.quick { (1_000u64, 1, 1024 * 1024) } else { (20_000u64, 8, BIG) };
    progress(&format!("throughput: {rounds} x {count} output events a side, then {} KiB each way", big / 1024));
    let adapter = synthetic::adapter()?;
    let relay = synthetic::relay(adapter.addr.clone())?;
    let mut listener = Listener::spawn(&options.dockdap_bin, &options.source_root).await?;

    let mut a = Lean::connect(&relay.addr).await?;
    a.handshake(json!({"request": "attach"})).await?;
    let mut b = Lean::connect(&listener.addr).await?;
    b.handshake(json!({"type": "dockdap", "request": "attach", "name": "bench",
                       "connect": {"host": "127.0.0.1", "port": adapter.port}}))
        .await?;

    // Flood, A B B A ...; each round's rate is a sample (events/s as the
    // inverse of the time per event, so the median of `Samples` works).
    let (mut a_per_event, mut b_per_event) = (Samples::default(), Samples::default());
    let (mut a_bytes, mut b_bytes, mut b_cpu) = (0u64, 0u64, Duration::ZERO);
    for i in 0..rounds * 2 {
        let dockdap_turn = (i % 4 == 1) || (i % 4 == 2);
        let side = if dockdap_turn { &mut b } else { &mut a };
        let cpu0 = listener.cpu_time()?;
        let t0 = Instant::now();
        let (events, bytes) = side.flood(count).await?;
        let elapsed = t0.elapsed();
        if events != count {
            anyhow::bail!("{events} of {count} output events arrived");
        }
        if dockdap_turn {
            b_cpu += listener.cpu_time()? - cpu0;
            b_per_event.push(elapsed / count as u32);
            b_bytes = bytes;
        } else {
            a_per_event.push(elapsed / count as u32);
            a_bytes = bytes;
        }
    }
    // Samples are in ms per event.
    let (a_rate, b_rate) = (1000.0 / a_per_event.median(), 1000.0 / b_per_event.median());
    let (a_mbs, b_mbs) =
        (a_rate * (a_bytes as f64 / count as f64) / 1e6, b_rate * (b_bytes as f64 / count as f64) / 1e6);
    report.figure("throughput.relay.messages_per_s", a_rate, "msg/s")?;
    report.figure("throughput.dockdap.messages_per_s", b_rate, "msg/s")?;
    report.figure("throughput.messages.ratio", b_rate / a_rate, "x")?;
    report.figure("throughput.relay.mb_per_s", a_mbs, "MB/s")?;
    report.figure("throughput.dockdap.mb_per_s", b_mbs, "MB/s")?;
    report.figure("throughput.mb.ratio", b_mbs / a_mbs, "x")?;
    report.figure("throughput.lost_events", 0.0, "events")?;
    let total = (count * rounds as u64) as f64;
    report.figure("throughput.dockdap.cpu_per_1000", b_cpu.as_secs_f64() * 1000.0 / (total / 1000.0), "ms")?;
    report.goal(
        "throughput: output events/s, dockdap / raw relay",
        "throughput.messages.ratio",
        Some(Goal::AtLeast(0.5)),
    );
    report.goal("throughput: MB/s, dockdap / raw relay", "throughput.mb.ratio", Some(Goal::AtLeast(0.5)));
    let flood_peak = listener.memory()?.peak_kib;
    report.figure("footprint.flood.peak_rss", mib(flood_peak), "MB")?;
    report.goal("footprint: peak RSS under the flood", "footprint.flood.peak_rss", Some(Goal::AtMost(30.0)));

    // One big message each way, A B then B A.
    let data = "x".repeat(big);
    let (mut up_a, mut up_b, mut down_a, mut down_b) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let pairs = if options.quick { 1 } else { 2 };
    for i in 0..pairs * 2 {
        let dockdap_turn = i % 2 == 1;
        let (side, up, down) =
            if dockdap_turn { (&mut b, &mut up_b, &mut down_b) } else { (&mut a, &mut up_a, &mut down_a) };
        let t0 = Instant::now();
        side.big_to_adapter(&data).await?;
        up.push(t0.elapsed());
        let t0 = Instant::now();
        side.big_to_client(big).await?;
        down.push(t0.elapsed());
    }
    let size = format!("{:.1}", big as f64 / 1024.0 / 1024.0);
    report.note(&format!("the big message is {size} MiB ({big} bytes of JSON string plus the envelope)"));
    report.figure("big.to_adapter.relay", up_a.median(), "ms")?;
    report.figure("big.to_adapter.dockdap", up_b.median(), "ms")?;
    report.figure("big.to_adapter.ratio", up_b.median() / up_a.median(), "x")?;
    report.figure("big.to_client.relay", down_a.median(), "ms")?;
    report.figure("big.to_client.dockdap", down_b.median(), "ms")?;
    report.figure("big.to_client.ratio", down_b.median() / down_a.median(), "x")?;
    report.goal(
        "16 MiB message to the adapter, time dockdap / raw relay",
        "big.to_adapter.ratio",
        Some(Goal::AtMost(2.0)),
    );
    report.goal(
        "16 MiB message to the client, time dockdap / raw relay",
        "big.to_client.ratio",
        Some(Goal::AtMost(2.0)),
    );
    let after_big = listener.memory()?;
    report.figure("footprint.big.peak_rss", mib(after_big.peak_kib), "MB")?;
    report.figure("footprint.big.rss_after", mib(after_big.rss_kib), "MB")?;
    report.goal("footprint: peak RSS after the 16 MiB messages", "footprint.big.peak_rss", None);

    a.disconnect().await;
    b.disconnect().await;
    listener.stop().await;
    Ok(())
}
