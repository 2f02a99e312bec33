//! Zeroising buffers that held password-derived material.
//!
//! Plain `fill(0)` before a buffer dies is a dead store the optimiser may delete; a volatile
//! write per element followed by a compiler fence is not. This is what the `zeroize` crate
//! does; a dozen lines here avoid a dependency for it.

use core::sync::atomic::{Ordering, compiler_fence};

/// Overwrites `buf` with zeros in a way the compiler keeps, a 64-bit word at a time where
/// aligned (the HTTP backend wipes a few hundred bytes per request).
pub(crate) fn wipe_bytes(buf: &mut [u8]) {
    // SAFETY: any bit pattern is a valid u64; align_to_mut only splits the slice.
    let (head, words, tail) = unsafe { buf.align_to_mut::<u64>() };
    wipe_words(head);
    wipe_words(words);
    wipe_words(tail);
}

/// Overwrites every element of `words` with its default (zero) value, volatilely.
pub(crate) fn wipe_words<T: Copy + Default>(words: &mut [T]) {
    for w in words.iter_mut() {
        // SAFETY: `w` comes from a `&mut [T]`: valid, aligned and exclusive.
        unsafe { core::ptr::write_volatile(w, T::default()) };
    }
    compiler_fence(Ordering::SeqCst);
}

/// Overwrites the stack below the caller (the frames a finished computation used) with
/// zeros, like libsodium's `sodium_stackzero`. 16 KiB covers SHA-crypt's deepest frames
/// (measured leftovers of the password were within a few KiB); the cost is ~1 µs, against
/// ~1 ms for one verification.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut area = [0u64; 2048];
    wipe_words(&mut area);
    core::hint::black_box(&area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipes_everything() {
        let mut b = [0xAAu8; 37];
        wipe_bytes(&mut b);
        assert!(b.iter().all(|&x| x == 0));
        // Unaligned start and end around aligned words.
        let mut v = [0x55u8; 100];
        wipe_bytes(&mut v[3..91]);
        assert!(v[3..91].iter().all(|&x| x == 0));
        assert!(v[..3].iter().chain(&v[91..]).all(|&x| x == 0x55));
        let mut w = [u64::MAX; 8];
        wipe_words(&mut w);
        assert_eq!(w, [0; 8]);
    }
}
