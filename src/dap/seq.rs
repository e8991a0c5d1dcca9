//! Sequence numbers across the bridge: two counters and one table.
//!
//! The DAP spec says each actor numbers its own messages from 1: "The `seq`
//! for the first message sent by a client or debug adapter is 1, and for each
//! subsequent message is 1 greater than the previous message sent by that
//! actor" (<https://microsoft.github.io/debug-adapter-protocol/specification#Base_Protocol_ProtocolMessage>).
//! The bridge is an actor on both of its links, so it stamps every message it
//! writes with its own counter for that link, and remembers, for every request
//! it sent, who asked, so that the answer can be routed back under the
//! asker's numbering. The newtypes keep the two numbering spaces apart.
//!
//! The table does not write messages and does not know what a command means.

use std::collections::HashMap;

/// A `seq` in the numbering of the client link (the editor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientSeq(pub i64);

/// A `seq` in the numbering of the adapter link (debugpy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdapterSeq(pub i64);

/// Who is waiting for the response to a request the bridge sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin<S> {
    /// The peer on the other link, under its own seq.
    Peer(S),
    /// The bridge itself; the tag says what for.
    Bridge(BridgeTag),
}

/// Why the bridge sent a request of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeTag {
    /// The replayed `initialize`, whose capabilities are compared with ours.
    Initialize,
    /// Anything else, answered and then forgotten.
    Other,
    /// A speculative fetch (`session::prefetch`): its answer is kept for a
    /// client request to come, unless a client request adopts it first.
    Prefetch,
    /// The `attach` to a new debugpy after the debuggee's process was
    /// replaced (`session::reattach`): its answer answers a reload or restart.
    Reattach,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<S> {
    /// Who asked.
    pub origin: Origin<S>,
    /// The command as the asker named it (the response is renamed to it).
    pub command: String,
}

/// The two counters and the two tables of pending requests.
#[derive(Debug, Default)]
pub struct SeqTable {
    last_to_client: i64,
    last_to_adapter: i64,
    /// Requests written to the adapter, by the seq the bridge gave them.
    to_adapter: HashMap<AdapterSeq, Pending<ClientSeq>>,
    /// Client seq -> adapter seq for forwarded client requests (for `cancel`).
    by_client_seq: HashMap<ClientSeq, AdapterSeq>,
    /// Requests written to the client (reverse requests and the bridge's own).
    to_client: HashMap<ClientSeq, Pending<AdapterSeq>>,
}

impl SeqTable {
    /// The seq of the next message written to the client.
    pub fn stamp_to_client(&mut self) -> ClientSeq {
        self.last_to_client += 1;
        ClientSeq(self.last_to_client)
    }

    /// The seq of the next message written to the adapter.
    pub fn stamp_to_adapter(&mut self) -> AdapterSeq {
        self.last_to_adapter += 1;
        AdapterSeq(self.last_to_adapter)
    }

    /// Records a request written to the adapter as `sent`.
    pub fn sent_to_adapter(&mut self, sent: AdapterSeq, pending: Pending<ClientSeq>) {
        if let Origin::Peer(client_seq) = pending.origin
            && self.by_client_seq.insert(client_seq, sent).is_some()
        {
            tracing::warn!(seq = client_seq.0, "the client reused a seq; routing by the bridge's own numbers");
        }
        self.to_adapter.insert(sent, pending);
    }

    /// Records a request written to the client as `sent`.
    pub fn sent_to_client(&mut self, sent: ClientSeq, pending: Pending<AdapterSeq>) {
        self.to_client.insert(sent, pending);
    }

    /// A client request joins the bridge's own request `sent` (a
    /// `BridgeTag::Prefetch` still in flight): its answer goes to `pending`,
    /// as if the client's request had been forwarded as `sent`. False (and
    /// nothing changed) if `sent` is not such a request.
    pub fn adopt(&mut self, sent: AdapterSeq, pending: Pending<ClientSeq>) -> bool {
        match self.to_adapter.get_mut(&sent) {
            Some(entry) if entry.origin == Origin::Bridge(BridgeTag::Prefetch) => {
                if let Origin::Peer(client_seq) = pending.origin {
                    self.by_client_seq.insert(client_seq, sent);
                }
                *entry = pending;
                true
            }
            _ => false,
        }
    }

