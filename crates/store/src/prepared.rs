//! Hand-written SQL that PostgreSQL prepares once per connection, as diesel's query builder
//! does for its own statements.
//!
//! `diesel::sql_query` marks every statement unsafe to cache (its text could be built at run
//! time), so PostgreSQL parses, analyses and plans it at every execution. For the turn's
//! preflight, a six-way join, that planning was most of the turn's database CPU: the API
//! bench measured PostgreSQL at 1,145 µs of CPU per message against the floor's 602
//! (docs/performance.md). [`prepared`] takes only `&'static str` text, so the cache (keyed by
//! the text and the bind types) holds one entry per statement in the program, and the
//! statement is parsed once per connection; after five executions PostgreSQL may also keep a
//! generic plan and stop planning it.
//!
//! The text uses `$1`, `$2`, ... like `sql_query`; a placeholder may appear more than once.
//! `$` followed by a digit is always a placeholder here: write no such text in a literal.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A statement with its text and binds; run it with `diesel_async::RunQueryDsl` and read rows
/// with `QueryableByName`, as with `sql_query`.
#[must_use = "a statement does nothing until it is executed"]
pub struct Prepared<B> {
    sql: &'static str,
    binds: B,
}

/// `sql_query`'s counterpart for statements written as constants.
pub fn prepared(sql: &'static str) -> Prepared<()> {
    Prepared { sql, binds: () }
}

impl<B: Binds> Prepared<B> {
    /// The value of the next placeholder (`$1` for the first call, and so on).
    pub fn bind<ST, V>(self, value: V) -> Prepared<(B, Bound<V, ST>)> {
        Prepared {
            sql: self.sql,
            binds: (
                self.binds,
                Bound {
                    value,
                    sql_type: PhantomData,
                },
            ),
        }
    }
}

/// One bound value and its SQL type.
pub struct Bound<V, ST> {
    value: V,
    sql_type: PhantomData<fn() -> ST>,
}

/// The binds of a statement, a chain of `(earlier, Bound)` pairs ending in `()`.
pub trait Binds {
    /// How many values are bound.
    const COUNT: usize;

    /// Pushes the value of placeholder `$number` (1-based) as a bind parameter.
    fn push_bind<'b>(&'b self, number: usize, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

impl Binds for () {
    const COUNT: usize = 0;

    fn push_bind<'b>(&'b self, number: usize, _: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Err(Error::QueryBuilderError(
            format!("placeholder ${number} has no bound value").into(),
        ))
    }
}

impl<Earlier, V, ST> Binds for (Earlier, Bound<V, ST>)
where
    Earlier: Binds,
    V: ToSql<ST, Pg>,
    Pg: HasSqlType<ST>,
{
    const COUNT: usize = Earlier::COUNT + 1;

    fn push_bind<'b>(&'b self, number: usize, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if number == Self::COUNT {
            out.push_bind_param::<ST, V>(&self.1.value)
        } else {
            self.0.push_bind(number, out)
        }
    }
}

impl<B: Binds> QueryFragment<Pg> for Prepared<B> {
    /// The text, with each `$n` replaced by the bind parameter diesel numbers itself (so a
    /// placeholder used twice is bound twice).
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut rest = self.sql;
        while let Some(dollar) = rest.find('$') {
            let digits = rest[dollar + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 0 {
                out.push_sql(&rest[..=dollar]);
                rest = &rest[dollar + 1..];
                continue;
            }
            out.push_sql(&rest[..dollar]);
            let number: usize = rest[dollar + 1..dollar + 1 + digits]
                .parse()
                .map_err(|_| Error::QueryBuilderError("placeholder out of range".into()))?;
            if number == 0 || number > B::COUNT {
                return Err(Error::QueryBuilderError(
                    format!("placeholder ${number} has no bound value").into(),
                ));
            }
            self.binds.push_bind(number, &mut out)?;
            rest = &rest[dollar + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl<B> QueryId for Prepared<B> {
    type QueryId = ();
    /// Many statements share this type, so the cache is keyed by the text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for Prepared<B> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sql_types::{BigInt, Text};

    use super::prepared;

    #[test]
    fn placeholders_become_bind_parameters_in_order_and_repeat() {
        let statement = prepared("SELECT $2::text, $1, $2, '$' || 'x$'")
            .bind::<BigInt, _>(7_i64)
            .bind::<Text, _>("a");
        let sql = diesel::debug_query::<Pg, _>(&statement).to_string();
        assert_eq!(
            sql,
            "SELECT $1::text, $2, $3, '$' || 'x$' -- binds: [\"a\", 7, \"a\"]"
        );
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error_not_a_statement() {
        let statement = prepared("SELECT $1, $2").bind::<BigInt, _>(1_i64);
        let result = diesel::query_builder::QueryFragment::<Pg>::to_sql(
            &statement,
            &mut diesel::pg::PgQueryBuilder::default(),
            &Pg,
        );
        let error = result.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("placeholder $2 has no bound value"));
    }
}
