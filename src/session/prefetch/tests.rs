//! The prefetch's decisions, without a link (`tests/prefetch.rs` runs it against a real debugpy).

use super::*;
use serde_json::json;

fn answer(seq: i64, command: &str, body: Value) -> Message {
    let frame = json!({"seq": 1, "type": "response", "request_seq": seq, "success": true,
                       "command": command, "body": body});
    Message::parse(frame.to_string().as_bytes()).unwrap()
}

fn body_for(command: &str, id: i64) -> Value {
    match command {
        "stackTrace" => json!({"stackFrames": [{"id": id, "name": "f"}, {"id": id + 1, "name": "g"}]}),
        "scopes" => json!({"scopes": [{"name": "Locals", "variablesReference": id + 10}]}),
        _ => json!({}),
    }
}

/// Sends the fetches as debugpy would get them, numbered from `next_seq`;
/// returns (seq, command, arguments) of each.
fn send(p: &mut Prefetch, fetches: Vec<Fetch>, next_seq: &mut i64) -> Vec<(i64, String, Value)> {
    fetches
        .into_iter()
        .map(|f| {
            *next_seq += 1;
            p.sent(f.slot, AdapterSeq(*next_seq));
            let args: Value = f.message.field("arguments").unwrap().unwrap();
            (*next_seq, f.message.command().unwrap().to_owned(), args)
        })
        .collect()
}

/// The seq a fetch of `command` went out as.
fn seq_of(sent: &[(i64, String, Value)], command: &str) -> i64 {
    sent.iter().find(|(_, c, _)| c == command).unwrap().0
}

/// The editor's cycle at a stop, forwarded (nothing fetched yet).
fn editor_cycle(p: &mut Prefetch, thread: i64, with_variables: bool) {
    let mut seq = 1000;
    let mut ask = |p: &mut Prefetch, command: &str, args: Value, id: i64| {
        seq += 1;
        assert!(matches!(p.on_client_request(seq, command, Some(args)), Hit::Miss));
        let (fetches, back) =
            p.on_answer(AdapterSeq(seq + 5000), Some(seq), command, answer(seq, command, body_for(command, id)));
        assert!(fetches.is_empty() && back.is_some());
    };
    ask(p, "threads", json!({}), 0);
    ask(p, "stackTrace", json!({"threadId": thread, "levels": 20}), 40);
    ask(p, "scopes", json!({"frameId": 40}), 40);
    if with_variables {
        ask(p, "variables", json!({"variablesReference": 50, "format": {"hex": true}}), 0);
    }
}

#[test]
fn fetches_what_the_editor_asked_after_its_previous_stop_with_new_ids() {
    let mut p = Prefetch::new(true);
    assert!(p.on_stopped(Some(1), "step").is_empty(), "nothing learned yet");
    editor_cycle(&mut p, 1, true);

    let mut seq = 0;
    let fetches = p.on_stopped(Some(7), "step");
    let first = send(&mut p, fetches, &mut seq);
    let names: Vec<(&str, &Value)> = first.iter().map(|(_, c, a)| (c.as_str(), a)).collect();
    // The stack first: `scopes` waits for it, nothing waits for `threads`.
    assert_eq!(names, [("stackTrace", &json!({"threadId": 7, "levels": 20})), ("threads", &json!({}))]);
    // The stack's answer gives the frame id for `scopes`, and its answer the reference.
    let (fetches, kept) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 400)));
    assert!(kept.is_none(), "kept for the editor");
    let scopes = send(&mut p, fetches, &mut seq);
    assert_eq!(scopes[0].1, "scopes");
    assert_eq!(scopes[0].2, json!({"frameId": 400}));
    let (fetches, _) = p.on_answer(AdapterSeq(3), None, "scopes", answer(3, "scopes", body_for("scopes", 400)));
    let vars = send(&mut p, fetches, &mut seq);
    assert_eq!(vars[0].2, json!({"variablesReference": 410, "format": {"hex": true}}), "the editor's own format");

    // Exact matches are answered; the one in flight is joined; others miss.
    assert!(matches!(p.on_client_request(1, "stackTrace", Some(json!({"threadId": 7, "levels": 20}))), Hit::Ready(_)));
    assert!(
        matches!(p.on_client_request(2, "stackTrace", Some(json!({"threadId": 7, "levels": 20}))), Hit::Miss),
        "used once"
    );
    assert!(matches!(p.on_client_request(3, "scopes", Some(json!({"frameId": 401}))), Hit::Miss), "another frame");
    assert!(matches!(p.on_client_request(4, "scopes", Some(json!({"frameId": 400}))), Hit::Ready(_)));
    assert!(
        matches!(p.on_client_request(5, "variables", Some(json!({"variablesReference": 410}))), Hit::Miss),
        "another format"
    );
    assert!(matches!(
        p.on_client_request(6, "variables", Some(json!({"variablesReference": 410, "format": {"hex": true}}))),
        Hit::InFlight(AdapterSeq(4))
    ));
    // A joined answer goes to the editor.
    let (_, back) = p.on_answer(AdapterSeq(4), Some(6), "variables", answer(4, "variables", json!({"variables": []})));
    assert!(back.is_some());
}

