//! Arbitrary bytes, cut into arbitrary reads, through the DAP codec: no
//! panic, and the buffer stays bounded.
#![no_main]

use bytes::BytesMut;
use dockdap::dap::DapCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let chunk = usize::from(cut).max(1);
    let mut codec = DapCodec::new(4096);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        assert!(buf.len() <= 4096 + 8 * 1024 + 256, "buffer grew to {}", buf.len());
    }
    let _ = codec.decode_eof(&mut buf);
});
