//! Rows decoded once for both backends: [`Row`] reads a column as text, integer or boolean
//! (implemented for `rusqlite::Row` and `tokio_postgres::Row`, which differ in column types:
//! `jsonb` vs text, `INTEGER` vs `BIGINT`, `BOOLEAN` vs 0/1); [`Column`] turns a column into a
//! value (domain enums by their wire code, timestamps from RFC 3339 text, JSON); [`FromRow`]
//! builds a record. [`SqlValue`] binds a parameter in either backend, converted to the column
//! type PostgreSQL expects.

use std::error::Error;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use super::StorageError;
use super::sql::SqlValue;
use crate::model::{CaseRow, DeviceRecord, PhotoRecord, UserRecord};
use crate::policy::audit::AuditRow;

/// A timestamp as stored.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn corrupt(what: &str, text: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("bad {what} {text:?}: {e}"))
}

/// One result row of either backend.
pub trait Row {
    /// A text or JSON column; `None` when NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError>;
    /// An integer column of any width; `None` when NULL.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StorageError>;
    /// A boolean (SQLite: an integer, 0 false).
    fn boolean(&self, i: usize) -> Result<bool, StorageError>;

    fn text(&self, i: usize) -> Result<String, StorageError> {
        self.opt_text(i)?
            .ok_or_else(|| StorageError::Corrupt(format!("column {i} is NULL")))
    }

    fn int(&self, i: usize) -> Result<i64, StorageError> {
        self.opt_int(i)?
            .ok_or_else(|| StorageError::Corrupt(format!("column {i} is NULL")))
    }

    /// Column `i` as a value.
    fn get<T: Column>(&self, i: usize) -> Result<T, StorageError>
    where
        Self: Sized,
    {
        T::column(self, i)
    }
}

/// A value read from one column.
pub trait Column: Sized {
    fn column(row: &impl Row, i: usize) -> Result<Self, StorageError>;
}

impl Column for String {
    fn column(row: &impl Row, i: usize) -> Result<String, StorageError> {
        row.text(i)
    }
}

impl Column for Option<String> {
    fn column(row: &impl Row, i: usize) -> Result<Option<String>, StorageError> {
        row.opt_text(i)
    }
}

impl Column for i64 {
    fn column(row: &impl Row, i: usize) -> Result<i64, StorageError> {
        row.int(i)
    }
}

impl Column for u32 {
    fn column(row: &impl Row, i: usize) -> Result<u32, StorageError> {
        Ok(u32::try_from(row.int(i)?).unwrap_or(0))
    }
}

impl Column for u64 {
    fn column(row: &impl Row, i: usize) -> Result<u64, StorageError> {
        Ok(u64::try_from(row.int(i)?).unwrap_or(0))
    }
}

impl Column for bool {
    fn column(row: &impl Row, i: usize) -> Result<bool, StorageError> {
        row.boolean(i)
    }
}

impl Column for Uuid {
    fn column(row: &impl Row, i: usize) -> Result<Uuid, StorageError> {
        let text = row.text(i)?;
        Uuid::parse_str(&text).map_err(|e| corrupt("uuid", &text, e))
    }
}

impl Column for DateTime<Utc> {
    fn column(row: &impl Row, i: usize) -> Result<DateTime<Utc>, StorageError> {
        let text = row.text(i)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt("timestamp", &text, e))
    }
}

impl Column for Option<DateTime<Utc>> {
    fn column(row: &impl Row, i: usize) -> Result<Option<DateTime<Utc>>, StorageError> {
        match row.opt_text(i)? {
            None => Ok(None),
            Some(_) => DateTime::<Utc>::column(row, i).map(Some),
        }
    }
}

/// A JSON column (`jsonb` in PostgreSQL, text in SQLite).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Column for Json<T> {
    fn column(row: &impl Row, i: usize) -> Result<Json<T>, StorageError> {
        Ok(Json(serde_json::from_str(&row.text(i)?)?))
    }
}

impl<T: DeserializeOwned> Column for Option<Json<T>> {
    fn column(row: &impl Row, i: usize) -> Result<Option<Json<T>>, StorageError> {
        row.opt_text(i)?
            .map(|text| Ok(Json(serde_json::from_str(&text)?)))
            .transpose()
    }
}

/// Domain enums are stored by their wire code.
macro_rules! wire_code_columns {
    ($($ty:ty => $what:literal),*) => {$(
        impl Column for $ty {
            fn column(row: &impl Row, i: usize) -> Result<$ty, StorageError> {
                let code = row.text(i)?;
                <$ty>::from_code(&code).ok_or_else(|| corrupt($what, &code, "unknown code"))
            }
        }
    )*};
}
wire_code_columns!(
    xuncha_core::Role => "role",
    xuncha_core::CaseStatus => "status",
    xuncha_core::Category => "category"
);

/// A record built from a whole row, columns in the order its statements select them.
pub trait FromRow: Sized {
    fn from_row(row: &impl Row) -> Result<Self, StorageError>;
}

/// One column as a record (`SELECT body …`, `SELECT id …`).
pub struct One<T>(pub T);

impl<T: Column> FromRow for One<T> {
    fn from_row(row: &impl Row) -> Result<One<T>, StorageError> {
        Ok(One(row.get(0)?))
    }
}

