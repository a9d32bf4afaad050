//! Item search against a STAC API ([`search`]): the landing page's conformance classes say
//! what the server filters; the search goes as a POST (servers such as `rustac serve` answer
//! 500 to a GET with list parameters), every `next` page is followed, and each filter is
//! applied again on the client — the cloud cover always (Earth Search has no CQL2 filter on
//! it, and a server may advertise a query extension it then ignores), bbox and datetime as a
//! check that the server did not ignore them — and the items are sorted by date on the
//! client (many servers ignore `sortby`). Dates go out as RFC 3339; a date-only end is the
//! whole day.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::StacError;
use super::http::Http;
use crate::jobs::CancelToken;

/// Most items a search collects before it stops following pages.
pub const MAX_ITEMS: usize = 5000;
/// Items asked per page.
const PAGE_SIZE: u64 = 100;

/// What to search for.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// The API's landing page (`https://earth-search.aws.element84.com/v1`).
    pub api: String,
    pub collections: Vec<String>,
    /// West, south, east, north in degrees.
    pub bbox: Option<[f64; 4]>,
    /// `START/END`, either side a date, an RFC 3339 time or `..`; or one date or time.
    pub datetime: Option<String>,
    /// Largest `eo:cloud_cover` kept (percent).
    pub max_cloud: Option<f64>,
    /// Most items returned (the earliest, after sorting by date).
    pub limit: Option<usize>,
    /// Items asked per page (default 100).
    pub page_size: Option<u64>,
}

/// A time interval, either end open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl Interval {
    /// The interval as the STAC API wants it (RFC 3339, `..` for an open end).
    pub fn to_api(&self) -> String {
        let f = |t: &Option<DateTime<Utc>>| {
            t.map_or("..".to_string(), |t| {
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            })
        };
        if self.start.is_some() && self.start == self.end {
            return f(&self.start);
        }
        format!("{}/{}", f(&self.start), f(&self.end))
    }

    fn contains_span(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| to >= s) && self.end.is_none_or(|e| from <= e)
    }
}

fn parse_instant(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, StacError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let t = if end_of_day {
            d.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        if let Some(t) = t {
            return Ok(t.and_utc());
        }
    }
    Err(StacError::InvalidSearch(format!(
        "{text:?} is neither a date (2023-08-23) nor an RFC 3339 time (2023-08-23T10:00:00Z)"
    )))
}

/// Parse `START/END` (or one date or time; a date alone is the whole day). A date-only END
/// is inclusive: it ends at 23:59:59.999 UTC that day.
pub fn parse_interval(text: &str) -> Result<Interval, StacError> {
    let text = text.trim();
    let open = |s: &str| s.is_empty() || s == "..";
    let iv = match text.split_once('/') {
        Some((a, b)) => Interval {
            start: if open(a) {
                None
            } else {
                Some(parse_instant(a, false)?)
            },
            end: if open(b) {
                None
            } else {
                Some(parse_instant(b, true)?)
            },
        },
        None => Interval {
            start: Some(parse_instant(text, false)?),
            end: Some(parse_instant(text, true)?),
        },
    };
    if let (Some(s), Some(e)) = (iv.start, iv.end)
        && e < s
    {
        return Err(StacError::InvalidSearch(format!(
            "datetime {text:?}: the end is before the start"
        )));
    }
    Ok(iv)
}

/// Parse `W,S,E,N` in degrees.
pub fn parse_bbox(text: &str) -> Result<[f64; 4], StacError> {
    let v: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            StacError::InvalidSearch(format!("bbox {text:?}: not four numbers W,S,E,N"))
        })?;
    let [w, s, e, n] = v[..] else {
        return Err(StacError::InvalidSearch(format!(
            "bbox {text:?}: {} numbers, expected four (W,S,E,N)",
            v.len()
        )));
    };
    if !(-180.0..=180.0).contains(&w) || !(-180.0..=180.0).contains(&e) {
        return Err(StacError::InvalidSearch(format!(
            "bbox {text:?}: longitudes must lie in −180…180"
        )));
    }
    if !(-90.0..=90.0).contains(&s) || !(-90.0..=90.0).contains(&n) || s > n {
        return Err(StacError::InvalidSearch(format!(
            "bbox {text:?}: latitudes must lie in −90…90 with south ≤ north"
        )));
    }
    Ok([w, s, e, n])
}

