//! What a run is asked to do: the mode, the endpoint, sizes, concurrency,
//! when to stop; parsed from text where the command line gives text, and
//! checked before anything is sent.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use arca_client::Credentials;

use crate::size::SizeSpec;

/// The workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PUT new objects.
    Put,
    /// GET prepared objects, picked at random.
    Get,
    /// ListObjectsV2 over a prepared prefix, page after page.
    List,
    /// DELETE prepared objects, each once.
    Delete,
    /// HEAD prepared objects, picked at random.
    Stat,
    /// Whole multipart uploads: create, upload parts, complete.
    Multipart,
    /// GET, PUT, DELETE and HEAD in the ratio of [`Mix`].
    Mixed,
}

impl Mode {
    pub const ALL: [Mode; 7] =
        [Mode::Put, Mode::Get, Mode::List, Mode::Delete, Mode::Stat, Mode::Multipart, Mode::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Put => "put",
            Mode::Get => "get",
            Mode::List => "list",
            Mode::Delete => "delete",
            Mode::Stat => "stat",
            Mode::Multipart => "multipart",
            Mode::Mixed => "mixed",
        }
    }

    /// The object size when none is given.
    pub fn default_size(self) -> SizeSpec {
        match self {
            Mode::Multipart => SizeSpec::fixed(16 << 20),
            _ => SizeSpec::fixed(4 << 10),
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Mode::ALL.into_iter().find(|mode| mode.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
            format!("unknown mode {text:?}; expected one of {}", names.join(", "))
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The weights of each operation in mixed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub get: u32,
    pub put: u32,
    pub delete: u32,
    pub stat: u32,
}

impl Default for Mix {
    /// The ratio warp uses by default: 45% GET, 30% HEAD, 15% PUT, 10% DELETE.
    fn default() -> Self {
        Mix { get: 45, put: 15, delete: 10, stat: 30 }
    }
}

impl Mix {
    pub fn total(&self) -> u32 {
        self.get + self.put + self.delete + self.stat
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `get=60,put=20,delete=10,stat=10`; operations left out weigh 0.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Mix { get: 0, put: 0, delete: 0, stat: 0 };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) =
                item.split_once('=').ok_or_else(|| format!("mix item {item:?} is not name=weight"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("mix weight {weight:?} of {name:?} is not a whole number"))?;
            let slot = match name.trim() {
                "get" => &mut mix.get,
                "put" => &mut mix.put,
                "delete" => &mut mix.delete,
                "stat" => &mut mix.stat,
                other => {
                    return Err(format!("unknown operation {other:?} in the mix (get, put, delete, stat)"));
                }
            };
            *slot = weight;
        }
        if mix.total() == 0 {
            return Err("the mix gives no operation a weight above 0".into());
        }
        if mix.total() > 1_000_000 {
            return Err("the mix weights add up to more than 1000000".into());
        }
        Ok(mix)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "get={},put={},delete={},stat={}", self.get, self.put, self.delete, self.stat)
    }
}

/// When the timed phase ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long (operations in flight then still complete and count).
    Duration(Duration),
    /// After this many operations in all.
    Count(u64),
}