    /// The adapter answered `request_seq`: who asked? `None` for a seq the
    /// bridge never sent (the response is then dropped).
    pub fn answered_by_adapter(&mut self, request_seq: AdapterSeq) -> Option<Pending<ClientSeq>> {
        let pending = self.to_adapter.remove(&request_seq)?;
        if let Origin::Peer(client_seq) = pending.origin
            && self.by_client_seq.get(&client_seq) == Some(&request_seq)
        {
            self.by_client_seq.remove(&client_seq);
        }
        Some(pending)
    }

    /// The client answered `request_seq`: who asked?
    pub fn answered_by_client(&mut self, request_seq: ClientSeq) -> Option<Pending<AdapterSeq>> {
        self.to_client.remove(&request_seq)
    }

    /// The adapter-side seq of a client request still in flight, for
    /// renumbering `cancel`'s `requestId`.
    pub fn adapter_seq_of(&self, client_seq: ClientSeq) -> Option<AdapterSeq> {
        self.by_client_seq.get(&client_seq).copied()
    }

    /// Every request the adapter will now never answer, oldest first.
    pub fn drain_to_adapter(&mut self) -> Vec<(AdapterSeq, Pending<ClientSeq>)> {
        self.by_client_seq.clear();
        let mut all: Vec<_> = self.to_adapter.drain().collect();
        all.sort_by_key(|(seq, _)| *seq);
        all
    }

    /// Every request the client will now never answer, oldest first.
    pub fn drain_to_client(&mut self) -> Vec<(ClientSeq, Pending<AdapterSeq>)> {
        let mut all: Vec<_> = self.to_client.drain().collect();
        all.sort_by_key(|(seq, _)| *seq);
        all
    }