/// One item found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub collection: Option<String>,
    /// RFC 3339.
    pub datetime: Option<String>,
    pub cloud_cover: Option<f64>,
    pub mgrs_tile: Option<String>,
    pub processing_baseline: Option<String>,
    pub bbox: Option<[f64; 4]>,
    /// The item's GeoJSON geometry.
    pub footprint: Option<Value>,
    /// The item's own URL (its `self` link, else built from the API's items endpoint).
    pub href: Option<String>,
    pub thumbnail: Option<String>,
}

/// What a search found and how.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    /// Pages fetched.
    pub pages: usize,
    /// Items the server returned (all pages).
    pub returned: usize,
    /// What was done on the client, and filters the server ignored.
    pub notes: Vec<String>,
}

/// Conformance classes that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capabilities {
    pub item_search: bool,
    pub query: bool,
    pub sort: bool,
}

impl Capabilities {
    pub fn from_classes(classes: &[String]) -> Capabilities {
        let has = |frag: &str| classes.iter().any(|c| c.contains(frag));
        Capabilities {
            item_search: has("/item-search"),
            query: has("item-search#query"),
            sort: has("item-search#sort"),
        }
    }
}

/// The search endpoint (the landing page's `search` link accepting POST, else `/search`)
/// and the capabilities, from the landing page (and `/conformance` when it lists none).
fn discover(http: &Http, api: &str) -> Result<(String, Capabilities), StacError> {
    let root: Value = http.get_json(api, "API landing page")?;
    let links = root.get("links").and_then(Value::as_array);
    let search_link = links
        .into_iter()
        .flatten()
        .filter(|l| l.get("rel").and_then(Value::as_str) == Some("search"))
        .filter(|l| {
            l.get("method")
                .and_then(Value::as_str)
                .is_none_or(|m| m.eq_ignore_ascii_case("POST"))
        })
        .find_map(|l| l.get("href").and_then(Value::as_str).map(str::to_string));
    let search_url = search_link.unwrap_or_else(|| format!("{}/search", api.trim_end_matches('/')));
    let mut classes: Vec<String> = root
        .get("conformsTo")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if classes.is_empty() {
        let url = format!("{}/conformance", api.trim_end_matches('/'));
        if let Ok(c) = http.get_json::<stac::api::Conformance>(&url, "conformance") {
            classes = c.conforms_to;
        }
    }
    if root.get("type").and_then(Value::as_str) != Some("Catalog") && classes.is_empty() {
        return Err(StacError::NotStac {
            url: api.to_string(),
            what: "API landing page",
            detail: "no conformance classes and not a Catalog".into(),
        });
    }
    Ok((search_url, Capabilities::from_classes(&classes)))
}

fn prop<'a>(props: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    props.get(key).filter(|v| !v.is_null())
}

/// The MGRS tile from `s2:mgrs_tile`, the `mgrs:` extension, or `s2:tile_id`/the id.
pub fn mgrs_tile(item: &stac::Item) -> Option<String> {
    let p = &item.properties.additional_fields;
    if let Some(t) = prop(p, "s2:mgrs_tile").and_then(Value::as_str) {
        return Some(t.trim_start_matches('T').to_string());
    }
    let zone = prop(p, "mgrs:utm_zone").and_then(Value::as_u64);
    let band = prop(p, "mgrs:latitude_band").and_then(Value::as_str);
    let square = prop(p, "mgrs:grid_square").and_then(Value::as_str);
    if let (Some(z), Some(b), Some(s)) = (zone, band, square) {
        return Some(format!("{z:02}{b}{s}"));
    }
    crate::raster::safe::product_identity(&item.id).1
}

/// `s2:processing_baseline` (`05.09`).
pub fn processing_baseline(item: &stac::Item) -> Option<String> {
    let p = &item.properties.additional_fields;
    match prop(p, "s2:processing_baseline")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(|v| format!("{v:05.2}")),
        _ => None,
    }
}

pub fn cloud_cover(item: &stac::Item) -> Option<f64> {
    prop(&item.properties.additional_fields, "eo:cloud_cover").and_then(Value::as_f64)
}