impl<A: Column, B: Column> FromRow for (A, B) {
    fn from_row(row: &impl Row) -> Result<(A, B), StorageError> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: Column, B: Column, C: Column> FromRow for (A, B, C) {
    fn from_row(row: &impl Row) -> Result<(A, B, C), StorageError> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

impl<A: Column, B: Column, C: Column, D: Column> FromRow for (A, B, C, D) {
    fn from_row(row: &impl Row) -> Result<(A, B, C, D), StorageError> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    }
}

/// `id, username, display_name, role, unit_id, password_hash, disabled` from column `at`.
pub fn user_at(row: &impl Row, at: usize) -> Result<UserRecord, StorageError> {
    Ok(UserRecord {
        id: row.get(at)?,
        username: row.get(at + 1)?,
        display_name: row.get(at + 2)?,
        role: row.get(at + 3)?,
        unit_id: row.get(at + 4)?,
        password_hash: row.get(at + 5)?,
        disabled: row.get(at + 6)?,
    })
}

impl FromRow for UserRecord {
    fn from_row(row: &impl Row) -> Result<UserRecord, StorageError> {
        user_at(row, 0)
    }
}

/// [`super::sql::CASE_COLUMNS`] from column `at`.
pub fn case_at(row: &impl Row, at: usize) -> Result<CaseRow, StorageError> {
    let Json(case) = row.get(at)?;
    let routing: Option<Json<serde_json::Value>> = row.get(at + 1)?;
    let Json(dispatched_units) = row.get(at + 2)?;
    Ok(CaseRow {
        case,
        routing: routing.map(|Json(r)| r),
        dispatched_units,
        seq: row.get(at + 3)?,
        number: row.get(at + 4)?,
    })
}

impl FromRow for CaseRow {
    fn from_row(row: &impl Row) -> Result<CaseRow, StorageError> {
        case_at(row, 0)
    }
}

impl FromRow for DeviceRecord {
    fn from_row(row: &impl Row) -> Result<DeviceRecord, StorageError> {
        Ok(DeviceRecord {
            id: row.get(0)?,
            user_id: row.get(1)?,
            name: row.get(2)?,
            revoked: row.get(3)?,
        })
    }
}

impl FromRow for PhotoRecord {
    fn from_row(row: &impl Row) -> Result<PhotoRecord, StorageError> {
        Ok(PhotoRecord {
            sha256: row.get(0)?,
            stored_sha256: row.get(1)?,
            bytes: row.get(2)?,
            width: row.get(3)?,
            height: row.get(4)?,
            uploaded_by: row.get(5)?,
            device_id: row.get(6)?,
        })
    }
}

impl FromRow for AuditRow {
    fn from_row(row: &impl Row) -> Result<AuditRow, StorageError> {
        Ok(AuditRow {
            seq: row.get(0)?,
            entry: row.get(1)?,
            prev_hash: row.get(2)?,
            hash: row.get(3)?,
        })
    }
}

// SQLite.

impl Row for rusqlite::Row<'_> {
    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError> {
        Ok(self.get(i)?)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StorageError> {
        Ok(self.get(i)?)
    }

    fn boolean(&self, i: usize) -> Result<bool, StorageError> {
        Ok(self.get(i)?)
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            SqlValue::Text(t) => rusqlite::ToSql::to_sql(t),
            SqlValue::Int(i) => rusqlite::ToSql::to_sql(i),
            SqlValue::Bool(b) => rusqlite::ToSql::to_sql(b),
            SqlValue::Null => Ok(rusqlite::types::ToSqlOutput::Owned(
                rusqlite::types::Value::Null,
            )),
        }
    }
}

// PostgreSQL.

/// Text of a text or JSON column as the server sends it in binary form.
struct RawText(String);

impl<'a> FromSql<'a> for RawText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<RawText, Box<dyn Error + Sync + Send>> {
        // Binary `jsonb` is a version byte (1) followed by the JSON text.
        let raw = if *ty == Type::JSONB {
            raw.split_first().map_or(raw, |(_, rest)| rest)
        } else {
            raw
        };
        Ok(RawText(std::str::from_utf8(raw)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB
        )
    }
}

impl Row for tokio_postgres::Row {
    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError> {
        Ok(self.try_get::<_, Option<RawText>>(i)?.map(|RawText(t)| t))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StorageError> {
        let ty = self.columns().get(i).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::INT2) => self.try_get::<_, Option<i16>>(i)?.map(i64::from),
            Some(Type::INT4) => self.try_get::<_, Option<i32>>(i)?.map(i64::from),
            _ => self.try_get::<_, Option<i64>>(i)?,
        })
    }

    fn boolean(&self, i: usize) -> Result<bool, StorageError> {
        match self.columns().get(i).map(|c| c.type_()) {
            Some(&Type::BOOL) => Ok(self.try_get(i)?),
            _ => Ok(self.int(i)? != 0),
        }
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

/// Binds to whatever the column is: integers narrowed to `INTEGER`/`SMALLINT` and booleans
/// written as 0/1 where the schema says so, text into `jsonb` with its version byte.
impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let int = |i: i64, out: &mut bytes::BytesMut| -> Result<IsNull, BoxError> {
            match *ty {
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            }
        };
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Text(t) if *ty == Type::JSONB => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(t.as_bytes());
                Ok(IsNull::No)
            }
            SqlValue::Text(t) => t.to_sql(ty, out),
            SqlValue::Int(i) => int(*i, out),
            SqlValue::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            SqlValue::Bool(b) => int(i64::from(*b), out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked per value in `to_sql`: the inner types refuse what they cannot write.
        true
    }

    to_sql_checked!();
}
