//! One statement for both backends. An aggregate's function writes its SQL once,
//! in the dialect both SQLite and PostgreSQL speak — `?1`, `?2` … for the
//! parameters (given to the server as `$1`, `$2` …), `TRUE`/`FALSE` and plain
//! boolean expressions for flags, `RETURNING` for new ids, `lower(…)` for
//! case-insensitive names — and runs it through [`Conn`]; rows come back as a
//! [`Cols`] that reads a column the same way from either. Every integer on the
//! server is a BIGINT, as SQLite's are 64-bit, so an `i64` fits every column.
//!
//! On the file, statements are prepared once per connection
//! (`prepare_cached`), exactly as before this layer; on the server they go as
//! they are (the session prepares them).

use std::borrow::Cow;

use super::Conn;

/// A parameter either backend takes: an integer, a text or a flag, or NULL.
pub trait Param: Sync {
    /// The value.
    fn val(&self) -> Val<'_>;
}

/// A parameter's value. The server is told each one's type with the statement
/// (BIGINT, TEXT or BOOLEAN), so `?3 IS NULL` or `?2 - 86400` needs no cast;
/// a value still fits a narrower column or a flag when one is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// An integer.
    Int(Option<i64>),
    /// A text.
    Text(Option<&'a str>),
    /// A flag (0/1 on the file).
    Bool(Option<bool>),
}

impl Param for i64 {
    fn val(&self) -> Val<'_> {
        Val::Int(Some(*self))
    }
}
impl Param for Option<i64> {
    fn val(&self) -> Val<'_> {
        Val::Int(*self)
    }
}
impl Param for bool {
    fn val(&self) -> Val<'_> {
        Val::Bool(Some(*self))
    }
}
impl Param for Option<bool> {
    fn val(&self) -> Val<'_> {
        Val::Bool(*self)
    }
}
impl Param for &str {
    fn val(&self) -> Val<'_> {
        Val::Text(Some(self))
    }
}
impl Param for String {
    fn val(&self) -> Val<'_> {
        Val::Text(Some(self))
    }
}
impl Param for Option<&str> {
    fn val(&self) -> Val<'_> {
        Val::Text(*self)
    }
}
impl Param for Option<String> {
    fn val(&self) -> Val<'_> {
        Val::Text(self.as_deref())
    }
}

macro_rules! narrow_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn val(&self) -> Val<'_> {
                Val::Int(Some(i64::from(*self)))
            }
        }
        impl Param for Option<$t> {
            fn val(&self) -> Val<'_> {
                Val::Int(self.map(i64::from))
            }
        }
    )*};
}

narrow_param!(i32, u32, u16, u8);

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match *self {
            Val::Int(Some(n)) => ToSqlOutput::Owned(Value::Integer(n)),
            Val::Bool(Some(b)) => ToSqlOutput::Owned(Value::Integer(i64::from(b))),
            Val::Text(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Val::Int(None) | Val::Bool(None) | Val::Text(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

impl postgres::types::ToSql for Val<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match *self {
            Val::Int(None) | Val::Bool(None) | Val::Text(None) => Ok(IsNull::Yes),
            Val::Bool(Some(b)) if *ty == Type::BOOL => b.to_sql(ty, out),
            Val::Bool(Some(b)) => i64::from(b).to_sql(ty, out),
            Val::Int(Some(n)) if *ty == Type::BOOL => (n != 0).to_sql(ty, out),
            Val::Int(Some(n)) if *ty == Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
            Val::Int(Some(n)) if *ty == Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
            Val::Int(Some(n)) => n.to_sql(ty, out),
            Val::Text(Some(t)) => t.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        // each value checks the type the statement gave its placeholder in to_sql
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column value either backend gives.
pub trait Column: Sized {
    /// From the file's row.
    fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
    /// From the server's row.
    fn server(row: &postgres::Row, i: usize) -> rusqlite::Result<Self>;
}

fn server_error(e: postgres::Error) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

macro_rules! column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn server(row: &postgres::Row, i: usize) -> rusqlite::Result<Self> {
                row.try_get(i).map_err(server_error)
            }
        }
    )*};
}

column!(i64, Option<i64>, String, Option<String>, bool, Option<bool>);

macro_rules! narrow_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn server(row: &postgres::Row, i: usize) -> rusqlite::Result<Self> {
                let n: i64 = row.try_get(i).map_err(server_error)?;
                <$t>::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(i, n))
            }
        }
        impl Column for Option<$t> {
            fn lite(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                row.get(i)
            }
            fn server(row: &postgres::Row, i: usize) -> rusqlite::Result<Self> {
                let n: Option<i64> = row.try_get(i).map_err(server_error)?;
                n.map(|n| <$t>::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(i, n)))
                    .transpose()
            }
        }
    )*};
}

narrow_column!(i32, u32, u16, u8);