/// The item's self link (absolute), if any.
pub fn self_href(item: &stac::Item) -> Option<String> {
    item.links
        .iter()
        .find(|l| l.rel == "self")
        .map(|l| l.href.clone())
        .filter(|h| h.starts_with("http://") || h.starts_with("https://"))
}

/// The item's time span: `datetime`, else `start_datetime`..`end_datetime`.
fn item_span(item: &stac::Item) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let p = &item.properties;
    match (p.datetime, p.start_datetime, p.end_datetime) {
        (Some(t), _, _) => Some((t, t)),
        (None, Some(a), Some(b)) => Some((a, b)),
        _ => None,
    }
}

/// The item's bbox, or the bounds of its geometry's coordinates.
fn item_bbox(item: &stac::Item) -> Option<[f64; 4]> {
    if let Some(b) = &item.bbox {
        let v: Vec<f64> = (*b).into();
        return match v[..] {
            [w, s, e, n] => Some([w, s, e, n]),
            [w, s, _, e, n, _] => Some([w, s, e, n]),
            _ => None,
        };
    }
    let g = serde_json::to_value(item.geometry.as_ref()?).ok()?;
    let mut acc = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    fn walk(v: &Value, acc: &mut [f64; 4]) {
        if let Some(a) = v.as_array() {
            if let [Value::Number(x), Value::Number(y), ..] = &a[..] {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                acc[0] = acc[0].min(x);
                acc[1] = acc[1].min(y);
                acc[2] = acc[2].max(x);
                acc[3] = acc[3].max(y);
            } else {
                a.iter().for_each(|c| walk(c, acc));
            }
        }
    }
    walk(g.get("coordinates")?, &mut acc);
    acc.iter().all(|v| v.is_finite()).then_some(acc)
}

fn bbox_overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

/// A hit from an item (`items_url`: the API's items endpoint of the collection, to build
/// an href when the item has no self link).
pub fn hit(item: &stac::Item, api: &str) -> Hit {
    let href = self_href(item).or_else(|| {
        item.collection.as_ref().map(|c| {
            format!(
                "{}/collections/{c}/items/{}",
                api.trim_end_matches('/'),
                item.id
            )
        })
    });
    Hit {
        id: item.id.clone(),
        collection: item.collection.clone(),
        datetime: item
            .properties
            .datetime
            .or(item.properties.start_datetime)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        cloud_cover: cloud_cover(item),
        mgrs_tile: mgrs_tile(item),
        processing_baseline: processing_baseline(item),
        bbox: item_bbox(item),
        footprint: item
            .geometry
            .as_ref()
            .and_then(|g| serde_json::to_value(g).ok()),
        href,
        thumbnail: thumbnail_href(item),
    }
}

/// The item's small preview image: the `thumbnail` asset (Earth Search), else an asset
/// with the `thumbnail` or `overview` role in PNG or JPEG, else Planetary Computer's
/// `rendered_preview`.
pub fn thumbnail_href(item: &stac::Item) -> Option<String> {
    if let Some(a) = item.assets.get("thumbnail") {
        return Some(a.href.clone());
    }
    let is_picture = |a: &stac::Asset| {
        a.r#type.as_deref().is_none_or(|t| {
            let t = t.to_ascii_lowercase();
            t.starts_with("image/png") || t.starts_with("image/jpeg") || t.starts_with("image/jpg")
        })
    };
    let mut keys: Vec<&String> = item.assets.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| &item.assets[*k])
        .find(|a| a.roles.iter().any(|r| r == "thumbnail" || r == "overview") && is_picture(a))
        .or_else(|| item.assets.get("rendered_preview"))
        .map(|a| a.href.clone())
}

/// The outer rings of a GeoJSON Polygon or MultiPolygon footprint, as `[lon, lat]` points
/// (empty for other geometries or malformed coordinates).
pub fn footprint_rings(geometry: &Value) -> Vec<Vec<[f64; 2]>> {
    let ring = |r: &Value| -> Option<Vec<[f64; 2]>> {
        r.as_array()?
            .iter()
            .map(|p| {
                let p = p.as_array()?;
                Some([p.first()?.as_f64()?, p.get(1)?.as_f64()?])
            })
            .collect()
    };
    let outer = |poly: &Value| {
        poly.as_array()
            .and_then(|rings| rings.first())
            .and_then(ring)
    };
    let coords = geometry.get("coordinates");
    match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => coords.and_then(outer).into_iter().collect(),
        Some("MultiPolygon") => coords
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(outer)
            .collect(),
        _ => Vec::new(),
    }
}

