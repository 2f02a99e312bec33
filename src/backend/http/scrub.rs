//! Keeping passwords out of the HTTP backend's memory once a request is over.
//!
//! A password travels in the form (POST body or GET query) we build, then in the request
//! buffer on the connection (plaintext, before TLS). Both outlive the request unless wiped:
//! the form's allocation is freed without being cleared, and the buffer belongs to the
//! kept-alive connection and is only overwritten by a later request of at least that length.
//! - [`SecretBuf`]: the form and the GET path+query are built in one exactly-sized
//!   allocation (never reallocated, so no stale copy is left behind) wiped when dropped;
//!   handed to ureq-proto as the `Uri`'s path without a copy (`Bytes::from_owner`), so the
//!   wipe happens when the request's last reference is dropped.
//! - [`ScrubConnector`]: the last link of the connector chain (outermost, above TLS, so it
//!   sees the plaintext buffer the request is written into): after each send, the bytes just
//!   sent are wiped; a request that fails before it is sent is wiped by the transport
//!   (`transport::exchange`).

use std::fmt;

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use crate::hash::wipe_bytes;

/// Bytes that may hold a password: fixed capacity, wiped on drop.
pub struct SecretBuf(Vec<u8>);

impl SecretBuf {
    /// An empty buffer that will hold up to `capacity` bytes without reallocating.
    pub fn with_capacity(capacity: usize) -> SecretBuf {
        SecretBuf(Vec::with_capacity(capacity))
    }

    /// Appends `bytes`. Growing past the capacity would leave the old allocation's copy
    /// behind, unwiped: callers size the buffer first; a miss is a bug, caught in tests.
    pub fn push(&mut self, bytes: &[u8]) {
        debug_assert!(
            self.0.len() + bytes.len() <= self.0.capacity(),
            "SecretBuf would reallocate"
        );
        self.0.extend_from_slice(bytes);
    }

    /// Appends `bytes` percent-encoded: unreserved bytes as they are, others as `%XX`.
    /// Runs of unreserved bytes (most of a name or password) are copied in one go.
    pub fn push_encoded(&mut self, bytes: &[u8], is_unreserved: impl Fn(u8) -> bool) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut rest = bytes;
        loop {
            let run = rest
                .iter()
                .position(|&b| !is_unreserved(b))
                .unwrap_or(rest.len());
            self.push(&rest[..run]);
            let Some((&b, tail)) = rest[run..].split_first() else {
                return;
            };
            self.push(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            rest = tail;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for SecretBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        // The whole allocation, not just `len`: nothing else was ever written past it,
        // but this costs nothing and needs no argument.
        let cap = self.0.capacity();
        self.0.resize(cap, 0);
        wipe_bytes(&mut self.0);
    }
}

impl fmt::Debug for SecretBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBuf({} bytes)", self.0.len())
    }
}

/// Wraps every connection's outermost transport in a [`Scrubbing`] one.
#[derive(Debug, Default)]
pub struct ScrubConnector;

impl<In: Transport> Connector<In> for ScrubConnector {
    type Out = Scrubbing<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(Scrubbing))
    }
}

/// A transport whose sent bytes are wiped from its output buffer once sent.
#[derive(Debug)]
pub struct Scrubbing<T>(T);

impl<T: Transport> Transport for Scrubbing<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let sent = self.0.transmit_output(amount, timeout);
        // Also after a failure: the bytes are of no use any more.
        let out = self.0.buffers().output();
        let n = amount.min(out.len());
        wipe_bytes(&mut out[..n]);
        sent
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::LazyBuffers;

    #[derive(Debug)]
    struct Sink {
        buffers: LazyBuffers,
        sent: Vec<u8>,
    }

    impl Transport for Sink {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            let out = self.buffers.output()[..amount].to_vec();
            self.sent.extend(out);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    #[test]
    fn sent_bytes_are_wiped_from_the_output_buffer() {
        let mut t = Scrubbing(Sink {
            buffers: LazyBuffers::new(64, 64),
            sent: Vec::new(),
        });
        let req = b"GET /check_password?pass=hunter2 HTTP/1.1\r\n";
        t.buffers().output()[..req.len()].copy_from_slice(req);
        t.transmit_output(req.len(), NextTimeout::default())
            .unwrap();
        assert_eq!(t.0.sent, req, "sent unchanged");
        assert!(t.buffers().output().iter().all(|&b| b == 0));
    }

    #[test]
    fn secret_buf_holds_and_debug_hides() {
        let mut b = SecretBuf::with_capacity(8);
        b.push(b"pass");
        b.push(b"word");
        assert_eq!(b.as_bytes(), b"password");
        assert_eq!(format!("{b:?}"), "SecretBuf(8 bytes)");
    }
}
