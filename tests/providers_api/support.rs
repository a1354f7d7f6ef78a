//! Helpers shared by the provider API tests.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart::providers::{HttpOptions, PollPolicy, RetryPolicy};
use wiremock::ResponseTemplate;

/// A fixture file's JSON, from `tests/fixtures/providers/<rel>`.
pub fn fixture(rel: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/providers")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

/// A 200 answer with a fixture as JSON body.
pub fn json_fixture(rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture(rel))
}

/// An answer with a status and a fixture as JSON body.
pub fn status_fixture(status: u16, rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture(rel))
}

/// Short timeouts and waits, so tests of the bounded loops stay fast.
pub fn fast_http() -> HttpOptions {
    HttpOptions {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_retries: 2,
            max_wait: Duration::from_secs(3),
            fallback_wait: Duration::from_millis(10),
        },
        poll: PollPolicy {
            interval: Duration::from_millis(10),
            timeout: Duration::from_secs(3),
        },
    }
}

/// Lookup function over fixed pairs, standing in for the environment.
pub fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Collects everything `tracing` writes while the returned guard lives on
/// this thread, to check that no credential is ever logged.
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    pub fn start() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = SharedWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        CapturedLogs {
            buffer,
            _guard: guard,
        }
    }

    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[derive(Clone)]
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
