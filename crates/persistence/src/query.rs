//! The domain's typed filter, access scope, ordering and cursor as SQL conditions. Every value is
//! a bound parameter; no text from a request is ever spliced into SQL.
//!
//! Comparisons are two-valued even on nullable columns (`x = v` is false, `x != v` true, when `x`
//! is NULL), so `NOT` means what it says. `field = ""` matches customers where the field is not
//! set and `field != ""` where it is, which is how a caller asks for "unassigned" customers.
//! The classification columns (`rank_tier` … `grade`, `score`) are NULL until a customer is first
//! classified and follow the same rule: `grade != VIP` matches an unclassified customer,
//! `grade = VIP` and `score < 50` do not.
//!
//! A classification dimension orders by its value's storage code (declaration order, e.g. VIP,
//! KEY, STANDARD, POTENTIAL), with NULL as [`UNCLASSIFIED_CODE`], after every value; `score`
//! orders with NULL as [`UNCLASSIFIED_SCORE`], below every score. The expressions are the ones
//! [`SortField::key_of`] computes from a customer, so keyset cursors see the same keys.

use crm_domain::{
    access::{GradeSet, ListScope},
    classification::{ClassValue, Dimension},
    customer::values::{CustomerNeed, Needs},
    filter::{CompareOp, Filter, FilterField, FilterValue},
    listing::{Cursor, OrderBy, SortField, SortKey, UNCLASSIFIED_CODE, UNCLASSIFIED_SCORE},
};
use sea_orm::{
    Value,
    sea_query::{CaseStatement, Condition, Expr, ExprTrait, Func, Query},
};

use crate::{
    entity::{customer, customer_tag},
    mapping::dimension_column,
};

/// The SQL of `employee_count` as ordered and indexed: unknown counts as -1. The text matches
/// the expression index of the migration so that the index is used.
const EMPLOYEE_COUNT_KEY: &str = "COALESCE(customers.employee_count, -1)";

fn col(column: customer::Column) -> Expr {
    Expr::col((customer::Entity, column))
}

fn column_of(field: FilterField) -> Option<customer::Column> {
    use customer::Column as C;
    Some(match field {
        FilterField::DisplayName => C::DisplayName,
        FilterField::ContactFullName => C::ContactFullName,
        FilterField::ContactJobTitle => C::ContactJobTitle,
        FilterField::ContactEmail => C::ContactEmail,
        FilterField::ContactPhone => C::ContactPhone,
        FilterField::RegionSubdivision => C::RegionSubdivision,
        FilterField::RegionCity => C::RegionCity,
        FilterField::RegionCountryCode => C::RegionCountryCode,
        FilterField::Owner => C::Owner,
        FilterField::Department => C::Department,
        FilterField::Industry => C::Industry,
        FilterField::Kind => C::Kind,
        FilterField::ContactJobRank => C::ContactJobRank,
        FilterField::ContactDecisionRole => C::ContactDecisionRole,
        FilterField::EmployeeCount => C::EmployeeCount,
        FilterField::KeyAccount => C::KeyAccount,
        FilterField::Churned => C::Churned,
        FilterField::CreateTime => C::CreateTime,
        FilterField::UpdateTime => C::UpdateTime,
        FilterField::DeleteTime => C::DeleteTime,
        FilterField::Score => C::Score,
        FilterField::Class(dimension) => dimension_column(dimension),
        FilterField::Tags | FilterField::Needs => return None,
    })
}

fn value_of(field: FilterField, value: &FilterValue) -> Value {
    match value {
        // Country codes are stored in uppercase; accept any case in filters as on input.
        FilterValue::String(s) if field == FilterField::RegionCountryCode => s.to_ascii_uppercase().into(),
        FilterValue::String(s) => s.clone().into(),
        FilterValue::Enum(name) => (*name).to_owned().into(),
        FilterValue::Int(n) => (*n).into(),
        FilterValue::Bool(b) => (*b).into(),
        FilterValue::Timestamp(t) => (*t).into(),
    }
}

/// The condition selecting the customers `filter` matches.
pub(crate) fn filter_condition(filter: &Filter) -> Condition {
    match filter {
        Filter::And(parts) => parts.iter().fold(Condition::all(), |c, f| c.add(filter_condition(f))),
        Filter::Or(parts) => parts.iter().fold(Condition::any(), |c, f| c.add(filter_condition(f))),
        Filter::Not(inner) => filter_condition(inner).not(),
        Filter::Compare { field, op, value } => compare(*field, *op, value),
        Filter::Has { field, value } => has(*field, value),
    }
}