    /// How many requests await an answer from the adapter.
    pub fn pending_on_adapter(&self) -> usize {
        self.to_adapter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_client(seq: i64, command: &str) -> Pending<ClientSeq> {
        Pending { origin: Origin::Peer(ClientSeq(seq)), command: command.into() }
    }

    /// Replays a script of `forward C` (client request C forwarded to the
    /// adapter), `answer A` (adapter answers its seq A) and `cancel C`, and
    /// renders what the table says at each step.
    #[track_caller]
    fn check(script: &str, expect: &str) {
        let mut table = SeqTable::default();
        let mut out = Vec::new();
        for step in script.split(';').map(str::trim) {
            let (verb, n) = step.split_once(' ').unwrap();
            let n: i64 = n.parse().unwrap();
            match verb {
                "forward" => {
                    let seq = table.stamp_to_adapter();
                    table.sent_to_adapter(seq, from_client(n, "x"));
                    out.push(format!("{n}->{}", seq.0));
                }
                "answer" => match table.answered_by_adapter(AdapterSeq(n)) {
                    Some(Pending { origin: Origin::Peer(c), .. }) => out.push(format!("{n}=>{}", c.0)),
                    Some(_) => out.push(format!("{n}=>bridge")),
                    None => out.push(format!("{n}=>drop")),
                },
                "cancel" => match table.adapter_seq_of(ClientSeq(n)) {
                    Some(a) => out.push(format!("cancel {n}->{}", a.0)),
                    None => out.push(format!("cancel {n}->none")),
                },
                _ => unreachable!(),
            }
        }
        assert_eq!(out.join(" "), expect);
    }

    #[test]
    fn table() {
        // S1: the client starts at 0 and skips numbers; the adapter sees 1, 2, 3.
        check("forward 0; forward 5; forward 6", "0->1 5->2 6->3");
        // S3: out-of-order answers.
        check("forward 1; forward 2; answer 2; answer 1", "1->1 2->2 2=>2 1=>1");
        // S6: an unknown request_seq is dropped, and so is a second answer.
        check("forward 1; answer 9; answer 1; answer 1", "1->1 9=>drop 1=>1 1=>drop");
        // S4: cancel is renumbered while in flight, not after.
        check("forward 7; cancel 7; answer 1; cancel 7", "7->1 cancel 7->1 1=>7 cancel 7->none");
        // S9: a duplicate client seq still routes both answers.
        check("forward 3; forward 3; cancel 3; answer 1; answer 2", "3->1 3->2 cancel 3->2 1=>3 2=>3");
    }

    #[test]
    fn pipelined_thousand() {
        // S2: 1000 pipelined requests, answered in reverse order.
        let mut table = SeqTable::default();
        for c in 1..=1000 {
            let seq = table.stamp_to_adapter();
            table.sent_to_adapter(seq, from_client(c * 10, "next"));
        }
        for a in (1..=1000).rev() {
            let p = table.answered_by_adapter(AdapterSeq(a)).unwrap();
            assert_eq!(p.origin, Origin::Peer(ClientSeq(a * 10)));
        }
        assert_eq!(table.pending_on_adapter(), 0);
    }

    #[test]
    fn drain_is_ordered() {
        let mut table = SeqTable::default();
        for c in [5, 3, 9] {
            let seq = table.stamp_to_adapter();
            table.sent_to_adapter(seq, from_client(c, "threads"));
        }
        let drained: Vec<_> = table.drain_to_adapter().into_iter().map(|(a, p)| (a.0, p.origin)).collect();
        assert_eq!(
            drained,
            vec![(1, Origin::Peer(ClientSeq(5))), (2, Origin::Peer(ClientSeq(3))), (3, Origin::Peer(ClientSeq(9)))]
        );
        assert!(table.adapter_seq_of(ClientSeq(5)).is_none());
        let seq = table.stamp_to_client();
        table.sent_to_client(seq, Pending { origin: Origin::Bridge(BridgeTag::Other), command: "x".into() });
        assert_eq!(table.drain_to_client().len(), 1);
    }

    #[test]
    fn a_client_request_adopts_a_prefetch_in_flight() {
        let mut table = SeqTable::default();
        let sent = table.stamp_to_adapter();
        let prefetch = Pending { origin: Origin::Bridge(BridgeTag::Prefetch), command: "threads".into() };
        table.sent_to_adapter(sent, prefetch);
        // Only a prefetch can be adopted, and only once.
        assert!(table.adopt(sent, from_client(7, "threads")));
        assert!(!table.adopt(sent, from_client(8, "threads")));
        assert_eq!(table.adapter_seq_of(ClientSeq(7)), Some(sent));
        assert_eq!(table.answered_by_adapter(sent).map(|p| p.origin), Some(Origin::Peer(ClientSeq(7))));
        // The link closing answers an adopted request like a forwarded one.
        let sent = table.stamp_to_adapter();
        let prefetch = Pending { origin: Origin::Bridge(BridgeTag::Prefetch), command: "scopes".into() };
        table.sent_to_adapter(sent, prefetch);
        assert!(table.adopt(sent, from_client(9, "scopes")));
        assert_eq!(table.drain_to_adapter()[0].1.origin, Origin::Peer(ClientSeq(9)));
    }

    proptest::proptest! {
        /// Whatever the interleaving, each forwarded request is answered back
        /// to its asker exactly once.
        #[test]
        fn each_request_answered_once(ops in proptest::collection::vec((proptest::bool::ANY, 0i64..50), 0..200)) {
            let mut table = SeqTable::default();
            let mut open: Vec<(AdapterSeq, i64)> = Vec::new();
            for (forward, n) in ops {
                if forward || open.is_empty() {
                    let seq = table.stamp_to_adapter();
                    table.sent_to_adapter(seq, from_client(n, "x"));
                    open.push((seq, n));
                } else {
                    let (seq, client) = open.remove(n as usize % open.len());
                    let p = table.answered_by_adapter(seq).unwrap();
                    proptest::prop_assert_eq!(p.origin, Origin::Peer(ClientSeq(client)));
                    proptest::prop_assert!(table.answered_by_adapter(seq).is_none());
                }
            }
            proptest::prop_assert_eq!(table.pending_on_adapter(), open.len());
        }
    }
}
