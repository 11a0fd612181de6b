//! The pages' cookies: finding one by name in the `Cookie` headers a browser (or anyone)
//! sends, the session id in the session cookie, and the language from the language
//! cookie and `Accept-Language`. Lines of the input are header values: `Cookie` ones,
//! then an `Accept-Language` after a line that is exactly `--`.

#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use fraudhub::web::{LANG_COOKIE, Lang, SESSION_COOKIE, cookie, lang_of, session_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut name = header::COOKIE;
    for line in data.split(|b| *b == b'\n') {
        if line == b"--" {
            name = header::ACCEPT_LANGUAGE;
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(name.clone(), value);
        }
    }
    let sent: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();

    for wanted in [SESSION_COOKIE, LANG_COOKIE] {
        let Some(value) = cookie(&headers, wanted) else {
            continue;
        };
        assert!(!value.contains(';'), "a value spans pairs: {value:?}");
        // It is the value of a pair whose name is exactly the one asked for.
        let pair = format!("{wanted}={value}");
        assert!(
            sent.iter().any(|h| h.split(';').any(|p| p.trim() == pair)),
            "{pair:?} is not a pair that was sent"
        );
        if wanted == SESSION_COOKIE
            && let Some(id) = session_id(value)
        {
            assert_eq!(hex::encode(id), value.to_ascii_lowercase());
        }
    }

    // The language cookie, when valid, wins over the browser's preference.
    let lang = lang_of(&headers);
    if let Some(chosen) = cookie(&headers, LANG_COOKIE).and_then(Lang::parse) {
        assert_eq!(lang, chosen);
    }
});