/// Why the client drops an item the server returned, if it does.
fn client_reject(
    item: &stac::Item,
    p: &SearchParams,
    iv: Option<&Interval>,
) -> Option<&'static str> {
    if !p.collections.is_empty()
        && !item
            .collection
            .as_ref()
            .is_some_and(|c| p.collections.contains(c))
    {
        return Some("collections");
    }
    if let Some(b) = &p.bbox
        && !item_bbox(item).is_some_and(|ib| bbox_overlaps(b, &ib))
    {
        return Some("bbox");
    }
    if let Some(iv) = iv
        && !item_span(item).is_some_and(|(a, b)| iv.contains_span(a, b))
    {
        return Some("datetime");
    }
    if let Some(max) = p.max_cloud
        && !cloud_cover(item).is_some_and(|c| c <= max)
    {
        return Some("cloud");
    }
    None
}

/// Search (see the module docs). Blocking; `cancel` is checked between pages.
pub fn search(p: &SearchParams, cancel: &CancelToken) -> Result<SearchOutcome, StacError> {
    if !(p.api.starts_with("http://") || p.api.starts_with("https://")) {
        return Err(StacError::InvalidSearch(format!(
            "--api {:?}: give the API's http(s) URL",
            p.api
        )));
    }
    if let Some(c) = p.max_cloud
        && !(0.0..=100.0).contains(&c)
    {
        return Err(StacError::InvalidSearch(format!(
            "max cloud {c}: a percentage 0–100"
        )));
    }
    let iv = p.datetime.as_deref().map(parse_interval).transpose()?;
    let http = Http::new()?;
    let (search_url, caps) = discover(&http, &p.api)?;
    let mut notes = Vec::new();
    if !caps.item_search {
        notes.push("the API does not declare item search; trying /search anyway".into());
    }

    let mut body = stac::api::Search::new();
    if !p.collections.is_empty() {
        body = body.collections(p.collections.clone());
    }
    if let Some(b) = p.bbox {
        let bbox = stac::Bbox::new(b[0], b[1], b[2], b[3]);
        body = body.bbox(bbox);
    }
    if let Some(iv) = &iv {
        body = body.datetime(iv.to_api());
    }
    body = body.limit(p.page_size.unwrap_or(PAGE_SIZE).max(1));
    if caps.sort {
        body = body.sortby(vec![stac::api::Sortby::asc("properties.datetime")]);
    } else {
        notes.push("the API does not sort (no sort conformance): sorted by date here".into());
    }
    let mut server_cloud = false;
    if let Some(max) = p.max_cloud {
        if caps.query {
            let mut q = Map::new();
            q.insert("eo:cloud_cover".into(), serde_json::json!({ "lte": max }));
            body.items.query = Some(q);
            server_cloud = true;
        } else {
            notes.push(format!(
                "the API has no query extension: cloud cover ≤ {max} % filtered here"
            ));
        }
    }

    let mut out = run_pages(&http, &search_url, &body, p, iv.as_ref(), cancel)?;
    if server_cloud && out.returned == 0 {
        // A server that declares the query extension and then returns nothing for it
        // (rustac serve 0.9): ask again without it and filter here.
        body.items.query = None;
        let again = run_pages(&http, &search_url, &body, p, iv.as_ref(), cancel)?;
        if again.returned > 0 {
            notes.push(
                "the API returned no item with the cloud query but some without: cloud cover \
                 filtered here"
                    .into(),
            );
            out = again;
        }
    }
    notes.append(&mut out.notes);
    out.notes = notes;
    out.hits
        .sort_by(|a, b| a.datetime.cmp(&b.datetime).then(a.id.cmp(&b.id)));
    if let Some(n) = p.limit {
        out.hits.truncate(n);
    }
    Ok(out)
}

