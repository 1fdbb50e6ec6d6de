//! Prefix timestamps to UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (`shipper/exim/timestamps.py`,
//! `TimestampConverter`): the configured IANA zone unless the line carries `±hhmm`, the repeated hour
//! of a DST fall-back resolved by entry order, a spring-forward gap read with the offset from before.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

const CACHE_LIMIT: usize = 8192;
/// How far one entry may be stamped before the one logged ahead of it (Python's `_JITTER`).
const JITTER_MS: i64 = 5 * 60 * 1000;

/// One local minute in UTC: text `YYYY-MM-DDTHH:MM` and its epoch second.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Utc {
    text: String,
    epoch: i64,
}

#[derive(Debug, Clone)]
enum Minute {
    Invalid,
    One(Utc),
    /// A repeated minute: first pass, second pass.
    Two(Utc, Utc),
}

/// A converted stamp: its text and its instant in epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub text: String,
    pub millis: i64,
}

/// Converts prefixes of one stream in order (the fold rule needs the previous entry's time).
#[derive(Debug)]
pub struct TimestampConverter {
    zone: Tz,
    cache: crate::tables::FastMap<[u8; 20], Minute>,
    last: Option<i64>,
    /// Whether the last conversion read a repeated time as its second pass.
    pub second_pass: bool,
}

/// Python's `strftime("%Y-%m-%dT%H:%M")` on Linux: the year is not zero-padded.
fn minute_text(t: &NaiveDateTime) -> String {
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Python's datetime range (years 1 to 9999); outside it Python raises OverflowError (see README).
fn in_range(t: &NaiveDateTime) -> bool {
    (1..=9999).contains(&t.year())
}

fn utc(t: NaiveDateTime) -> Option<Utc> {
    // Offsets with seconds (pre-1900 LMT) are cut to the minute, as strftime does.
    in_range(&t).then(|| Utc {
        text: minute_text(&t),
        epoch: t.and_utc().timestamp() - i64::from(t.second()),
    })
}

fn num(s: &str) -> u32 {
    s.bytes().fold(0u32, |n, c| {
        n.saturating_mul(10)
            .saturating_add(u32::from(c.wrapping_sub(b'0')))
    })
}

impl TimestampConverter {
    pub fn new(zone: Tz) -> Self {
        Self {
            zone,
            cache: crate::tables::FastMap::default(),
            last: None,
            second_pass: false,
        }
    }

    /// An IANA name as `ZoneInfo` takes it; None when chrono-tz does not know it.
    pub fn from_name(name: &str) -> Option<Self> {
        name.parse::<Tz>().ok().map(Self::new)
    }

    fn offset_utc(&self, local: NaiveDateTime, offset_secs: i64) -> Option<Utc> {
        utc(local.checked_sub_signed(Duration::seconds(offset_secs))?)
    }

    /// The zone's offset in effect just before a gap that `local` falls in.
    fn offset_before_gap(&self, local: NaiveDateTime) -> Option<i64> {
        // Gaps are an hour or less, a day at most (Pacific/Apia 2011): step back to a local time that exists.
        for k in 1..=(26 * 4) {
            let earlier = local - Duration::minutes(15 * k);
            match self.zone.from_local_datetime(&earlier) {
                LocalResult::Single(t) => return Some(offset_secs(&t)),
                LocalResult::Ambiguous(_, late) => return Some(offset_secs(&late)),
                LocalResult::None => {}
            }
        }
        None
    }

    fn minute(&self, date: &str, hm: &str, tz: Option<&str>) -> Minute {
        let day =
            NaiveDate::from_ymd_opt(num(&date[0..4]) as i32, num(&date[5..7]), num(&date[8..10]));
        let Some(local) = day.and_then(|d| d.and_hms_opt(num(&hm[0..2]), num(&hm[3..5]), 0)) else {
            return Minute::Invalid;
        };
        if local.year() < 1 {
            return Minute::Invalid;
        }
        if let Some(tz) = tz {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let offset = sign * (i64::from(num(&tz[1..3])) * 3600 + i64::from(num(&tz[3..5])) * 60);
            if offset.abs() >= 86_400 {
                return Minute::Invalid;
            }
            return self
                .offset_utc(local, offset)
                .map_or(Minute::Invalid, Minute::One);
        }
        let (first, second) = match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) => {
                let u = self.offset_utc(local, offset_secs(&t));
                (u.clone(), u)
            }
            LocalResult::Ambiguous(a, b) => {
                let (oa, ob) = (offset_secs(&a), offset_secs(&b));
                // fold=0 is the earlier instant, i.e. the larger offset.
                let (o0, o1) = if oa >= ob { (oa, ob) } else { (ob, oa) };
                (self.offset_utc(local, o0), self.offset_utc(local, o1))
            }
            // In a gap fold=1 reads earlier than fold=0, so fold=0 (the offset before) is kept.
            LocalResult::None => {
                let u = self
                    .offset_before_gap(local)
                    .and_then(|o| self.offset_utc(local, o));
                (u.clone(), u)
            }
        };
        match (first, second) {
            (Some(f), Some(s)) if s.text > f.text => Minute::Two(f, s),
            (Some(f), _) => Minute::One(f),
            (None, _) => Minute::Invalid,
        }
    }

    /// The UTC stamp, or None when the date or time is impossible. `date`, `hm`, `sec`, `ms`, `tz` are
    /// the prefix's parts (ASCII digits, as [`crate::prefix::parse`] gives them).
    pub fn convert(
        &mut self,
        date: &str,
        hm: &str,
        sec: &str,
        ms: Option<&str>,
        tz: Option<&str>,
    ) -> Option<Stamp> {
        self.second_pass = false;
        if sec > "59" {
            return None;
        }
        let mut key = [0u8; 20];
        key[..10].copy_from_slice(date.as_bytes());
        key[10..15].copy_from_slice(hm.as_bytes());
        if let Some(tz) = tz {
            key[15..20].copy_from_slice(tz.as_bytes());
        }
        if !self.cache.contains_key(&key) {
            let minute = self.minute(date, hm, tz);
            if self.cache.len() >= CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(key, minute);
        }
        let ms = ms.unwrap_or("000");
        let extra = i64::from(num(sec)) * 1000 + i64::from(num(ms));
        // Pushed, not `format!`: its machinery was a thousand instructions a line (callgrind).
        let stamp = |u: &Utc| {
            let mut text = String::with_capacity(u.text.len() + sec.len() + ms.len() + 3);
            text.push_str(&u.text);
            text.push(':');
            text.push_str(sec);
            text.push('.');
            text.push_str(ms);
            text.push('Z');
            Stamp {
                text,
                millis: u.epoch * 1000 + extra,
            }
        };
        let out = match &self.cache[&key] {
            Minute::Invalid => return None,
            Minute::One(u) => stamp(u),
            Minute::Two(first, second) => {
                let s = stamp(first);
                match self.last {
                    Some(last) if s.millis < last - JITTER_MS => {
                        self.second_pass = true;
                        stamp(second)
                    }
                    _ => s,
                }
            }
        };
        self.last = Some(out.millis);
        Some(out)
    }
}