/// Parses a duration in seconds: `30`, `2.5`, `30s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(minutes) = text.strip_suffix('m') {
        (minutes, 60.0)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let seconds: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a duration in seconds"))?;
    let seconds = seconds * scale;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 1e9 {
        return Err(format!("duration {text:?} must be above 0"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub mode: Mode,
    /// `http://host:port`.
    pub endpoint: String,
    pub credentials: Credentials,
    pub region: String,
    /// An existing bucket to work in; `None` creates a fresh one (and deletes it after).
    pub bucket: Option<String>,
    /// Object size; `None` takes the mode's default.
    pub size: Option<SizeSpec>,
    /// Operations in flight during the timed phase.
    pub concurrency: usize,
    pub stop: Stop,
    /// Keys are `<prefix><run id>/<number>`.
    pub prefix: String,
    /// Seed of the object contents and of the random choices; random when `None`.
    pub seed: Option<u64>,
    /// Compare every GET body with what was written.
    pub verify: bool,
    /// Leave the objects (and a created bucket) in place.
    pub keep: bool,
    pub mix: Mix,
    /// Part size of multipart uploads.
    pub part_size: u64,
    /// Objects prepared before get, stat, list, delete and mixed; `None` for the mode's default.
    pub objects: Option<u64>,
    /// Operations in flight while preparing and cleaning up; `None` for max(concurrency, 32).
    pub prepare_concurrency: Option<usize>,
    /// Sign the SHA-256 of bodies instead of sending UNSIGNED-PAYLOAD.
    pub sign_payload: bool,
    /// `max-keys` of each list request.
    pub list_max_keys: u32,
    /// List mode over what `prefix` already holds in `bucket`: no objects
    /// are written or deleted, and no walk is checked against a count.
    pub list_existing: bool,
    /// Print a progress line on stderr while running.
    pub progress: bool,
    /// A process (the server, on this machine) whose CPU time the report gives.
    pub server_pid: Option<u32>,
}

impl BenchConfig {
    /// A configuration with every option at its default: 4 KiB objects,
    /// concurrency 16, 10 seconds.
    pub fn new(mode: Mode, endpoint: impl Into<String>, credentials: Credentials) -> Self {
        BenchConfig {
            mode,
            endpoint: endpoint.into(),
            credentials,
            region: "us-east-1".into(),
            bucket: None,
            size: None,
            concurrency: 16,
            stop: Stop::Duration(Duration::from_secs(10)),
            prefix: "arca-bench/".into(),
            seed: None,
            verify: false,
            keep: false,
            mix: Mix::default(),
            part_size: 5 << 20,
            objects: None,
            prepare_concurrency: None,
            sign_payload: false,
            list_max_keys: 1000,
            list_existing: false,
            progress: true,
            server_pid: None,
        }
    }

    pub fn size(&self) -> SizeSpec {
        self.size.unwrap_or_else(|| self.mode.default_size())
    }

    pub fn prepare_concurrency(&self) -> usize {
        self.prepare_concurrency.unwrap_or(self.concurrency.max(32))
    }

    /// How many objects the mode prepares before the timed phase.
    pub fn objects_to_prepare(&self) -> u64 {
        let count = match self.stop {
            Stop::Count(n) => Some(n),
            Stop::Duration(_) => None,
        };
        // Enough objects to spread reads over, but no more than about 1 GiB
        // of them unless asked: preparing is not timed, but it takes time.
        let readable = (1u64 << 30) / self.size().max.max(1);
        let reads = self.objects.unwrap_or_else(|| readable.clamp(1, 1000));
        match self.mode {
            Mode::Put | Mode::Multipart => 0,
            Mode::Get | Mode::Stat | Mode::Mixed => match (self.objects, count) {
                (None, Some(n)) => reads.min(n),
                _ => reads,
            },
            Mode::List if self.list_existing => 0,
            Mode::List => self.objects.unwrap_or(1000),
            // Each delete consumes an object: as many as the count asks.
            Mode::Delete => self.objects.or(count).unwrap_or(10_000),
        }
    }

    /// Checks the options against each other; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.list_existing && (self.mode != Mode::List || self.bucket.is_none()) {
            return Err("--list-existing is for list mode with --bucket".into());
        }
        if self.concurrency == 0 || self.concurrency > 100_000 {
            return Err("--concurrency must be between 1 and 100000".into());
        }
        if self.prepare_concurrency == Some(0) {
            return Err("--prepare-concurrency must be at least 1".into());
        }
        if let Stop::Count(0) = self.stop {
            return Err("--count must be at least 1".into());
        }
        if self.objects == Some(0) && matches!(self.mode, Mode::Get | Mode::Stat | Mode::Mixed | Mode::Delete)
        {
            return Err(format!("{} mode needs at least one object (--objects)", self.mode));
        }
        if self.mode == Mode::Mixed && self.mix.total() == 0 {
            return Err("--mix gives no operation a weight above 0".into());
        }
        if !(1..=1000).contains(&self.list_max_keys) {
            return Err("--list-max-keys must be between 1 and 1000".into());
        }
        if self.mode == Mode::Multipart {
            if self.part_size == 0 {
                return Err("--part-size must be above 0".into());
            }
            let parts = self.size().max.div_ceil(self.part_size);
            if parts > 10_000 {
                return Err(format!(
                    "{} objects in {} parts make {parts} parts; S3 allows 10000 (raise --part-size)",
                    self.size(),
                    crate::size::format_size(self.part_size)
                ));
            }
        }
        if let Some(bucket) = &self.bucket
            && (bucket.is_empty() || bucket.contains('/'))
        {
            return Err(format!("{bucket:?} is not a bucket name"));
        }
        if self.prefix.starts_with('/') {
            return Err("--prefix must not start with '/'".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode) -> BenchConfig {
        BenchConfig::new(mode, "http://127.0.0.1:9000", Credentials::new("a", "b"))
    }

    #[test]
    fn modes_parse_by_name() {
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>(), Ok(mode));
        }
        assert!("copy".parse::<Mode>().is_err());
    }

    #[test]
    fn mixes() {
        assert_eq!(
            "get=60,put=20,delete=10,stat=10".parse(),
            Ok(Mix { get: 60, put: 20, delete: 10, stat: 10 })
        );
        assert_eq!("put=1".parse(), Ok(Mix { get: 0, put: 1, delete: 0, stat: 0 }));
        for bad in ["", "get=0", "get", "get=x", "copy=1", "get=-1"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Mix::default().to_string().parse(), Ok(Mix::default()));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["0", "-1", "x", "", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn objects_prepared_per_mode() {
        assert_eq!(config(Mode::Put).objects_to_prepare(), 0);
        assert_eq!(config(Mode::Get).objects_to_prepare(), 1000);
        let mut big = config(Mode::Get);
        big.size = Some(SizeSpec::fixed(1 << 30));
        assert_eq!(big.objects_to_prepare(), 1);
        let mut counted = config(Mode::Get);
        counted.stop = Stop::Count(10);
        assert_eq!(counted.objects_to_prepare(), 10);
        let mut delete = config(Mode::Delete);
        delete.stop = Stop::Count(500);
        assert_eq!(delete.objects_to_prepare(), 500);
        let mut list = config(Mode::List);
        list.objects = Some(100_000);
        assert_eq!(list.objects_to_prepare(), 100_000);
    }

    #[test]
    fn contradictory_options_are_refused() {
        let mut c = config(Mode::Put);
        c.concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = config(Mode::Multipart);
        c.size = Some(SizeSpec::fixed(1 << 40));
        assert!(c.validate().is_err());
        let mut c = config(Mode::Get);
        c.objects = Some(0);
        assert!(c.validate().is_err());
        let mut c = config(Mode::Put);
        c.stop = Stop::Count(0);
        assert!(c.validate().is_err());
        let mut c = config(Mode::Mixed);
        c.mix = Mix { get: 0, put: 0, delete: 0, stat: 0 };
        assert!(c.validate().is_err());
        assert!(config(Mode::Mixed).validate().is_ok());
    }
}