/// One row, from either backend.
pub enum Cols<'r> {
    /// The file's row.
    Lite(&'r rusqlite::Row<'r>),
    /// The server's row.
    Server(&'r postgres::Row),
}

impl Cols<'_> {
    /// Column `i`.
    pub fn get<T: Column>(&self, i: usize) -> rusqlite::Result<T> {
        match self {
            Cols::Lite(r) => T::lite(r, i),
            Cols::Server(r) => T::server(r, i),
        }
    }

    /// Text column `i` parsed into `T` (a status, a mode, a role …); text that
    /// is none of `T`'s values is a column of the wrong type.
    pub fn parse<T: std::str::FromStr>(&self, i: usize) -> rusqlite::Result<T> {
        let text: String = self.get(i)?;
        text.parse().map_err(|_| {
            let what = std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value");
            rusqlite::Error::InvalidColumnType(i, what.to_string(), rusqlite::types::Type::Text)
        })
    }
}

/// `sql` with `?N` placeholders as the server writes them (`$N`); `?` inside a
/// quoted literal is left alone.
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn values<'a>(params: &'a [&'a dyn Param]) -> Vec<Val<'a>> {
    params.iter().map(|p| p.val()).collect()
}

fn server_params<'a>(
    vals: &'a [Val<'a>],
) -> Vec<(
    &'a (dyn postgres::types::ToSql + Sync),
    postgres::types::Type,
)> {
    use postgres::types::Type;
    vals.iter()
        .map(|v| {
            let ty = match v {
                Val::Int(_) => Type::INT8,
                Val::Text(_) => Type::TEXT,
                Val::Bool(_) => Type::BOOL,
            };
            (v as &(dyn postgres::types::ToSql + Sync), ty)
        })
        .collect()
}

impl Conn<'_> {
    /// Each row of `sql` handed to `f` in turn, for reads too long to collect
    /// (exports, reports): streamed from the file; on the server the rows come
    /// in one answer.
    pub fn each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Cols<'_>) -> crate::Result<()>,
    ) -> crate::Result<()> {
        match self {
            Conn::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values(params)))?;
                while let Some(r) = rows.next()? {
                    f(&Cols::Lite(r))?;
                }
                Ok(())
            }
            Conn::Server(tx) => {
                for r in tx.query(&numbered(sql), &server_params(&values(params)))? {
                    f(&Cols::Server(&r))?;
                }
                Ok(())
            }
        }
    }

    /// Every row of `sql`, each read by `f`.
    pub fn all<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl Fn(&Cols<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        match self {
            Conn::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(values(params)), |r| {
                    f(&Cols::Lite(r))
                })?;
                rows.collect()
            }
            Conn::Server(tx) => tx
                .query(&numbered(sql), &server_params(&values(params)))?
                .iter()
                .map(|r| f(&Cols::Server(r)))
                .collect(),
        }
    }

    /// The row of `sql`, if there is one, read by `f`.
    pub fn opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl Fn(&Cols<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        match self {
            Conn::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values(params)))?;
                rows.next()?.map(|r| f(&Cols::Lite(r))).transpose()
            }
            Conn::Server(tx) => tx
                .query_opt(&numbered(sql), &server_params(&values(params)))?
                .map(|r| f(&Cols::Server(&r)))
                .transpose(),
        }
    }

    /// The one row of `sql`, read by `f` (no row is an error).
    pub fn one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl Fn(&Cols<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.opt(sql, params, f)?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    }

    /// The first column of the one row of `sql`.
    pub fn value<T: Column>(&self, sql: &str, params: &[&dyn Param]) -> rusqlite::Result<T> {
        self.one(sql, params, |r| r.get(0))
    }

    /// Runs `sql`; returns how many rows it changed.
    pub fn run(&self, sql: &str, params: &[&dyn Param]) -> rusqlite::Result<usize> {
        match self {
            Conn::Lite(c) => c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(values(params))),
            Conn::Server(tx) => {
                Ok(tx.execute(&numbered(sql), &server_params(&values(params)))? as usize)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn a_text_that_is_no_value_of_the_enum_is_a_column_error_not_a_panic() {
        use crate::domain::model::AppointmentStatus;
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let conn = super::Conn::Lite(&c);
        let read =
            |text: &str| conn.one("SELECT ?1", &[&text], |r| r.parse::<AppointmentStatus>(0));
        assert_eq!(read("CONFIRMED").unwrap(), AppointmentStatus::Confirmed);
        assert!(matches!(
            read("CONFIRMED; DROP TABLE x"),
            Err(rusqlite::Error::InvalidColumnType(0, ref what, _)) if what == "AppointmentStatus"
        ));
    }

    #[test]
    fn placeholders_are_numbered_the_servers_way_outside_literals() {
        assert_eq!(
            numbered("SELECT ?1, '?' FROM t WHERE a = ?2 AND b <> 'x?y'"),
            "SELECT $1, '?' FROM t WHERE a = $2 AND b <> 'x?y'"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
