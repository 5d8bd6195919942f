//! The human-readable log line without colours, written straight: the same text as
//! tracing-subscriber's default ("full") format with the target off and ANSI off, at a
//! fraction of its cost. That format pads the level through `core::fmt`, wraps every
//! piece in a no-op `nu_ansi_term` style and formats the clock field by field for every
//! line: about a tenth of the instructions of a read by id went to its access-log line.
//! Here the date and time to the second are formatted once per second per thread, and
//! fields (the event's, and each span's when it opens) are written by `PlainFields`: the
//! text of the default field formatter without colours (`name=value`, the message first
//! and without its name, ANSI and C1 control characters in messages and errors escaped
//! the same way), without the no-op styles around every name and `=`.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter for logs that are not a terminal (files, collectors): one line per
/// event, `2026-12-08T02:04:30.261417Z  INFO span{fields}: message fields`.
pub struct PlainLines;

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
        write_timestamp(&mut writer, SystemTime::now())?;
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

/// The field formatter for `PlainLines`: the default field formatter's text (tracing-
/// subscriber's `DefaultFields` with colours off), written straight.
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            sanitize: writer.sanitizes_ansi_escapes(),
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    sanitize: bool,
    is_empty: bool,
    result: fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let sanitize = self.sanitize;
        let top = Escaped(format_args!("{value}"), sanitize);
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{top:?} {}.sources={}",
                    field.name(),
                    SourceList(source, sanitize)
                ),
            ),
            None => self.record_debug(field, &format_args!("{top:?}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Fields carrying a `log` record's metadata, as the default formatter skips them.
        if name.starts_with("log.") {
            return;
        }
        if self.is_empty {
            self.is_empty = false;
        } else if let Err(e) = self.writer.write_char(' ') {
            self.result = Err(e);
            return;
        }
        self.result = match name {
            "message" => {
                let sanitize = self.sanitize;
                write!(self.writer, "{:?}", Escaped(value, sanitize))
            }
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                (self.writer.write_str(name))
                    .and_then(|()| self.writer.write_char('='))
                    .and_then(|()| write!(self.writer, "{value:?}"))
            }
        };
    }
}

/// A value written as `Debug` (for `format_args!`, its text) with the ANSI (ESC, BEL, BS,
/// FF, DEL) and C1 control characters in it escaped when `.1` says so, as the default
/// formatter escapes messages and errors.
struct Escaped<T>(T, bool);

impl<T: fmt::Debug> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(EscapingWriter(f), "{:?}", self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut clean_from = 0;
        for (at, ch) in text.char_indices() {
            let escape = match ch {
                '\x1b' => "\\x1b",
                '\x07' => "\\x07",
                '\x08' => "\\x08",
                '\x0c' => "\\x0c",
                '\x7f' => "\\x7f",
                '\u{80}'..='\u{9f}' => "",
                _ => continue,
            };
            self.0.write_str(&text[clean_from..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{{{:x}}}", ch as u32)?;
            } else {
                self.0.write_str(escape)?;
            }
            clean_from = at + ch.len_utf8();
        }
        self.0.write_str(&text[clean_from..])
    }
}

/// An error's sources as the default formatter lists them: `[first, second]`, each escaped.
struct SourceList<'a>(&'a (dyn std::error::Error + 'static), bool);

impl fmt::Display for SourceList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut current = Some(self.0);
        while let Some(error) = current {
            list.entry(&Escaped(format_args!("{error}"), self.1));
            current = error.source();
        }
        list.finish()
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
        let later = tracing::info_span!("later", first = 1, second = tracing::field::Empty);
        later.record("second", "recorded after");
        later.record("first", 2);
        let _later = later.enter();
        let cause = std::io::Error::other("the disk \u{1b}[2Jwent away");
        let failure = std::io::Error::other(Wrapped(cause));
        tracing::warn!(
            error = &failure as &(dyn std::error::Error + 'static),
            r#type = "raw",
            flag = true,
            ratio = 0.25,
            delta = -7i64,
            log.target = "skipped",
            "message with \u{1b}[31mcolour\u{7}, \u{85}C1 and {} arguments",
            2
        );
        tracing::info!(
            message = "a message given as a field \u{9b}",
            plain = %"displayed \u{1b}",
            alone = ?Some("debugged")
        );
    }

    /// An error with a source, for the `.sources` list.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped \u{1b}failure")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
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
            let subscriber = (builder.fmt_fields(PlainFields))
                .event_format(PlainLines)
                .finish();
            tracing::subscriber::with_default(subscriber, log_a_bit);
        } else {
            tracing::subscriber::with_default(builder.finish(), log_a_bit);
        }
        lines.text()
    }

    #[test]
    fn lines_are_the_default_formats_without_colours_or_target() {
        let (ours, default) = (logged(true), logged(false));
        assert_eq!(ours.lines().count(), 9, "{ours}");
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