fn compare(field: FilterField, op: CompareOp, value: &FilterValue) -> Condition {
    let Some(column) = column_of(field) else {
        // The parser only allows `:` on repeated fields; a comparison on one matches nothing.
        return Condition::all().add(Expr::val(1).eq(0));
    };
    let c = col(column);
    if matches!(value, FilterValue::String(s) if s.is_empty()) {
        return match op {
            CompareOp::Eq => Condition::all().add(c.is_null()),
            CompareOp::Ne => Condition::all().add(c.is_not_null()),
            _ => Condition::all()
                .add(c.clone().is_not_null())
                .add(compare_present(c, op, Value::from(""))),
        };
    }
    let v = value_of(field, value);
    match op {
        CompareOp::Ne => Condition::any().add(c.clone().is_null()).add(c.ne(v)),
        _ => Condition::all()
            .add(c.clone().is_not_null())
            .add(compare_present(c, op, v)),
    }
}

fn compare_present(c: Expr, op: CompareOp, v: Value) -> Expr {
    match op {
        CompareOp::Eq => c.eq(v),
        CompareOp::Ne => c.ne(v),
        CompareOp::Lt => c.lt(v),
        CompareOp::Le => c.lte(v),
        CompareOp::Gt => c.gt(v),
        CompareOp::Ge => c.gte(v),
        CompareOp::StartsWith => {
            // `substr` counts characters and compares exactly in both SQLite and PostgreSQL,
            // unlike LIKE, whose case sensitivity differs between them. The length is an `i32`
            // because PostgreSQL has only `substr(text, integer, integer)`, no bigint variant.
            let length = match &v {
                Value::String(Some(s)) => i32::try_from(s.chars().count()).unwrap_or(i32::MAX),
                _ => 0,
            };
            Expr::from(Func::cust("substr").args([c, Expr::val(1), Expr::val(length)])).eq(v)
        }
    }
}

fn has(field: FilterField, value: &FilterValue) -> Condition {
    match (field, value) {
        (FilterField::Tags, FilterValue::String(tag)) => Condition::all().add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(customer_tag::Entity)
                .and_where(
                    Expr::col((customer_tag::Entity, customer_tag::Column::CustomerId))
                        .equals((customer::Entity, customer::Column::Id)),
                )
                .and_where(Expr::col((customer_tag::Entity, customer_tag::Column::Tag)).eq(tag.clone()))
                .to_owned(),
        )),
        (FilterField::Needs, FilterValue::Enum(name)) => {
            let bit = CustomerNeed::from_name(name).map_or(0, |need| i64::from(Needs::from_iter([need]).bits()));
            Condition::all().add(col(customer::Column::Needs).bit_and(bit).ne(0))
        }
        // The parser rejects every other combination.
        _ => Condition::all().add(Expr::val(1).eq(0)),
    }
}

/// A list scope as a condition on `customers`.
pub(crate) enum ScopeFilter {
    /// Every customer: no condition.
    All,
    /// No customer: do not query.
    Nothing,
    /// The customers matching the condition.
    Where(Condition),
}

/// `grade IN (grades)`, plus `OR grade IS NULL` when the set admits unclassified customers
/// (they count as POTENTIAL). Grades are stored by name.
fn grade_condition(grades: GradeSet) -> Condition {
    let names: Vec<String> = grades.iter().map(|g| g.name().to_owned()).collect();
    let mut any = Condition::any().add(col(customer::Column::Grade).is_in(names));
    if grades.admits(None) {
        any = any.add(col(customer::Column::Grade).is_null());
    }
    any
}