#[test]
fn a_state_change_drops_every_answer_and_stops_fetching() {
    let mut p = Prefetch::new(true);
    p.on_stopped(Some(1), "step");
    editor_cycle(&mut p, 1, true);
    let mut seq = 0;
    let fetches = p.on_stopped(Some(1), "step");
    let sent = send(&mut p, fetches, &mut seq);
    let threads = seq_of(&sent, "threads");
    let (_, kept) =
        p.on_answer(AdapterSeq(threads), None, "threads", answer(threads, "threads", json!({"threads": []})));
    assert!(kept.is_none());
    assert!(matches!(p.on_client_request(9, "setVariable", Some(json!({}))), Hit::Miss));
    assert!(matches!(p.on_client_request(10, "threads", Some(json!({}))), Hit::Miss), "dropped");
    // The stack's answer arrives after the change: nothing more is fetched.
    let (fetches, _) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 1)));
    assert!(fetches.is_empty());
    assert!(matches!(p.on_client_request(11, "stackTrace", Some(json!({"threadId": 1, "levels": 20}))), Hit::Miss));
    // So does an event that can mean a change.
    assert!(event_changes_state("continued") && event_changes_state("invalidated") && event_changes_state("thread"));
    assert!(!event_changes_state("output"));
    assert!(changes_state("evaluate") && changes_state("next") && changes_state("completions"));
    assert!(!changes_state("variables"));
}

#[test]
fn nothing_is_fetched_that_the_editor_did_not_ask_after_its_previous_stop() {
    let mut p = Prefetch::new(true);
    p.on_stopped(Some(1), "step");
    editor_cycle(&mut p, 1, false);
    let mut seq = 0;
    let fetches = p.on_stopped(Some(1), "step");
    let sent = send(&mut p, fetches, &mut seq);
    let (fetches, _) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 40)));
    assert!(fetches.is_empty(), "the guessed scopes is confirmed, not asked again");
    let scopes = seq_of(&sent, "scopes");
    let (fetches, _) =
        p.on_answer(AdapterSeq(scopes), None, "scopes", answer(scopes, "scopes", body_for("scopes", 40)));
    assert!(fetches.is_empty(), "no variables: the editor never asked");
    // A stop where it asked nothing teaches nothing.
    assert!(p.on_stopped(Some(1), "step").is_empty());
    assert!(p.on_stopped(Some(1), "step").is_empty());
    // Off: nothing, ever.
    let mut off = Prefetch::new(false);
    off.on_stopped(Some(1), "step");
    editor_cycle(&mut off, 1, true);
    assert!(off.on_stopped(Some(1), "step").is_empty());
}

/// A second stop on the same thread, the editor's cycle learned at the
/// first (top frame 40, its locals 50): what went out, in order.
fn second_stop(p: &mut Prefetch, seq: &mut i64) -> Vec<(i64, String, Value)> {
    p.on_stopped(Some(1), "step");
    editor_cycle(p, 1, true);
    let fetches = p.on_stopped(Some(1), "step");
    send(p, fetches, seq)
}

#[test]
fn scopes_is_guessed_behind_the_stack_and_served_once_the_stack_shows_the_same_frame() {
    let mut p = Prefetch::new(true);
    let mut seq = 0;
    let sent = second_stop(&mut p, &mut seq);
    let order: Vec<(&str, &Value)> = sent.iter().map(|(_, c, a)| (c.as_str(), a)).collect();
    assert_eq!(
        order,
        [
            ("stackTrace", &json!({"threadId": 1, "levels": 20})),
            ("scopes", &json!({"frameId": 40})),
            ("threads", &json!({}))
        ]
    );
    // Its answer may come first: nothing is served or fetched from it yet.
    let (fetches, kept) = p.on_answer(AdapterSeq(2), None, "scopes", answer(2, "scopes", body_for("scopes", 40)));
    assert!(kept.is_none() && fetches.is_empty(), "no variables before the stack confirms the frame");
    assert!(matches!(p.on_client_request(1, "scopes", Some(json!({"frameId": 40}))), Hit::Miss), "not yet");
    // The stack shows frame 40 on top: confirmed, and the variables go out.
    let (fetches, _) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 40)));
    let vars = send(&mut p, fetches, &mut seq);
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].1, "variables");
    assert_eq!(vars[0].2, json!({"variablesReference": 50, "format": {"hex": true}}));
    assert!(matches!(p.on_client_request(2, "scopes", Some(json!({"frameId": 40}))), Hit::Ready(_)));
    assert_eq!((p.counts.guessed, p.counts.wrong), (1, 0));
}

