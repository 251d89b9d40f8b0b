//! Proto messages to domain values and back. Requests are parsed here, at the edge, into types
//! that cannot hold a bad value; every invalid field is collected (with its path as written in
//! the request) so that a caller learns about all of them at once.

use chrono::{DateTime, Utc};
use crm_api::crm::v1 as pb;
use crm_domain::{
    customer::{
        Contact, Customer, CustomerProfile, ProfileChange, parse_resource_name,
        values::{
            City, CountryCode, CustomerId, CustomerKind, CustomerNeed, DecisionRole, Department, DisplayName, Email,
            EmployeeCount, Industry, JobRank, JobTitle, Needs, PersonName, Phone, PrincipalName, Region, Subdivision,
            Tags,
        },
    },
    error::Violations,
    text::echo,
};

use crate::classification::state::Reporting;

/// A prost timestamp for `time`.
pub(crate) fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A customer as the contract shows it; money in `reporting.currency`.
pub(crate) fn customer_to_proto(customer: &Customer, reporting: Reporting<'_>) -> pb::Customer {
    let p = &customer.profile;
    let c = &p.contact;
    let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
    pb::Customer {
        name: customer.resource_name(),
        display_name: p.display_name.as_str().to_owned(),
        kind: kind_to_proto(p.kind) as i32,
        contact: (!c.is_empty()).then(|| pb::Contact {
            full_name: text(c.full_name.as_ref().map(PersonName::as_str)),
            job_title: text(c.job_title.as_ref().map(JobTitle::as_str)),
            job_rank: c.job_rank.map_or(pb::JobRank::Unspecified, job_rank_to_proto) as i32,
            decision_role: c
                .decision_role
                .map_or(pb::DecisionRole::Unspecified, decision_role_to_proto) as i32,
            email: text(c.email.as_ref().map(Email::as_str)),
            phone: text(c.phone.as_ref().map(Phone::as_str)),
        }),
        industry: p.industry.map(|i| i.code().to_owned()).unwrap_or_default(),
        employee_count: p.employee_count.map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX)),
        region: p.region.as_ref().map(|r| pb::Region {
            country_code: r.country_code.as_str().to_owned(),
            subdivision: text(r.subdivision.as_ref().map(Subdivision::as_str)),
            city: text(r.city.as_ref().map(City::as_str)),
        }),
        needs: p.needs.iter().map(|n| need_to_proto(n) as i32).collect(),
        key_account: p.key_account,
        churned: p.churned,
        owner: p.owner.as_ref().map(|o| o.as_str().to_owned()).unwrap_or_default(),
        department: p.department.as_ref().map(|d| d.as_str().to_owned()).unwrap_or_default(),
        tags: p.tags.iter().map(|t| t.as_str().to_owned()).collect(),
        create_time: Some(timestamp(customer.create_time)),
        update_time: Some(timestamp(customer.update_time)),
        delete_time: customer.delete_time.map(timestamp),
        etag: customer.etag(),
        classification: customer
            .classification
            .as_ref()
            .map(crate::classification::convert::classification_to_proto),
        activity: Some(crate::classification::convert::activity_to_proto(
            &customer.activity,
            reporting.window_days,
            reporting.currency,
        )),
    }
}

fn kind_to_proto(kind: CustomerKind) -> pb::CustomerKind {
    match kind {
        CustomerKind::Organization => pb::CustomerKind::Organization,
        CustomerKind::Individual => pb::CustomerKind::Individual,
    }
}

fn job_rank_to_proto(rank: JobRank) -> pb::JobRank {
    match rank {
        JobRank::Executive => pb::JobRank::Executive,
        JobRank::Middle => pb::JobRank::Middle,
        JobRank::Frontline => pb::JobRank::Frontline,
    }
}

fn decision_role_to_proto(role: DecisionRole) -> pb::DecisionRole {
    match role {
        DecisionRole::DecisionMaker => pb::DecisionRole::DecisionMaker,
        DecisionRole::Influencer => pb::DecisionRole::Influencer,
        DecisionRole::User => pb::DecisionRole::User,
    }
}

fn need_to_proto(need: CustomerNeed) -> pb::CustomerNeed {
    match need {
        CustomerNeed::PriceSensitive => pb::CustomerNeed::PriceSensitive,
        CustomerNeed::FunctionFocused => pb::CustomerNeed::FunctionFocused,
        CustomerNeed::QualityFocused => pb::CustomerNeed::QualityFocused,
        CustomerNeed::ServiceFocused => pb::CustomerNeed::ServiceFocused,
    }
}

