//! Is debugpy listening inside the container yet? (The reading of a socket
//! table; `programs::WAITER` does the same inside the container.)
//!
//! A TCP connect to the published port proves nothing: docker-proxy accepts
//! connections before anything listens in the container (moby#16976), and
//! debugpy serves exactly one client, so a probe connection would use it up
//! (debugpy#974). Instead dockdap reads the container's own socket table,
//! `/proc/net/tcp` and `/proc/net/tcp6`, through `docker exec`, and connects
//! only once the port is in LISTEN state: that first connection is the session.

/// Whether a `/proc/net/tcp{,6}` dump shows a socket listening on `port`.
pub fn listening(proc_net_tcp: &str, port: u16) -> bool {
    let want = format!("{port:04X}");
    proc_net_tcp.lines().any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Columns: slot, local address, remote address, state; state 0A is TCP_LISTEN.
        cols.len() > 3
            && cols[3] == "0A"
            && cols[1].rsplit_once(':').is_some_and(|(_, p)| p.eq_ignore_ascii_case(&want))
    })
}

/// Socket tables and what `listening` says about a port in them (shared
/// with the in-container waiter's test).
#[cfg(test)]
pub(crate) const SAMPLES: &[(&str, u16, bool)] = &[
    (TCP, 5678, true),
    // 0x9C40 = 40000 is an established connection, not a listener.
    (TCP, 40000, false),
    (TCP6, 5001, true),
    (TCP6, 5678, false),
    ("", 5678, false),
    ("garbage\n1 2\n", 5678, false),
];

#[cfg(test)]
const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:162E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:162E 01 00000000:00000000 00:00000000 00000000     0        0 1235 1 0000000000000000 20 4 30 10 -1
";
#[cfg(test)]
const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1389 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listen_sockets_only() {
        for (table, port, expected) in SAMPLES {
            assert_eq!(listening(table, *port), *expected, "port {port} in {table:?}");
        }
        assert!(listening(&format!("{TCP}{TCP6}"), 5001));
    }
}
