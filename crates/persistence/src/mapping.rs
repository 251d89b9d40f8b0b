//! Rows to domain values and back. A stored row that no longer parses is a bug or a manual edit;
//! it surfaces as `CustomerError::Unexpected` naming the column, never as a panic.

use crm_domain::classification::{ActivitySummary, Dimension, Grade, Money};
use crm_domain::{
    access::CustomerFacts,
    customer::{
        Contact, Customer, CustomerProfile, Version,
        values::{
            City, CountryCode, CustomerId, CustomerKind, DecisionRole, Department, DisplayName, Email, EmployeeCount,
            Industry, InvalidValue, JobRank, JobTitle, Needs, PersonName, Phone, PrincipalName, Region, Subdivision,
            Tags,
        },
    },
    error::CustomerError,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use crate::entity::customer;

fn corrupt(id: &str, column: &str, reason: impl std::fmt::Display) -> CustomerError {
    CustomerError::unexpected(format!("stored customer {id} has an invalid {column}: {reason}"))
}

fn parse<T>(id: &str, column: &str, result: Result<T, InvalidValue>) -> Result<T, CustomerError> {
    result.map_err(|e| corrupt(id, column, e))
}

fn parse_opt<T>(
    id: &str,
    column: &str,
    raw: Option<&str>,
    parse_fn: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> Result<Option<T>, CustomerError> {
    raw.map(|raw| parse(id, column, parse_fn(raw))).transpose()
}

fn named<T>(
    id: &str,
    column: &str,
    raw: Option<&str>,
    from_name: fn(&str) -> Option<T>,
) -> Result<Option<T>, CustomerError> {
    raw.map(|raw| from_name(raw).ok_or_else(|| corrupt(id, column, format!("unknown name {raw:?}"))))
        .transpose()
}

/// Builds the domain customer from its row and its tags.
pub(crate) fn customer_from_row(row: &customer::Model, tags: &[&str]) -> Result<Customer, CustomerError> {
    let id = row.id.as_str();
    let region = match row.region_country_code.as_deref() {
        None => None,
        Some(code) => Some(Region {
            country_code: parse(id, "region_country_code", CountryCode::parse(code))?,
            subdivision: parse_opt(
                id,
                "region_subdivision",
                row.region_subdivision.as_deref(),
                Subdivision::parse,
            )?,
            city: parse_opt(id, "region_city", row.region_city.as_deref(), City::parse)?,
        }),
    };
    let needs = u8::try_from(row.needs)
        .map_err(|e| corrupt(id, "needs", e))
        .and_then(|bits| parse(id, "needs", Needs::from_bits(bits)))?;
    let profile = CustomerProfile {
        display_name: parse(id, "display_name", DisplayName::parse(&row.display_name))?,
        kind: CustomerKind::from_name(&row.kind).ok_or_else(|| corrupt(id, "kind", &row.kind))?,
        contact: Contact {
            full_name: parse_opt(
                id,
                "contact_full_name",
                row.contact_full_name.as_deref(),
                PersonName::parse,
            )?,
            job_title: parse_opt(
                id,
                "contact_job_title",
                row.contact_job_title.as_deref(),
                JobTitle::parse,
            )?,
            job_rank: named(
                id,
                "contact_job_rank",
                row.contact_job_rank.as_deref(),
                JobRank::from_name,
            )?,
            decision_role: named(
                id,
                "contact_decision_role",
                row.contact_decision_role.as_deref(),
                DecisionRole::from_name,
            )?,
            email: parse_opt(id, "contact_email", row.contact_email.as_deref(), Email::parse)?,
            phone: parse_opt(id, "contact_phone", row.contact_phone.as_deref(), Phone::parse)?,
        },
        industry: parse_opt(id, "industry", row.industry.as_deref(), Industry::parse)?,
        employee_count: row
            .employee_count
            .map(|n| parse(id, "employee_count", EmployeeCount::new(n)))
            .transpose()?,
        region,
        needs,
        key_account: row.key_account,
        churned: row.churned,
        owner: parse_opt(id, "owner", row.owner.as_deref(), PrincipalName::parse)?,
        department: parse_opt(id, "department", row.department.as_deref(), Department::parse)?,
        tags: Tags::parse(tags).map_err(|errors| corrupt(id, "tags", format!("{errors:?}")))?,
    };
    let activity = ActivitySummary {
        window_orders: u32::try_from(row.window_orders).map_err(|e| corrupt(id, "window_orders", e))?,
        window_revenue: Money::from_micros(row.window_revenue_micros),
        first_purchase: row.first_purchase_time,
        last_purchase: row.last_purchase_time,
    };
    let classification = row
        .classification
        .as_deref()
        .map(crate::stored::classification_from_json)
        .transpose()?;
    Ok(Customer {
        id: parse(id, "id", CustomerId::parse(id))?,
        profile,
        create_time: row.create_time,
        update_time: row.update_time,
        delete_time: row.delete_time,
        version: Version::new(row.version),
        activity,
        classification,
    })
}

/// The grade stored in a customer's `grade` column.
pub(crate) fn grade_from_column(id: &str, grade: Option<&str>) -> Result<Option<Grade>, CustomerError> {
    named(id, "grade", grade, Grade::from_name)
}

/// The customers column a dimension's value is stored in, by name (`VIP`); NULL while the
/// customer is not classified. The one place that maps a dimension to its column.
pub(crate) fn dimension_column(dimension: Dimension) -> customer::Column {
    match dimension {
        Dimension::RankTier => customer::Column::RankTier,
        Dimension::ValueTier => customer::Column::ValueTier,
        Dimension::LifecycleStage => customer::Column::LifecycleStage,
        Dimension::Behaviour => customer::Column::Behaviour,
        Dimension::SizeSegment => customer::Column::SizeSegment,
        Dimension::Grade => customer::Column::Grade,
    }
}

/// Sets the aggregate and classification columns of `row` from `customer`.
pub(crate) fn set_classification_columns(row: &mut customer::ActiveModel, customer: &Customer) {
    let a = &customer.activity;
    row.window_orders = Set(i32::try_from(a.window_orders).unwrap_or(i32::MAX));
    row.window_revenue_micros = Set(a.window_revenue.micros());
    row.first_purchase_time = Set(a.first_purchase);
    row.last_purchase_time = Set(a.last_purchase);
    let c = customer.classification.as_ref();
    for dimension in Dimension::ALL {
        let name = c.map(|c| c.value(dimension).name().to_owned());
        row.set(dimension_column(dimension), name.into());
    }
    row.score = Set(c.map(|c| i16::from(c.score)));
    row.policy_version = Set(c.map(|c| c.policy_version.get()));
    row.classification = Set(c.map(crate::stored::classification_to_json));
}

/// The id and [`CustomerFacts`] of a customer from its `id`, `owner`, `department` and `grade`
/// columns.
pub(crate) fn facts_from_columns(
    id: &str,
    owner: Option<&str>,
    department: Option<&str>,
    grade: Option<&str>,
) -> Result<(CustomerId, CustomerFacts), CustomerError> {
    let facts = CustomerFacts {
        owner: parse_opt(id, "owner", owner, PrincipalName::parse)?,
        department: parse_opt(id, "department", department, Department::parse)?,
        grade: grade_from_column(id, grade)?,
    };
    Ok((parse(id, "id", CustomerId::parse(id))?, facts))
}

/// The row of a customer: every column set, ready to insert or to overwrite the stored row.
/// `request_id` is only written on insert.
pub(crate) fn row_from_customer(customer: &Customer, request_id: Option<String>) -> customer::ActiveModel {
    let p = &customer.profile;
    let text = |s: Option<&str>| s.map(str::to_owned);
    let mut row = customer::ActiveModel {
        id: Set(customer.id.as_str().to_owned()),
        display_name: Set(p.display_name.as_str().to_owned()),
        kind: Set(p.kind.name().to_owned()),
        contact_full_name: Set(text(p.contact.full_name.as_ref().map(PersonName::as_str))),
        contact_job_title: Set(text(p.contact.job_title.as_ref().map(JobTitle::as_str))),
        contact_job_rank: Set(p.contact.job_rank.map(|r| r.name().to_owned())),
        contact_decision_role: Set(p.contact.decision_role.map(|r| r.name().to_owned())),
        contact_email: Set(text(p.contact.email.as_ref().map(Email::as_str))),
        contact_phone: Set(text(p.contact.phone.as_ref().map(Phone::as_str))),
        industry: Set(p.industry.map(|i| i.code().to_owned())),
        employee_count: Set(p.employee_count.map(|c| i64::from(c.get()))),
        region_country_code: Set(p.region.as_ref().map(|r| r.country_code.as_str().to_owned())),
        region_subdivision: Set(p
            .region
            .as_ref()
            .and_then(|r| r.subdivision.as_ref())
            .map(|s| s.as_str().to_owned())),
        region_city: Set(p
            .region
            .as_ref()
            .and_then(|r| r.city.as_ref())
            .map(|c| c.as_str().to_owned())),
        needs: Set(i16::from(p.needs.bits())),
        key_account: Set(p.key_account),
        churned: Set(p.churned),
        owner: Set(p.owner.as_ref().map(|o| o.as_str().to_owned())),
        department: Set(p.department.as_ref().map(|d| d.as_str().to_owned())),
        create_time: Set(customer.create_time),
        update_time: Set(customer.update_time),
        delete_time: Set(customer.delete_time),
        version: Set(customer.version.get()),
        request_id: Set(request_id),
        ..Default::default()
    };
    set_classification_columns(&mut row, customer);
    row
}

#[cfg(test)]
mod tests {
    use sea_orm::IdenStatic;

    use super::*;

    #[test]
    fn each_dimension_is_stored_in_the_column_of_its_field_name() {
        // Tools that write SQL by hand (crm-loadgen's reset) name the columns by field.
        for dimension in Dimension::ALL {
            assert_eq!(dimension_column(dimension).as_str(), dimension.field());
        }
    }
}