/// The editor's cycle at a stop whose fetches are all in: each request
/// is answered from them.
fn editor_cycle_answered(p: &mut Prefetch, thread: i64, frame: i64) {
    for (seq, command, args) in [
        (2001, "threads", json!({})),
        (2002, "stackTrace", json!({"threadId": thread, "levels": 20})),
        (2003, "scopes", json!({"frameId": frame})),
        (2004, "variables", json!({"variablesReference": frame + 10, "format": {"hex": true}})),
    ] {
        let hit = p.on_client_request(seq, command, Some(args));
        assert!(matches!(hit, Hit::Ready(_)), "{command}: {hit:?}");
    }
}

/// Stop 2 of `second_stop` played out: the stack shows frame 40 again,
/// every fetch is answered and the editor's cycle served from them.
fn finish_second_stop(p: &mut Prefetch, sent: &[(i64, String, Value)], seq: &mut i64) {
    for (at, command) in [(seq_of(sent, "scopes"), "scopes"), (seq_of(sent, "threads"), "threads")] {
        p.on_answer(AdapterSeq(at), None, command, answer(at, command, body_for(command, 40)));
    }
    let (fetches, _) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 40)));
    let vars = send(p, fetches, seq);
    p.on_answer(AdapterSeq(vars[0].0), None, "variables", answer(vars[0].0, "variables", json!({"variables": []})));
    editor_cycle_answered(p, 1, 40);
}

/// Stop 3, after `second_stop` played out: what went out at the stop.
fn third_stop(p: &mut Prefetch, seq: &mut i64) -> Vec<(i64, String, Value)> {
    let sent = second_stop(p, seq);
    finish_second_stop(p, &sent, seq);
    let fetches = p.on_stopped(Some(1), "step");
    send(p, fetches, seq)
}

/// The stack fetched at the stop (`sent`) is answered with `body`: what went out then.
fn stack_in(p: &mut Prefetch, sent: &[(i64, String, Value)], seq: &mut i64, body: Value) -> Vec<(i64, String, Value)> {
    let at = seq_of(sent, "stackTrace");
    let (fetches, _) = p.on_answer(AdapterSeq(at), None, "stackTrace", answer(at, "stackTrace", body));
    send(p, fetches, seq)
}

#[test]
fn a_scopes_answered_alike_at_two_stops_is_answered_from_memory_for_a_frame_of_this_stop() {
    let mut p = Prefetch::new(true);
    let mut seq = 0;
    // Stop 3: `scopes` of frame 40 came back the same at stops 1 and 2,
    // so it is not asked again.
    let sent = third_stop(&mut p, &mut seq);
    let commands: Vec<&str> = sent.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(commands, ["stackTrace", "threads"]);
    assert!(
        matches!(p.on_client_request(1, "scopes", Some(json!({"frameId": 40}))), Hit::Miss),
        "not served before the stack shows the frame"
    );
    // The stack shows it on top: its variables go out at once.
    let vars = stack_in(&mut p, &sent, &mut seq, body_for("stackTrace", 40));
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].2, json!({"variablesReference": 50, "format": {"hex": true}}));
    match p.on_client_request(2, "scopes", Some(json!({"frameId": 40}))) {
        Hit::Ready(m) => {
            assert_eq!(m.raw_field("body"), answer(0, "scopes", body_for("scopes", 40)).raw_field("body"))
        }
        other => panic!("expected the remembered answer, got {other:?}"),
    }
    assert_eq!(p.counts.remembered, 1);
    // Not after a request that can change state, nor for a frame no stack of this stop holds.
    assert!(matches!(p.on_client_request(3, "evaluate", Some(json!({"expression": "x"}))), Hit::Miss));
    assert!(matches!(p.on_client_request(4, "scopes", Some(json!({"frameId": 40}))), Hit::Miss));
}