/// Parses a proto enum number: `Ok(None)` for the zero `*_UNSPECIFIED` value, a violation for a
/// number the proto does not define.
fn enum_value<P: TryFrom<i32>, T>(
    v: &mut Violations,
    path: &str,
    raw: i32,
    is_unspecified: fn(&P) -> bool,
    map: fn(P) -> T,
) -> Option<T> {
    match P::try_from(raw) {
        Ok(p) if is_unspecified(&p) => None,
        Ok(p) => Some(map(p)),
        Err(_) => {
            v.add(path, format!("unknown enum value {raw}"));
            None
        }
    }
}

fn kind(v: &mut Violations, path: &str, raw: i32) -> Option<CustomerKind> {
    let kind = enum_value(
        v,
        path,
        raw,
        |k| *k == pb::CustomerKind::Unspecified,
        |k| match k {
            pb::CustomerKind::Individual => CustomerKind::Individual,
            pb::CustomerKind::Organization | pb::CustomerKind::Unspecified => CustomerKind::Organization,
        },
    );
    if kind.is_none() && raw == 0 {
        v.add(
            path,
            "is required: CUSTOMER_KIND_ORGANIZATION or CUSTOMER_KIND_INDIVIDUAL",
        );
    }
    kind
}

fn job_rank(v: &mut Violations, path: &str, raw: i32) -> Option<JobRank> {
    enum_value(
        v,
        path,
        raw,
        |r| *r == pb::JobRank::Unspecified,
        |r| match r {
            pb::JobRank::Executive => JobRank::Executive,
            pb::JobRank::Middle => JobRank::Middle,
            pb::JobRank::Frontline | pb::JobRank::Unspecified => JobRank::Frontline,
        },
    )
}

fn decision_role(v: &mut Violations, path: &str, raw: i32) -> Option<DecisionRole> {
    enum_value(
        v,
        path,
        raw,
        |r| *r == pb::DecisionRole::Unspecified,
        |r| match r {
            pb::DecisionRole::DecisionMaker => DecisionRole::DecisionMaker,
            pb::DecisionRole::Influencer => DecisionRole::Influencer,
            pb::DecisionRole::User | pb::DecisionRole::Unspecified => DecisionRole::User,
        },
    )
}

fn needs(v: &mut Violations, path: &str, raw: &[i32]) -> Needs {
    let mut set = Needs::default();
    for (i, n) in raw.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let need = enum_value(
            v,
            &item_path,
            *n,
            |n| *n == pb::CustomerNeed::Unspecified,
            |n| match n {
                pb::CustomerNeed::PriceSensitive | pb::CustomerNeed::Unspecified => CustomerNeed::PriceSensitive,
                pb::CustomerNeed::FunctionFocused => CustomerNeed::FunctionFocused,
                pb::CustomerNeed::QualityFocused => CustomerNeed::QualityFocused,
                pb::CustomerNeed::ServiceFocused => CustomerNeed::ServiceFocused,
            },
        );
        match need {
            Some(need) => set.insert(need),
            None if *n == 0 => v.add(item_path, "CUSTOMER_NEED_UNSPECIFIED is not a need"),
            None => {}
        }
    }
    set
}

fn tags(v: &mut Violations, path: &str, raw: &[String]) -> Tags {
    Tags::parse(raw).unwrap_or_else(|errors| {
        for (i, e) in errors {
            v.add(format!("{path}[{i}]"), e.0);
        }
        Tags::default()
    })
}

fn employee_count(v: &mut Violations, path: &str, raw: Option<i32>) -> Option<EmployeeCount> {
    raw.and_then(|n| v.check(path, EmployeeCount::new(i64::from(n))))
}

fn contact(v: &mut Violations, path: &str, raw: Option<&pb::Contact>) -> Contact {
    let Some(c) = raw else { return Contact::default() };
    Contact {
        full_name: v.check_optional(format!("{path}.full_name"), &c.full_name, PersonName::parse),
        job_title: v.check_optional(format!("{path}.job_title"), &c.job_title, JobTitle::parse),
        job_rank: job_rank(v, &format!("{path}.job_rank"), c.job_rank),
        decision_role: decision_role(v, &format!("{path}.decision_role"), c.decision_role),
        email: v.check_optional(format!("{path}.email"), &c.email, Email::parse),
        phone: v.check_optional(format!("{path}.phone"), &c.phone, Phone::parse),
    }
}

/// A contact in an update, where the phone may be the masked form read earlier (the domain
/// keeps the stored number when it is).
fn contact_change(v: &mut Violations, path: &str, raw: Option<&pb::Contact>) -> Contact {
    let Some(c) = raw else { return Contact::default() };
    let without_phone = pb::Contact {
        phone: String::new(),
        ..c.clone()
    };
    let rest = contact(v, path, Some(&without_phone));
    Contact {
        phone: v.check_optional(format!("{path}.phone"), &c.phone, Phone::parse_or_masked),
        ..rest
    }
}

