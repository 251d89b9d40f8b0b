//! Request ids: every call has one, taken from the caller's `x-request-id` metadata when it is
//! sane (1 to [`MAX_LEN`] visible ASCII characters), generated (a UUID) otherwise, carried by
//! the `rpc` span and returned in the response's `x-request-id` header, so a caller can quote
//! it and an operator can find the call's log lines. tower-http's `SetRequestId` and
//! `PropagateRequestId` do the work; [`drop_insane`] runs first so that an id a caller sent
//! that is too long or contains control characters is replaced instead of logged.

use http::{HeaderName, Request};

/// The metadata key of the request id.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a caller.
pub(crate) const MAX_LEN: usize = 128;

/// Whether `value` may be used as a request id.
fn is_sane(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_LEN && value.iter().all(|b| b.is_ascii_graphic())
}

/// Removes every `x-request-id` of `request` unless there is exactly one and it is sane.
pub(crate) fn drop_insane<B>(mut request: Request<B>) -> Request<B> {
    let mut values = request.headers().get_all(&HEADER).iter();
    let keep = matches!((values.next(), values.next()), (Some(value), None) if is_sane(value.as_bytes()));
    if !keep {
        request.headers_mut().remove(&HEADER);
    }
    request
}

/// The request id of `request` (after [`drop_insane`] and `SetRequestId`, always present).
pub(crate) fn of<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ids(ids: &[&[u8]]) -> Request<()> {
        let mut request = Request::new(());
        for id in ids {
            if let Ok(value) = http::HeaderValue::from_bytes(id) {
                request.headers_mut().append(&HEADER, value);
            }
        }
        request
    }

    #[test]
    fn a_sane_id_is_kept() {
        let request = drop_insane(with_ids(&[b"order-import-7f3a"]));
        assert_eq!(of(&request), "order-import-7f3a");
    }

    #[test]
    fn long_blank_spaced_or_repeated_ids_are_dropped() {
        let long = vec![b'a'; MAX_LEN + 1];
        for ids in [
            vec![long.as_slice()],
            vec![b"".as_slice()],
            vec![b"has space".as_slice()],
            vec![b"tab\tinside".as_slice()],
            vec![b"one".as_slice(), b"two".as_slice()],
        ] {
            let request = drop_insane(with_ids(&ids));
            assert!(request.headers().get(&HEADER).is_none(), "{ids:?} was kept");
        }
    }

    #[test]
    fn an_id_of_the_longest_length_is_kept() {
        let longest = vec![b'z'; MAX_LEN];
        let request = drop_insane(with_ids(&[&longest]));
        assert_eq!(of(&request).len(), MAX_LEN);
    }
}
