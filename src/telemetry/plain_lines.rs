//! The human-readable log line without colours, written straight: the same text as
//! tracing-subscriber's default ("full") format with the target off and ANSI off, at a
//! fraction of its cost. That format pads the level through `core::fmt`, wraps every
//! piece in a no-op `nu_ansi_term` style and formats the clock field by field for every
//! line: about a tenth of the instructions of a read by id went to its access-log line.
//! Here the date and time to the second are formatted once per second per thread.
//! Fields (the event's and its spans', already formatted by the span) are written by
//! the subscriber's own field formatter, as before, so their text and escaping do not
//! change.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter for logs that are not a terminal (files, collectors): one line per
/// event, `2026-12-08T02:04:30.261417Z  INFO span{fields}: message fields`.
pub struct PlainLines {
    now: fn() -> SystemTime,
}

impl Default for PlainLines {
    fn default() -> Self {
        Self {
            now: SystemTime::now,
        }
    }
}

impl<S, N> FormatEvent<S, N> for PlainLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, (self.now)())?;
        writer.write_str(level_text(event.metadata().level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The level as the default format writes it: five characters, right-aligned.
fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

thread_local! {
    /// The last second this thread formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `now` in UTC to the microsecond and a space, as tracing-subscriber's `SystemTime` timer
/// writes it (`2026-12-08T02:04:30.261417Z `); `<unknown time> ` before 1970.
fn write_timestamp(writer: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return writer.write_str("<unknown time> ");
    };
    let seconds = since_epoch.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            let whole = i64::try_from(seconds)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
            cached.1.clear();
            match whole {
                Some(time) => write!(cached.1, "{}", time.format("%Y-%m-%dT%H:%M:%S"))?,
                None => cached.1.push_str("<unknown time>"),
            }
            cached.0 = seconds;
        }
        writer.write_str(&cached.1)
    })?;
    let micros = since_epoch.subsec_micros();
    let mut digits = *b".000000Z ";
    let mut rest = micros;
    for digit in digits[1..7].iter_mut().rev() {
        // rest % 10 < 10: the cast cannot truncate.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    writer.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::fmt::MakeWriter;

    /// Lines written by a subscriber, kept for the test to read.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
        }
    }

    /// Events of every level, with and without spans, fields that need escaping and
    /// fields given by `Display`, `Debug` and as plain values.
    fn log_a_bit() {
        tracing::info!("service started");
        tracing::warn!(attempt = 3, reason = "timeout", "delivery failed");
        let request = tracing::info_span!(
            "request",
            method = %"GET",
            uri = %"/api/v1/orders/1",
            request_id = %"4113eb6f-a485-401b-82b6-c664f386a7d6"
        );
        let _entered = request.enter();
        tracing::info!(latency = %format_args!("{} μs", 442), status = 200, "finished processing request");
        let inner = tracing::error_span!("inner", note = ?"quoted \"text\"\n\u{1b}[31m");
        let _inner = inner.enter();
        tracing::error!(error = ?std::io::Error::other("disk full"), "write failed");
        tracing::debug!("debug line");
        tracing::trace!(value = 1.5, "trace line");
        let empty = tracing::info_span!("empty");
        let _empty = empty.enter();
        tracing::info!(text = "escape\u{1b}[0m me", "with an escape sequence");
    }

    /// Each line without its timestamp (up to the first space).
    fn without_timestamps(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| line.split_once(' ').expect("a timestamp").1.to_owned())
            .collect()
    }

    /// What `log_a_bit` writes as the service sets the subscriber up off a terminal, with
    /// `PlainLines` or with the default format.
    fn logged(plain: bool) -> String {
        let lines = Lines::default();
        let builder = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .with_target(false)
            .with_writer(lines.clone());
        if plain {
            let subscriber = builder.event_format(PlainLines::default()).finish();
            tracing::subscriber::with_default(subscriber, log_a_bit);
        } else {
            tracing::subscriber::with_default(builder.finish(), log_a_bit);
        }
        lines.text()
    }

    #[test]
    fn lines_are_the_default_formats_without_colours_or_target() {
        let (ours, default) = (logged(true), logged(false));
        assert_eq!(ours.lines().count(), 7, "{ours}");
        assert_eq!(without_timestamps(&ours), without_timestamps(&default));
        for (a, b) in ours.lines().zip(default.lines()) {
            let (ours, default) = (a.split_once(' ').unwrap().0, b.split_once(' ').unwrap().0);
            assert_eq!(ours.len(), default.len(), "{ours} against {default}");
            assert_eq!(ours.as_bytes()[10], b'T');
            assert!(ours.ends_with('Z'));
        }
    }

    fn timestamp(at: SystemTime) -> String {
        let mut text = String::new();
        write_timestamp(&mut Writer::new(&mut text), at).expect("written");
        text
    }

    #[test]
    fn timestamps_are_utc_to_the_microsecond() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000000Z "),
            (1_796_696_670, 261_417_000, "2026-12-08T02:24:30.261417Z "),
            (1_796_696_670, 999_999_999, "2026-12-08T02:24:30.999999Z "),
            (1_796_696_671, 7_000, "2026-12-08T02:24:31.000007Z "),
            (951_782_400, 500_000, "2000-02-29T00:00:00.000500Z "),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000000Z "),
        ];
        for (seconds, nanos, text) in cases {
            let at = UNIX_EPOCH + Duration::new(seconds, nanos);
            assert_eq!(timestamp(at), text);
            // and again, from the second kept by the thread
            assert_eq!(timestamp(at), text);
        }
        assert_eq!(
            timestamp(UNIX_EPOCH - Duration::from_secs(1)),
            "<unknown time> "
        );
    }

    #[test]
    fn timestamps_agree_with_chrono_across_seconds() {
        let start = UNIX_EPOCH + Duration::new(1_796_696_670, 0);
        for step in 0..5_000u64 {
            let at = start + Duration::from_micros(step * 997);
            let expected = chrono::DateTime::<chrono::Utc>::from(at)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(timestamp(at), format!("{expected} "));
        }
    }
}