fn country_code(v: &mut Violations, path: &str, raw: &str) -> Option<CountryCode> {
    if raw.trim().is_empty() {
        v.add(
            path,
            "is required when a region is given (an ISO 3166-1 alpha-2 code such as CN or DE)",
        );
        return None;
    }
    v.check(path, CountryCode::parse(raw))
}

fn region(v: &mut Violations, path: &str, raw: Option<&pb::Region>) -> Option<Region> {
    let r = raw?;
    let country_code = country_code(v, &format!("{path}.country_code"), &r.country_code);
    let subdivision = v.check_optional(format!("{path}.subdivision"), &r.subdivision, Subdivision::parse);
    let city = v.check_optional(format!("{path}.city"), &r.city, City::parse);
    Some(Region {
        country_code: country_code?,
        subdivision,
        city,
    })
}

/// Parses a customer's settable fields for a create. Output-only fields are ignored.
pub(crate) fn profile(v: &mut Violations, path: &str, c: &pb::Customer) -> Option<CustomerProfile> {
    let display_name = v.check(format!("{path}.display_name"), DisplayName::parse(&c.display_name));
    let kind = kind(v, &format!("{path}.kind"), c.kind);
    Some(CustomerProfile {
        contact: contact(v, &format!("{path}.contact"), c.contact.as_ref()),
        industry: v.check_optional(format!("{path}.industry"), &c.industry, Industry::parse),
        employee_count: employee_count(v, &format!("{path}.employee_count"), c.employee_count),
        region: region(v, &format!("{path}.region"), c.region.as_ref()),
        needs: needs(v, &format!("{path}.needs"), &c.needs),
        key_account: c.key_account,
        churned: c.churned,
        owner: v.check_optional(format!("{path}.owner"), &c.owner, PrincipalName::parse),
        department: v.check_optional(format!("{path}.department"), &c.department, Department::parse),
        tags: tags(v, &format!("{path}.tags"), &c.tags),
        display_name: display_name?,
        kind: kind?,
    })
}

/// Parses a customer resource name, recording a violation under `path` if it is malformed.
pub(crate) fn customer_name(v: &mut Violations, path: &str, raw: &str) -> Option<CustomerId> {
    if raw.is_empty() {
        v.add(path, "is required: a customer resource name `customers/{id}`");
        return None;
    }
    v.check(path, parse_resource_name(raw))
}

/// Every path an update mask may name, in the order changes are applied: a whole message before
/// its parts, and `region.country_code` before the other region parts (so that a customer
/// without a region can get one in a single update).
pub(crate) const UPDATABLE_PATHS: &[&str] = &[
    "display_name",
    "kind",
    "contact",
    "contact.full_name",
    "contact.job_title",
    "contact.job_rank",
    "contact.decision_role",
    "contact.email",
    "contact.phone",
    "industry",
    "employee_count",
    "region",
    "region.country_code",
    "region.subdivision",
    "region.city",
    "needs",
    "key_account",
    "churned",
    "owner",
    "department",
    "tags",
];

/// Paths of `Customer` that are output only: naming them in a mask is a mistake worth reporting.
const OUTPUT_ONLY_PATHS: &[&str] = &["name", "create_time", "update_time", "delete_time", "etag"];

/// The paths AIP-134 implies when the mask is empty: every field the request populates.
fn implied_paths(c: &pb::Customer) -> Vec<&'static str> {
    let mut paths = Vec::new();
    let mut push = |set: bool, path: &'static str| {
        if set {
            paths.push(path);
        }
    };
    push(!c.display_name.is_empty(), "display_name");
    push(c.kind != 0, "kind");
    if let Some(contact) = &c.contact {
        push(!contact.full_name.is_empty(), "contact.full_name");
        push(!contact.job_title.is_empty(), "contact.job_title");
        push(contact.job_rank != 0, "contact.job_rank");
        push(contact.decision_role != 0, "contact.decision_role");
        push(!contact.email.is_empty(), "contact.email");
        push(!contact.phone.is_empty(), "contact.phone");
    }
    push(!c.industry.is_empty(), "industry");
    push(c.employee_count.is_some(), "employee_count");
    if let Some(region) = &c.region {
        push(!region.country_code.is_empty(), "region.country_code");
        push(!region.subdivision.is_empty(), "region.subdivision");
        push(!region.city.is_empty(), "region.city");
    }
    push(!c.needs.is_empty(), "needs");
    push(c.key_account, "key_account");
    push(c.churned, "churned");
    push(!c.owner.is_empty(), "owner");
    push(!c.department.is_empty(), "department");
    push(!c.tags.is_empty(), "tags");
    paths
}

