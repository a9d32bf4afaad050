//! The blocking HTTP client of the STAC module and the WMTS basemap (reqwest): JSON GET and POST with a short
//! connect timeout (an unreachable API fails within seconds), retries of transient failures
//! (connection resets, 429, 502–504) with a growing pause, and errors that name the URL and
//! the HTTP status.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::StacError;

/// Seconds to wait for a TCP connection.
pub const CONNECT_TIMEOUT_S: u64 = 5;
/// Seconds for a whole request.
pub const REQUEST_TIMEOUT_S: u64 = 60;
/// Attempts for a transient failure (the first included).
const ATTEMPTS: usize = 3;

/// Percent-encode `s` for a URL query value (everything but `A-Z a-z 0-9 - _ . ~`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client for one search or item load.
pub struct Http {
    client: reqwest::blocking::Client,
}

impl Http {
    pub fn new() -> Result<Http, StacError> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_S))
            .timeout(Duration::from_secs(REQUEST_TIMEOUT_S))
            .user_agent(concat!("kestrel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StacError::Connect {
                url: String::new(),
                detail: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Http { client })
    }

    /// GET `url` and parse its JSON as `T` (`what` names the document in errors).
    pub fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        what: &'static str,
    ) -> Result<T, StacError> {
        let bytes = self.send(url, || self.client.get(url))?;
        parse(url, what, &bytes)
    }

    /// GET `url` as bytes (`what` names the document in errors), refusing answers longer
    /// than `max_bytes`.
    pub fn get_bytes(
        &self,
        url: &str,
        what: &'static str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, StacError> {
        let bytes = self.send(url, || self.client.get(url))?;
        if bytes.len() > max_bytes {
            return Err(StacError::BadContent {
                url: url.to_string(),
                what,
                detail: format!("{} bytes, more than the {max_bytes} expected", bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// POST `body` as JSON to `url` and parse the answer as `T`.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
        what: &'static str,
    ) -> Result<T, StacError> {
        let payload = serde_json::to_vec(body)
            .map_err(|e| StacError::InvalidSearch(format!("cannot encode the request: {e}")))?;
        let bytes = self.send(url, || {
            self.client
                .post(url)
                .header("content-type", "application/json")
                .body(payload.clone())
        })?;
        parse(url, what, &bytes)
    }

    /// The HTTP status of a GET of the first byte of `url` (`None` when it cannot connect):
    /// used to explain why GDAL could not open an asset.
    pub fn probe_status(&self, url: &str) -> Result<u16, StacError> {
        let resp = self
            .client
            .get(url)
            .header("range", "bytes=0-0")
            .send()
            .map_err(|e| transport_error(url, &e))?;
        Ok(resp.status().as_u16())
    }

    fn send(
        &self,
        url: &str,
        request: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<Vec<u8>, StacError> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(300 * (1 << attempt)));
            }
            let err = match request().send() {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes() {
                        Ok(body) if status.is_success() => return Ok(body.to_vec()),
                        Ok(body) => {
                            let e = StacError::Status {
                                url: url.to_string(),
                                status: status.as_u16(),
                                body: short_body(&body),
                            };
                            if !matches!(status.as_u16(), 429 | 502..=504) {
                                return Err(e);
                            }
                            e
                        }
                        Err(e) => StacError::Transfer {
                            url: url.to_string(),
                            detail: e.to_string(),
                        },
                    }
                }
                Err(e) => {
                    let e = transport_error(url, &e);
                    if matches!(e, StacError::Connect { .. }) {
                        // nothing listens there: retrying will not help
                        return Err(e);
                    }
                    e
                }
            };
            log::debug!("{url}: attempt {} failed: {err}", attempt + 1);
            last = Some(err);
        }
        Err(last.unwrap_or_else(|| StacError::Transfer {
            url: url.to_string(),
            detail: "no attempt".into(),
        }))
    }
}

fn transport_error(url: &str, e: &reqwest::Error) -> StacError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = format!("{detail}: {s}");
        src = s.source();
    }
    if e.is_timeout() {
        StacError::Timeout {
            url: url.to_string(),
            secs: REQUEST_TIMEOUT_S,
        }
    } else if e.is_connect() {
        StacError::Connect {
            url: url.to_string(),
            detail,
        }
    } else {
        StacError::Transfer {
            url: url.to_string(),
            detail,
        }
    }
}

/// The first line of an error body, shortened (servers answer HTML or JSON).
fn short_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

fn parse<T: DeserializeOwned>(url: &str, what: &'static str, bytes: &[u8]) -> Result<T, StacError> {
    serde_json::from_slice(bytes).map_err(|e| StacError::NotStac {
        url: url.to_string(),
        what,
        detail: e.to_string(),
    })
}
