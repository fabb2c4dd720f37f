//! Helpers shared by the modules: panic guard, C strings, fixed buffers, numbers.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `on_panic`: no unwinding crosses into C.
pub fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The bytes of a C string, `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

/// A C string as (lossy) UTF-8, `None` for NULL.
///
/// # Safety
/// As [`c_bytes`].
pub unsafe fn c_string(p: *const c_char) -> Option<String> {
    // SAFETY: forwarded contract.
    unsafe { c_bytes(p) }.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// `src` up to its first NUL.
pub fn until_nul(src: &[u8]) -> &[u8] {
    src.split(|&b| b == 0).next().unwrap_or_default()
}

/// Copies `src` (up to its first NUL) into the caller's `n`-byte buffer at `dst`,
/// truncated to `n - 1` bytes and NUL-terminated, as `strncpy` + `dst[n-1] = 0` does in
/// MiniUPnPc. Nothing is written when `dst` is NULL or `n` is 0.
///
/// # Safety
/// `dst` is NULL or writable for `n` bytes.
pub unsafe fn put(dst: *mut c_char, n: usize, src: &[u8]) {
    if dst.is_null() || n == 0 {
        return;
    }
    let src = until_nul(src);
    let k = src.len().min(n - 1);
    // SAFETY: `dst` is writable for n > k bytes; `src` is readable for k bytes; Rust
    // slices never overlap a caller's buffer we only write.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr().cast::<c_char>(), dst, k);
        dst.add(k).write(0);
    }
}

/// [`put`] into a fixed array of a struct.
pub fn put_array<const N: usize>(dst: &mut [c_char; N], src: &[u8]) {
    let src = until_nul(src);
    let k = src.len().min(N.saturating_sub(1));
    for (d, s) in dst.iter_mut().zip(src.iter().take(k)) {
        *d = *s as c_char;
    }
    if let Some(z) = dst.get_mut(k) {
        *z = 0;
    }
}

/// The bytes of a fixed array up to its first NUL.
pub fn array_bytes<const N: usize>(a: &[c_char; N]) -> Vec<u8> {
    a.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect()
}

/// A `malloc`ed, NUL-terminated copy of `bytes` (the caller frees it), or NULL.
pub fn malloc_copy(bytes: &[u8]) -> *mut c_char {
    // SAFETY: malloc with a non-zero size; the result is checked for NULL.
    let p = unsafe { libc::malloc(bytes.len() + 1) }.cast::<c_char>();
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of len + 1 bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), p, bytes.len());
            p.add(bytes.len()).write(0);
        }
    }
    p
}

/// Parses a leading unsigned decimal number like `strtoul(s, NULL, 10)` (leading
/// blanks skipped, stops at the first non-digit, saturates).
pub fn atou(s: &[u8]) -> u64 {
    let s = until_nul(s);
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let digits = s.get(start..).unwrap_or_default();
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
}

/// Parses a leading signed decimal number like `sscanf("%d")`; `None` without digits.
pub fn atoi(s: &[u8]) -> Option<i32> {
    let s = until_nul(s);
    let start = s.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = s.get(start..)?;
    let (neg, digits) = match rest.first() {
        Some(b'-') => (true, rest.get(1..)?),
        Some(b'+') => (false, rest.get(1..)?),
        _ => (false, rest),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = digits.get(..n)?.iter().fold(0i64, |acc, &b| {
        (acc * 10 + i64::from(b - b'0')).min(1 << 32)
    });
    let v = if neg { -v } else { v };
    Some(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}