/// The changes an update asks for: the masked fields of `c`, parsed. `*` names every updatable
/// field; an empty mask names every field the request populates (AIP-134).
pub(crate) fn changes(
    v: &mut Violations,
    c: &pb::Customer,
    mask: Option<&prost_types::FieldMask>,
) -> Vec<ProfileChange> {
    let requested: Vec<String> = mask.map(|m| m.paths.clone()).unwrap_or_default();
    let selected: Vec<&'static str> = if requested.is_empty() {
        implied_paths(c)
    } else if requested.iter().any(|p| p.trim() == "*") {
        if requested.len() > 1 {
            v.add("update_mask.paths", "`*` cannot be combined with other paths");
        }
        UPDATABLE_PATHS.to_vec()
    } else {
        for (i, path) in requested.iter().enumerate() {
            let path = path.trim();
            if OUTPUT_ONLY_PATHS.contains(&path) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{path} is output only and cannot be updated"),
                );
            } else if !UPDATABLE_PATHS.contains(&path) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "unknown field {}; updatable fields are {}",
                        echo(path),
                        UPDATABLE_PATHS.join(", ")
                    ),
                );
            }
        }
        UPDATABLE_PATHS
            .iter()
            .copied()
            .filter(|p| requested.iter().any(|r| r.trim() == *p))
            .collect()
    };
    // A path inside a message that is itself selected adds nothing, as the whole message is
    // replaced; keeping it would re-check the part on its own, so that `*` (or `region` with
    // `region.country_code`) could not remove a region without being told a country code.
    let selected: Vec<&'static str> = selected
        .iter()
        .copied()
        .filter(|path| {
            path.split_once('.')
                .is_none_or(|(parent, _)| !selected.contains(&parent))
        })
        .collect();
    if selected.is_empty() && v.is_empty() {
        v.add(
            "update_mask",
            "names no field to change; list the fields in update_mask.paths or use `*`",
        );
    }

    let contact_msg = c.contact.clone().unwrap_or_default();
    let region_msg = c.region.clone().unwrap_or_default();
    let mut out = Vec::with_capacity(selected.len());
    for path in selected {
        let at = format!("customer.{path}");
        let change = match path {
            "display_name" => v
                .check(at, DisplayName::parse(&c.display_name))
                .map(ProfileChange::DisplayName),
            "kind" => kind(v, &at, c.kind).map(ProfileChange::Kind),
            "contact" => Some(ProfileChange::Contact(contact_change(v, &at, c.contact.as_ref()))),
            "contact.full_name" => Some(ProfileChange::ContactFullName(v.check_optional(
                at,
                &contact_msg.full_name,
                PersonName::parse,
            ))),
            "contact.job_title" => Some(ProfileChange::ContactJobTitle(v.check_optional(
                at,
                &contact_msg.job_title,
                JobTitle::parse,
            ))),
            "contact.job_rank" => Some(ProfileChange::ContactJobRank(job_rank(v, &at, contact_msg.job_rank))),
            "contact.decision_role" => Some(ProfileChange::ContactDecisionRole(decision_role(
                v,
                &at,
                contact_msg.decision_role,
            ))),
            "contact.email" => Some(ProfileChange::ContactEmail(v.check_optional(
                at,
                &contact_msg.email,
                Email::parse,
            ))),
            "contact.phone" => Some(ProfileChange::ContactPhone(v.check_optional(
                at,
                &contact_msg.phone,
                Phone::parse_or_masked,
            ))),
            "industry" => Some(ProfileChange::Industry(v.check_optional(
                at,
                &c.industry,
                Industry::parse,
            ))),
            "employee_count" => Some(ProfileChange::EmployeeCount(employee_count(v, &at, c.employee_count))),
            "region" => Some(ProfileChange::Region(region(v, &at, c.region.as_ref()))),
            "region.country_code" => {
                country_code(v, &at, &region_msg.country_code).map(ProfileChange::RegionCountryCode)
            }
            "region.subdivision" => Some(ProfileChange::RegionSubdivision(v.check_optional(
                at,
                &region_msg.subdivision,
                Subdivision::parse,
            ))),
            "region.city" => Some(ProfileChange::RegionCity(v.check_optional(
                at,
                &region_msg.city,
                City::parse,
            ))),
            "needs" => Some(ProfileChange::Needs(needs(v, &at, &c.needs))),
            "key_account" => Some(ProfileChange::KeyAccount(c.key_account)),
            "churned" => Some(ProfileChange::Churned(c.churned)),
            "owner" => Some(ProfileChange::Owner(v.check_optional(
                at,
                &c.owner,
                PrincipalName::parse,
            ))),
            "department" => Some(ProfileChange::Department(v.check_optional(
                at,
                &c.department,
                Department::parse,
            ))),
            "tags" => Some(ProfileChange::Tags(tags(v, &at, &c.tags))),
            _ => None,
        };
        out.extend(change);
    }
    out
}
