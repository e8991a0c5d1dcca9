//! Arbitrary frame bodies through the envelope: no panic, and what parses
//! serialises to something that parses to the same JSON.
#![no_main]

use dockdap::dap::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let bytes = message.to_bytes();
        let again = Message::parse(&bytes).expect("a serialised message parses");
        assert_eq!(again.to_bytes(), bytes);
    }
});
