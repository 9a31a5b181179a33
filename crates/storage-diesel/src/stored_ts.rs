//! Timestamps as read from the database: [`StoredTs`], a `PrimitiveDateTime` that SQLite's
//! text is parsed into by hand.
//!
//! diesel's `FromSql<Timestamp, Sqlite>` for `PrimitiveDateTime` tries up to 18 `time` format
//! descriptions in turn, each one interpreted item by item (about 190 ns per value here); a
//! 10-account list reads 20 timestamps. authd writes one shape only (diesel's encoding,
//! `YYYY-MM-DD HH:MM:SS[.f...]`, UTC), which is parsed here directly; any other text (written
//! by hand, or by another tool) falls back to diesel's parser, so what is accepted is unchanged.
//! PostgreSQL's binary timestamps go through diesel as before.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::Timestamp;
use diesel::sqlite::{Sqlite, SqliteValue};
use time::{Date, Month, PrimitiveDateTime, Time};

/// A timestamp read from a `Timestamp` column (UTC, as every stored timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub(crate) struct StoredTs(pub(crate) PrimitiveDateTime);

impl FromSql<Timestamp, Sqlite> for StoredTs {
    fn from_sql(mut value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if let Some(t) = parse_sqlite_text(value.read_text()) {
            return Ok(Self(t));
        }
        <PrimitiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for StoredTs {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <PrimitiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1 to 9 digits of fraction; `None` for
/// anything else (then diesel's parser decides).
fn parse_sqlite_text(s: &str) -> Option<PrimitiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b' ') {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?
            .iter()
            .try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let day = u8::try_from(num(8, 10)?).ok()?;
    let hour = u8::try_from(num(11, 13)?).ok()?;
    let minute = u8::try_from(num(14, 16)?).ok()?;
    let second = u8::try_from(num(17, 19)?).ok()?;
    let nanos = match b.get(19..) {
        Some([]) => 0,
        Some([b'.', digits @ ..]) if (1..=9).contains(&digits.len()) => {
            let n = num(20, b.len())?;
            let scale = 10u32.pow(9 - u32::try_from(digits.len()).ok()?);
            n.checked_mul(scale)?
        }
        _ => return None,
    };
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::parse_sqlite_text;
    use time::macros::datetime;

    #[test]
    fn parses_what_diesel_writes_and_nothing_else() {
        assert_eq!(
            parse_sqlite_text("2026-12-05 21:40:23.123456"),
            Some(datetime!(2026-12-05 21:40:23.123456))
        );
        assert_eq!(
            parse_sqlite_text("2026-12-05 21:40:23"),
            Some(datetime!(2026-12-05 21:40:23))
        );
        assert_eq!(
            parse_sqlite_text("2026-12-05 21:40:23.5"),
            Some(datetime!(2026-12-05 21:40:23.5))
        );
        assert_eq!(
            parse_sqlite_text("2026-12-05 21:40:23.123456789"),
            Some(datetime!(2026-12-05 21:40:23.123456789))
        );
        for other in [
            "2026-12-05T21:40:23",
            "2026-12-05 21:40",
            "2026-12-05 21:40:23Z",
            "2026-12-05 21:40:23+01:00",
            "2026-12-05 21:40:23.",
            "2026-12-05 21:40:23.1234567890",
            "2026-02-30 21:40:23",
            "2026-12-05 24:00:00",
            "2461015.5",
            "",
        ] {
            assert_eq!(parse_sqlite_text(other), None, "{other}");
        }
    }
}
