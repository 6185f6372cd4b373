//! A process-wide `tracing` subscriber that records spans (name, fields, parent) and
//! events, for scenarios that check what the drivers report.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One recorded span.
#[derive(Debug, Clone, Default)]
pub struct SpanRecord {
    /// The span's name (`db.query`, `db.transaction`, ...).
    pub name: String,
    /// Field values as text, including those recorded after creation.
    pub fields: HashMap<String, String>,
    /// The parent span's id, explicit or the thread's current span.
    pub parent: Option<u64>,
}

/// One recorded event.
#[derive(Debug, Clone, Default)]
pub struct EventRecord {
    /// `WARN`, `DEBUG`, ...
    pub level: String,
    /// The event's target.
    pub target: String,
    /// Field values as text (the message under `message`).
    pub fields: HashMap<String, String>,
}

/// What the recorder saw so far.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Spans by id.
    pub spans: HashMap<u64, SpanRecord>,
    /// Events in order.
    pub events: Vec<EventRecord>,
}

impl Recorded {
    /// The `db.query` spans whose `db.statement` starts with `start`.
    pub fn statements_starting(&self, start: &str) -> Vec<(u64, SpanRecord)> {
        self.spans
            .iter()
            .filter(|(_, s)| {
                s.name == "db.query"
                    && s.fields
                        .get("db.statement")
                        .is_some_and(|v| v.starts_with(start))
            })
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    /// The spans named `name` whose field `key` equals `value`.
    pub fn spans_with(&self, name: &str, key: &str, value: &str) -> Vec<(u64, SpanRecord)> {
        self.spans
            .iter()
            .filter(|(_, s)| s.name == name && s.fields.get(key).map(String::as_str) == Some(value))
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }
}

struct Recorder {
    next: AtomicU64,
    seen: Mutex<Recorded>,
}

thread_local! {
    static CURRENT: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for &'static Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut record = SpanRecord {
            name: attrs.metadata().name().to_owned(),
            ..SpanRecord::default()
        };
        attrs.record(&mut Fields(&mut record.fields));
        record.parent = match attrs.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attrs.is_contextual() => CURRENT.with(|c| c.borrow().last().copied()),
            None => None,
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spans
            .insert(id, record);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut record.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut record = EventRecord {
            level: event.metadata().level().to_string(),
            target: event.metadata().target().to_owned(),
            ..EventRecord::default()
        };
        event.record(&mut Fields(&mut record.fields));
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .events
            .push(record);
    }

    fn enter(&self, span: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        CURRENT.with(|c| {
            let mut stack = c.borrow_mut();
            if let Some(pos) = stack.iter().rposition(|s| *s == span.into_u64()) {
                stack.remove(pos);
            }
        });
    }
}

static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();

/// Installs the recorder as the process's global subscriber (once) and returns it.
/// `None` if another global subscriber was installed first.
pub fn install() -> Option<TraceRecorder> {
    let recorder = *RECORDER.get_or_init(|| {
        Box::leak(Box::new(Recorder {
            next: AtomicU64::new(1),
            seen: Mutex::new(Recorded::default()),
        }))
    });
    match tracing::subscriber::set_global_default(recorder) {
        Ok(()) => Some(TraceRecorder(recorder)),
        // Already ours (a second call in the same process)?
        Err(_) => tracing::dispatcher::get_default(|d| d.is::<&'static Recorder>())
            .then_some(TraceRecorder(recorder)),
    }
}

/// A handle on the installed recorder.
#[derive(Clone, Copy)]
pub struct TraceRecorder(&'static Recorder);

impl fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceRecorder")
    }
}

impl TraceRecorder {
    /// Runs `f` on what was recorded so far.
    pub fn with<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.0.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
