//! The JSON line format, written directly.
//!
//! The same lines as `tracing_subscriber`'s JSON format with `flatten_event(true)`,
//! `with_current_span(true)` and `with_span_list(false)`:
//!
//! ```text
//! {"timestamp":"2026-11-25T22:14:23.648719Z","level":"INFO","message":"request","method":"GET",...,"target":"authd::http","span":{"request_id":"65d2...","name":"request"}}
//! ```
//!
//! but cheaper: that format keeps a span's fields as a JSON text and parses it back into a
//! `serde_json::Value` for every line, and builds each line through a map serializer; at one
//! access line per request that was a fifth of a request's CPU. Here a span keeps its fields as
//! a ready JSON fragment (`"request_id":"..."`) that every line copies, and values are escaped
//! by `serde_json` itself, so strings and numbers print exactly as before. (One difference: the
//! old format printed a span's fields sorted by name, this one in the order they were recorded;
//! authd's spans have one field.)

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format (see the module).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

/// A span's fields as a JSON object's members, without the braces.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonMembers;

impl<'w> FormatFields<'w> for JsonMembers {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = Members::new(writer);
        fields.record(&mut v);
        v.result
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut v = Members::new(current.as_writer());
        v.first = first;
        fields.record(&mut v);
        v.result
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut v = Members::new(writer.by_ref());
        v.first = false;
        event.record(&mut v);
        v.result?;
        writer.write_str(",\"target\":")?;
        json_str(&mut writer, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":{")?;
            let ext = span.extensions();
            if let Some(fields) = ext.get::<FormattedFields<N>>()
                && !fields.fields.is_empty()
            {
                writer.write_str(&fields.fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            json_str(&mut writer, span.metadata().name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

/// Writes `"name":value` members, comma-separated.
struct Members<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl<'w> Members<'w> {
    fn new(writer: Writer<'w>) -> Self {
        Self {
            writer,
            first: true,
            result: Ok(()),
        }
    }

    fn member(&mut self, name: &str, value: impl FnOnce(&mut Writer<'w>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(',')?;
            }
            self.first = false;
            json_str(&mut self.writer, name)?;
            self.writer.write_char(':')?;
            value(&mut self.writer)
        })();
    }
}

impl Visit for Members<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field.name(), |w| json_value(w, &value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field.name(), |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field.name(), |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field.name(), |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field.name(), |w| json_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field.name(), |w| json_value(w, &format_args!("{value:?}")));
    }
}

fn json_str(w: &mut Writer<'_>, s: &str) -> fmt::Result {
    json_value(w, s)
}

/// Any serializable value, as `serde_json` prints it.
fn json_value<T: serde::Serialize + ?Sized>(w: &mut Writer<'_>, value: &T) -> fmt::Result {
    serde_json::to_writer(FmtIo(w), value).map_err(|_| fmt::Error)
}

/// `io::Write` over a `fmt::Write`: serde_json writes whole UTF-8 pieces (it splits strings
/// only at the ASCII characters it escapes).
struct FmtIo<'a, 'w>(&'a mut Writer<'w>);

impl std::io::Write for FmtIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
        self.0.write_str(s).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// RFC 3339 in UTC with microseconds, as `tracing_subscriber`'s `SystemTime` timer prints it:
/// `2026-11-25T22:14:23.648719Z`.
fn write_timestamp(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    write!(
        w,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Lines written by a subscriber, shared with the test.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Lines {
        fn values(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().expect("lock").clone();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
                .collect()
        }
    }

    /// The events every format is compared on: plain and hostile strings, numbers, Debug and
    /// Display values, inside and outside a span.
    fn emit_all() {
        let hostile = "quote \" backslash \\ newline \n tab \t nul \u{0} del \u{7f} é 😀 </script>";
        tracing::info!(
            method = "GET",
            route = "/x/{id}",
            status = 200_u16,
            latency_ms = 0.104,
            "request"
        );
        tracing::warn!(
            count = -3_i64,
            big = u64::MAX,
            ok = true,
            ratio = 1.0_f64,
            nan = f64::NAN,
            "numbers"
        );
        tracing::error!(text = hostile, debug = ?vec!["a\"b"], display = %hostile, "{hostile}");
        let span = tracing::info_span!("request", request_id = "65d23bf59268e2cf00000000");
        let _in = span.enter();
        tracing::info!(realm = "service", reason = "malformed", "credential refused");
        let inner = tracing::info_span!("inner", id = 7_u64, tag = hostile);
        let _in2 = inner.enter();
        tracing::debug!("in two spans");
        inner.record("id", 8_u64);
        tracing::info!("after a record");
    }

    fn reference(lines: &Lines) -> tracing::Dispatch {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(lines.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .into()
    }

    fn ours(lines: &Lines) -> tracing::Dispatch {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(lines.clone())
            .fmt_fields(JsonMembers)
            .event_format(JsonLines)
            .into()
    }

    #[test]
    fn lines_equal_tracing_subscribers_json_format() {
        let (theirs, mine) = (Lines::default(), Lines::default());
        tracing::dispatcher::with_default(&reference(&theirs), emit_all);
        tracing::dispatcher::with_default(&ours(&mine), emit_all);
        let (mut theirs, mut mine) = (theirs.values(), mine.values());
        assert_eq!(theirs.len(), 6);
        assert_eq!(mine.len(), theirs.len());
        for (t, m) in theirs.iter_mut().zip(mine.iter_mut()) {
            // Timestamps differ by the time between the two runs: same shape, then compared
            // without them.
            for v in [&mut *t, &mut *m] {
                let ts = v["timestamp"].take();
                let ts = ts.as_str().expect("a string");
                assert_eq!(ts.len(), 27, "{ts}");
                assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
            }
            assert_eq!(m, t);
        }
        // The span's fields, including one recorded later, and the innermost span only.
        assert_eq!(mine[3]["span"]["request_id"], "65d23bf59268e2cf00000000");
        assert_eq!(mine[4]["span"]["name"], "inner");
        assert_eq!(mine[5]["span"]["id"], 8);
    }

    #[test]
    fn members_keep_their_recorded_order() {
        let lines = Lines::default();
        tracing::dispatcher::with_default(&ours(&lines), || {
            tracing::info!(
                method = "GET",
                route = "/r",
                status = 200_u16,
                latency_ms = 0.5,
                "request"
            );
        });
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("UTF-8");
        let keys = [
            "\"timestamp\"",
            "\"level\"",
            "\"message\"",
            "\"method\"",
            "\"route\"",
            "\"status\"",
            "\"latency_ms\"",
            "\"target\"",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} in {text}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1, "{text:?}");
    }

    #[test]
    fn timestamps_match_the_calendar() {
        let at = |secs: u64, micros: u32| {
            let mut s = String::new();
            write_timestamp(&mut s, UNIX_EPOCH + std::time::Duration::new(secs, micros * 1000)).expect("format");
            s
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_795_645_463, 648_719), "2026-11-25T22:24:23.648719Z");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }
}
