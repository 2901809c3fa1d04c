//! The values that cross the storage interface, the same for both backends: SQLite's five
//! storage classes. Booleans are integers 0/1 on both (the PostgreSQL schema uses BIGINT),
//! so one row decoder serves both.

use super::Error;

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// A Rust value that can be bound as a parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u16, u8);

// Lengths and counts beyond i64 do not occur; saturate rather than wrap if one ever did.
macro_rules! wide_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
wide_to_value!(u64, usize);

/// A Rust value that can be read from a column.
pub trait FromValue: Sized {
    fn from_value(v: Value) -> Result<Self, Error>;
}

fn mismatch(v: &Value, want: &'static str) -> Error {
    Error::Conversion {
        found: v.kind(),
        want,
    }
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Self, Error> {
        Ok(v)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Text(s) => Ok(s),
            v => Err(mismatch(&v, "text")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            v => Err(mismatch(&v, "blob")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Real(f) => Ok(f),
            // SQLite stores a REAL that has no fraction as an integer in some expressions.
            Value::Int(i) => Ok(i as f64),
            v => Err(mismatch(&v, "real")),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Int(i) => Ok(i != 0),
            v => Err(mismatch(&v, "integer")),
        }
    }
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self, Error> {
        match v {
            Value::Int(i) => Ok(i),
            v => Err(mismatch(&v, "integer")),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<Self, Error> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| Error::OutOfRange),
                    v => Err(mismatch(&v, "integer")),
                }
            }
        }
    )*};
}
int_from_value!(i32, u32, u64, usize, u16, u8);

// Times are stored as text in rusqlite's format (`2026-11-30 08:15:00.123+00:00`), which
// sorts as time does; data directories written before the PostgreSQL backend hold it.
impl ToValue for chrono::DateTime<chrono::Utc> {
    fn to_value(&self) -> Value {
        Value::Text(self.format("%F %T%.f%:z").to_string())
    }
}

impl FromValue for chrono::DateTime<chrono::Utc> {
    fn from_value(v: Value) -> Result<Self, Error> {
        let Value::Text(s) = v else {
            return Err(mismatch(&v, "text (a time)"));
        };
        chrono::DateTime::parse_from_str(&s, "%F %T%.f%:z")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(&s))
            .map(|t| t.with_timezone(&chrono::Utc))
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(&s, "%F %T%.f").map(|t| t.and_utc()))
            .map_err(|_| Error::Conversion {
                found: "text that is not a time",
                want: "a time",
            })
    }
}