fn run_pages(
    http: &Http,
    search_url: &str,
    body: &stac::api::Search,
    p: &SearchParams,
    iv: Option<&Interval>,
    cancel: &CancelToken,
) -> Result<SearchOutcome, StacError> {
    let mut out = SearchOutcome::default();
    let mut rejected: Vec<(&'static str, usize)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut visited = std::collections::HashSet::new();
    let mut unparsable = 0usize;
    let mut next: Option<(String, Option<Value>)> = Some((
        search_url.to_string(),
        Some(serde_json::to_value(body).map_err(|e| StacError::InvalidSearch(e.to_string()))?),
    ));
    while let Some((url, post)) = next.take() {
        cancel.check()?;
        let key = format!(
            "{url} {}",
            post.as_ref().map(Value::to_string).unwrap_or_default()
        );
        if !visited.insert(key) {
            out.notes
                .push("the API's next link repeats a page: stopped there".into());
            break;
        }
        let page: stac::api::ItemCollection = match &post {
            Some(b) => http.post_json(&url, b, "item search result")?,
            None => http.get_json(&url, "item search result")?,
        };
        out.pages += 1;
        let n = page.items.len();
        out.returned += n;
        for raw in page.items {
            let item: stac::Item = match serde_json::from_value(Value::Object(raw)) {
                Ok(i) => i,
                Err(e) => {
                    unparsable += 1;
                    log::debug!("{url}: an item is not a STAC item: {e}");
                    continue;
                }
            };
            let item = &item;
            if !seen.insert(item.id.clone()) {
                continue;
            }
            match client_reject(item, p, iv) {
                Some(why) => match rejected.iter_mut().find(|(w, _)| *w == why) {
                    Some((_, c)) => *c += 1,
                    None => rejected.push((why, 1)),
                },
                None => out.hits.push(hit(item, &p.api)),
            }
        }
        if n == 0 || out.hits.len() >= MAX_ITEMS {
            if out.hits.len() >= MAX_ITEMS {
                out.notes.push(format!(
                    "stopped after {MAX_ITEMS} items; narrow the area or the dates"
                ));
            }
            break;
        }
        if let Some(link) = page.links.iter().find(|l| l.rel == "next") {
            let is_post = link
                .method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("POST"));
            let post_body = if is_post {
                let mut b = match (link.merge, &post) {
                    (Some(true), Some(prev)) => prev.as_object().cloned().unwrap_or_default(),
                    _ => Map::new(),
                };
                if let Some(lb) = &link.body {
                    b.extend(lb.clone());
                } else if let Some(prev) = &post {
                    b = prev.as_object().cloned().unwrap_or_default();
                }
                Some(Value::Object(b))
            } else {
                None
            };
            next = Some((link.href.clone(), post_body));
        }
    }
    if unparsable > 0 {
        out.notes.push(format!(
            "{unparsable} result(s) are not STAC items: skipped"
        ));
    }
    for (why, count) in rejected {
        let what = match why {
            "cloud" => "cloud cover",
            other => other,
        };
        out.notes.push(format!(
            "{count} item(s) the server returned fail the {what} filter: dropped here"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_rings_of_polygons_and_multipolygons() {
        let poly = serde_json::json!({"type": "Polygon",
            "coordinates": [[[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 2.0]], [[0.0, 0.0]]]});
        assert_eq!(
            footprint_rings(&poly),
            vec![vec![[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 2.0]]]
        );
        let multi = serde_json::json!({"type": "MultiPolygon", "coordinates": [
            [[[179.0, 1.0], [180.0, 1.0], [180.0, 2.0], [179.0, 1.0]]],
            [[[-180.0, 1.0], [-179.0, 1.0], [-179.0, 2.0], [-180.0, 1.0]]]]});
        let rings = footprint_rings(&multi);
        assert_eq!(rings.len(), 2);
        assert_eq!(rings[1][1], [-179.0, 1.0]);
        let bad = serde_json::json!({"type": "Polygon", "coordinates": [[[1.0, "x"]]]});
        assert!(footprint_rings(&bad).is_empty());
        assert!(
            footprint_rings(&serde_json::json!({"type": "Point", "coordinates": [1, 2]}))
                .is_empty()
        );
    }
}