#[test]
fn after_a_step_into_a_call_the_callers_scopes_is_remembered_and_the_new_frames_asked() {
    let mut p = Prefetch::new(true);
    let mut seq = 0;
    let sent = third_stop(&mut p, &mut seq);
    // A new frame 70 on top, frame 40 one below.
    let again = stack_in(&mut p, &sent, &mut seq, json!({"stackFrames": [{"id": 70}, {"id": 40}]}));
    assert_eq!(again.len(), 1, "frame 40's locals are not fetched: {again:?}");
    assert_eq!((again[0].1.as_str(), &again[0].2), ("scopes", &json!({"frameId": 70})));
    assert_eq!(p.counts.wrong, 1);
    // The editor opens the caller's frame: its scopes is remembered.
    assert!(matches!(p.on_client_request(1, "scopes", Some(json!({"frameId": 40}))), Hit::Ready(_)));
    // A frame no stack of this stop holds is asked for as always.
    assert!(matches!(p.on_client_request(2, "scopes", Some(json!({"frameId": 41}))), Hit::Miss));
}

#[test]
fn a_guess_the_stack_disproves_is_never_served_and_the_right_scopes_is_fetched() {
    let mut p = Prefetch::new(true);
    let mut seq = 0;
    second_stop(&mut p, &mut seq);
    // A step into a call: a new frame 70 on top, frame 40 one below.
    let (fetches, _) = p.on_answer(
        AdapterSeq(1),
        None,
        "stackTrace",
        answer(1, "stackTrace", json!({"stackFrames": [{"id": 70}, {"id": 40}]})),
    );
    let again = send(&mut p, fetches, &mut seq);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].1.as_str(), &again[0].2), ("scopes", &json!({"frameId": 70})));
    // The guess's answer, arriving now, is nobody's and fetches nothing
    // (frame 40's locals are not shown to anyone).
    let (fetches, kept) = p.on_answer(AdapterSeq(2), None, "scopes", answer(2, "scopes", body_for("scopes", 40)));
    assert!(fetches.is_empty());
    assert!(kept.is_some(), "not kept: handed back to be dropped");
    assert!(matches!(p.on_client_request(1, "scopes", Some(json!({"frameId": 40}))), Hit::Miss));
    assert!(matches!(p.on_client_request(2, "scopes", Some(json!({"frameId": 70}))), Hit::InFlight(AdapterSeq(4))));
    let (fetches, _) = p.on_answer(AdapterSeq(4), Some(2), "scopes", answer(4, "scopes", body_for("scopes", 70)));
    let vars = send(&mut p, fetches, &mut seq);
    assert_eq!(vars[0].2, json!({"variablesReference": 80, "format": {"hex": true}}), "the new frame's locals");
    assert_eq!((p.counts.guessed, p.counts.wrong), (1, 1));
}

#[test]
fn nothing_is_guessed_for_a_stop_on_another_thread_or_after_a_state_change() {
    let mut p = Prefetch::new(true);
    p.on_stopped(Some(1), "step");
    editor_cycle(&mut p, 1, true);
    let fetches = p.on_stopped(Some(2), "step");
    assert!(fetches.iter().all(|f| f.message.command() != Some("scopes")), "another thread's frames");

    let mut p = Prefetch::new(true);
    let mut seq = 0;
    second_stop(&mut p, &mut seq);
    p.on_client_request(9, "evaluate", Some(json!({"expression": "x"})));
    let (fetches, kept) = p.on_answer(AdapterSeq(2), None, "scopes", answer(2, "scopes", body_for("scopes", 40)));
    assert!(fetches.is_empty() && kept.is_none());
    let (fetches, _) =
        p.on_answer(AdapterSeq(1), None, "stackTrace", answer(1, "stackTrace", body_for("stackTrace", 40)));
    assert!(fetches.is_empty(), "no variables after the evaluate");
    assert!(matches!(p.on_client_request(10, "scopes", Some(json!({"frameId": 40}))), Hit::Miss));
}

#[test]
fn what_is_fetched_is_what_the_editor_asked_after_its_last_stop_of_the_same_reason() {
    let mut p = Prefetch::new(true);
    p.on_stopped(Some(1), "breakpoint");
    editor_cycle(&mut p, 1, true);
    // A step it did not look at: nothing learned for steps yet, nothing fetched.
    assert!(p.on_stopped(Some(1), "step").is_empty());
    // The next breakpoint: the cycle of the previous breakpoint.
    let fetches = p.on_stopped(Some(1), "breakpoint");
    let names: Vec<&str> = fetches.iter().filter_map(|f| f.message.command()).collect();
    assert_eq!(names, ["stackTrace", "scopes", "threads"]);
    // Still nothing after a step, which it never looked at.
    assert!(p.on_stopped(Some(1), "step").is_empty());
    assert!(p.on_stopped(Some(1), "step").is_empty());
}