/// The condition of a list scope (see `ListScope`'s documentation for the rule):
/// `department IN (unlimited departments) OR owner IN (unlimited owners)`, then one
/// `(department = d AND grade IN (…))` or `(owner = o AND grade IN (…))` per grade-limited
/// clause, then `grade IN (…)` for an ALL binding limited to grades. Both columns are nullable
/// and `NULL IN (...)` is never true, so a customer without a department or owner is only visible
/// through the other column. The unlimited halves are answered from the `(department, id)` and
/// `(owner, id)` indexes.
pub(crate) fn scope_filter(scope: &ListScope) -> ScopeFilter {
    let (departments, owners, all_with_grades) = match scope {
        ListScope::Everything => return ScopeFilter::All,
        ListScope::Nothing => return ScopeFilter::Nothing,
        ListScope::Restricted {
            departments,
            owners,
            all_with_grades,
        } => (departments, owners, all_with_grades),
    };
    let mut any = Condition::any();
    let mut clauses = |column: customer::Column, items: Vec<(String, GradeSet)>| {
        let unlimited: Vec<String> = items
            .iter()
            .filter(|(_, g)| g.is_empty())
            .map(|(v, _)| v.clone())
            .collect();
        if !unlimited.is_empty() {
            any = std::mem::replace(&mut any, Condition::any()).add(col(column).is_in(unlimited));
        }
        for (value, grades) in items.into_iter().filter(|(_, g)| !g.is_empty()) {
            any = std::mem::replace(&mut any, Condition::any())
                .add(Condition::all().add(col(column).eq(value)).add(grade_condition(grades)));
        }
    };
    clauses(
        customer::Column::Department,
        departments.iter().map(|(d, g)| (d.as_str().to_owned(), *g)).collect(),
    );
    clauses(
        customer::Column::Owner,
        owners.iter().map(|(o, g)| (o.as_str().to_owned(), *g)).collect(),
    );
    if let Some(grades) = all_with_grades {
        any = any.add(grade_condition(*grades));
    }
    if any.is_empty() {
        ScopeFilter::Nothing
    } else {
        ScopeFilter::Where(any)
    }
}

/// The sort key of a dimension, the storage code of the stored name with NULL (unclassified) as
/// [`UNCLASSIFIED_CODE`]: `CASE WHEN grade = 'VIP' THEN 1 WHEN grade = 'KEY' THEN 2 … ELSE 32767
/// END`, names and codes bound. No index serves it; the `(grade, id)`-style indexes serve filters.
fn dimension_key(dimension: Dimension) -> Expr {
    let column = dimension_column(dimension);
    ClassValue::all_of(dimension)
        .into_iter()
        .fold(CaseStatement::new(), |case, value| {
            case.case(col(column).eq(value.name()), i64::from(value.code()))
        })
        .finally(UNCLASSIFIED_CODE)
        .into()
}

/// The SQL expression a sort field orders by.
pub(crate) fn sort_expr(field: SortField) -> Expr {
    match field {
        SortField::DisplayName => col(customer::Column::DisplayName),
        SortField::CreateTime => col(customer::Column::CreateTime),
        SortField::UpdateTime => col(customer::Column::UpdateTime),
        SortField::EmployeeCount => Expr::cust(EMPLOYEE_COUNT_KEY),
        SortField::Class(dimension) => dimension_key(dimension),
        SortField::Score => Expr::cust(format!("COALESCE(customers.score, {UNCLASSIFIED_SCORE})")),
    }
}

fn key_value(key: &SortKey) -> Value {
    match key {
        SortKey::Text(s) => s.clone().into(),
        SortKey::Time(t) => (*t).into(),
        SortKey::Int(n) => (*n).into(),
    }
}

/// The condition selecting the rows after `cursor` in `order`: rows whose keys (then id) sort
/// strictly after the cursor's. When every term runs the same way this is one row-value
/// comparison, which both databases answer from the matching index.
pub(crate) fn after_cursor(order: &OrderBy, cursor: &Cursor) -> Condition {
    let mut keys: Vec<(Expr, Value, bool)> = order
        .terms()
        .iter()
        .zip(&cursor.keys)
        .map(|(term, key)| (sort_expr(term.field), key_value(key), term.descending))
        .collect();
    keys.push((
        col(customer::Column::Id),
        cursor.id.as_str().to_owned().into(),
        order.id_descending(),
    ));

    let descending = order.id_descending();
    if keys.iter().all(|(_, _, d)| *d == descending) {
        let (exprs, values): (Vec<Expr>, Vec<Expr>) = keys.into_iter().map(|(e, v, _)| (e, Expr::val(v))).unzip();
        let left = Expr::tuple(exprs);
        let right = Expr::tuple(values);
        return Condition::all().add(if descending { left.lt(right) } else { left.gt(right) });
    }

    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut branch = Condition::all();
        for (expr, value, _) in &keys[..i] {
            branch = branch.add(expr.clone().eq(value.clone()));
        }
        let (expr, value, desc) = &keys[i];
        branch = branch.add(if *desc {
            expr.clone().lt(value.clone())
        } else {
            expr.clone().gt(value.clone())
        });
        any = any.add(branch);
    }
    any
}