fn offset_secs<T: TimeZone>(t: &chrono::DateTime<T>) -> i64 {
    use chrono::Offset;
    i64::from(t.offset().fix().local_minus_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn stamps(conv: &mut TimestampConverter, times: &[&str], date: &str) -> Vec<Option<String>> {
        times
            .iter()
            .map(|t| {
                conv.convert(date, &t[..5], &t[6..8], None, None)
                    .map(|s| s.text)
            })
            .collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some((*s).to_string())).collect()
    }

    #[test]
    fn the_repeated_hour_is_first_pass_until_time_goes_back_then_second_pass_until_it_ends() {
        let mut conv = TimestampConverter::new(BERLIN);
        let got = stamps(
            &mut conv,
            &[
                "01:59:59", "02:00:00", "02:30:00", "02:59:59", "02:00:00", "02:30:00", "02:59:59",
                "03:00:00", "03:00:01",
            ],
            "2025-10-26",
        );
        assert_eq!(
            got,
            some(&[
                "2025-10-25T23:59:59.000Z",
                "2025-10-26T00:00:00.000Z",
                "2025-10-26T00:30:00.000Z",
                "2025-10-26T00:59:59.000Z",
                "2025-10-26T01:00:00.000Z",
                "2025-10-26T01:30:00.000Z",
                "2025-10-26T01:59:59.000Z",
                "2025-10-26T02:00:00.000Z",
                "2025-10-26T02:00:01.000Z",
            ])
        );
    }

    #[test]
    fn second_pass_is_flagged_only_for_its_own_entries() {
        let mut conv = TimestampConverter::new(BERLIN);
        let flags: Vec<bool> = ["02:58:00", "02:01:00", "02:02:00", "03:05:00"]
            .iter()
            .map(|t| {
                conv.convert("2025-10-26", &t[..5], &t[6..8], None, None);
                conv.second_pass
            })
            .collect();
        assert_eq!(flags, [false, true, true, false]);
    }

    #[test]
    fn jitter_inside_the_repeated_hour_is_not_a_second_pass_but_minutes_are() {
        let mut conv = TimestampConverter::new(BERLIN);
        let got = stamps(
            &mut conv,
            &["02:10:05", "02:10:03", "02:09:59", "02:10:06"],
            "2025-10-26",
        );
        assert_eq!(
            got,
            some(&[
                "2025-10-26T00:10:05.000Z",
                "2025-10-26T00:10:03.000Z",
                "2025-10-26T00:09:59.000Z",
                "2025-10-26T00:10:06.000Z"
            ])
        );
        let mut conv = TimestampConverter::new(BERLIN);
        let got = stamps(&mut conv, &["02:40:00", "02:20:00"], "2025-10-26");
        assert_eq!(
            got,
            some(&["2025-10-26T00:40:00.000Z", "2025-10-26T01:20:00.000Z"])
        );
    }

    #[test]
    fn entries_with_an_offset_are_taken_as_written_and_guide_the_ones_without() {
        let mut conv = TimestampConverter::new(BERLIN);
        let s = |c: &mut TimestampConverter, hm: &str, tz: Option<&str>| {
            c.convert("2025-10-26", hm, "00", None, tz).unwrap().text
        };
        assert_eq!(
            s(&mut conv, "02:59", Some("+0200")),
            "2025-10-26T00:59:00.000Z"
        );
        assert_eq!(
            s(&mut conv, "02:10", Some("+0100")),
            "2025-10-26T01:10:00.000Z"
        );
        assert_eq!(s(&mut conv, "02:11", None), "2025-10-26T01:11:00.000Z");
    }

    #[test]
    fn the_cache_holds_both_readings_of_a_repeated_minute() {
        let mut conv = TimestampConverter::new(BERLIN);
        let got = stamps(
            &mut conv,
            &["02:15:00", "02:59:00", "02:15:00"],
            "2025-10-26",
        );
        assert_eq!(
            got,
            some(&[
                "2025-10-26T00:15:00.000Z",
                "2025-10-26T00:59:00.000Z",
                "2025-10-26T01:15:00.000Z"
            ])
        );
    }

    #[test]
    fn the_spring_gap_is_read_with_the_offset_from_before_the_change() {
        for (local, utc) in [
            ("01:59:59", "2025-03-30T00:59:59.000Z"),
            ("02:00:00", "2025-03-30T01:00:00.000Z"),
            ("02:30:15", "2025-03-30T01:30:15.000Z"),
            ("02:59:59", "2025-03-30T01:59:59.000Z"),
            ("03:00:00", "2025-03-30T01:00:00.000Z"),
            ("03:30:00", "2025-03-30T01:30:00.000Z"),
        ] {
            let mut conv = TimestampConverter::new(BERLIN);
            assert_eq!(stamps(&mut conv, &[local], "2025-03-30"), some(&[utc]));
            assert!(!conv.second_pass);
        }
    }

    #[test]
    fn impossible_dates_and_times_are_none() {
        let mut conv = TimestampConverter::new(chrono_tz::UTC);
        for (date, hm, sec, tz) in [
            ("2025-02-29", "10:00", "00", None),
            ("2025-13-01", "10:00", "00", None),
            ("0000-01-01", "10:00", "00", None),
            ("2025-01-01", "24:00", "00", None),
            ("2025-01-01", "10:60", "00", None),
            ("2025-01-01", "10:00", "60", None),
            ("2025-01-01", "10:00", "00", Some("+2400")),
            ("2025-01-01", "10:00", "00", Some("-2360")),
        ] {
            assert_eq!(
                conv.convert(date, hm, sec, None, tz),
                None,
                "{date} {hm}:{sec} {tz:?}"
            );
        }
        assert_eq!(
            conv.convert("2024-02-29", "10:00", "00", None, Some("+2359"))
                .unwrap()
                .text,
            "2024-02-28T10:01:00.000Z"
        );
    }

    #[test]
    fn years_before_1000_are_not_padded_and_lmt_seconds_are_cut() {
        let mut conv = TimestampConverter::new(chrono_tz::UTC);
        assert_eq!(
            conv.convert("0999-01-01", "10:00", "00", Some("123"), None)
                .unwrap()
                .text,
            "999-01-01T10:00:00.123Z"
        );
        // Python: Europe/Berlin LMT is +00:53:28, so 10:00 local is 09:06:32 UTC, cut to 09:06.
        let mut conv = TimestampConverter::new(BERLIN);
        assert_eq!(
            conv.convert("1850-06-01", "10:00", "05", None, None)
                .unwrap()
                .text,
            "1850-06-01T09:06:05.000Z"
        );
    }
}
