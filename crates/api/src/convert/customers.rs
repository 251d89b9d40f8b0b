//! Customers: the resource to proto, and CreateCustomer and UpdateCustomer requests parsed into
//! the domain's values, every invalid field collected with its path as written in the request.
//! [`new_customer`] is what `crmd` creates with and what `crmctl customers import` validates each
//! row with before sending it.

use crm_domain::{
    customer::{
        Contact, Customer, CustomerProfile, NewCustomer, ProfileChange, RequestId, parse_resource_name,
        values::{
            City, CountryCode, CustomerId, CustomerKind, CustomerNeed, DecisionRole, Department, DisplayName, Email,
            EmployeeCount, Industry, InvalidValue, JobRank, JobTitle, Needs, PersonName, Phone, PrincipalName, Region,
            Subdivision, Tags,
        },
    },
    error::Violations,
    text::echo,
};

use super::{ProtoEnum, classification::Reporting, enum_optional, enum_required, timestamp};
use crate::{crm::v1 as pb, proto_enum};

proto_enum!(CustomerKind => CustomerKind {
    Organization = Organization,
    Individual = Individual,
});

proto_enum!(JobRank => JobRank {
    Executive = Executive,
    Middle = Middle,
    Frontline = Frontline,
});

proto_enum!(DecisionRole => DecisionRole {
    DecisionMaker = DecisionMaker,
    Influencer = Influencer,
    User = User,
});

proto_enum!(CustomerNeed => CustomerNeed {
    PriceSensitive = PriceSensitive,
    FunctionFocused = FunctionFocused,
    QualityFocused = QualityFocused,
    ServiceFocused = ServiceFocused,
});

/// A customer as the contract shows it; money in `reporting.currency`.
#[must_use]
pub fn customer_to_proto(customer: &Customer, reporting: Reporting<'_>) -> pb::Customer {
    let p = &customer.profile;
    let c = &p.contact;
    let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
    pb::Customer {
        name: customer.resource_name(),
        display_name: p.display_name.as_str().to_owned(),
        kind: p.kind.to_number(),
        contact: (!c.is_empty()).then(|| pb::Contact {
            full_name: text(c.full_name.as_ref().map(PersonName::as_str)),
            job_title: text(c.job_title.as_ref().map(JobTitle::as_str)),
            job_rank: JobRank::option_to_number(c.job_rank),
            decision_role: DecisionRole::option_to_number(c.decision_role),
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
        needs: p.needs.iter().map(CustomerNeed::to_number).collect(),
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
            .map(super::classification::classification_to_proto),
        activity: Some(super::classification::activity_to_proto(
            &customer.activity,
            reporting.window_days,
            reporting.currency,
        )),
    }
}

fn kind(v: &mut Violations, path: &str, raw: i32) -> Option<CustomerKind> {
    enum_required(
        v,
        path,
        raw,
        "is required: CUSTOMER_KIND_ORGANIZATION or CUSTOMER_KIND_INDIVIDUAL",
    )
}

fn needs(v: &mut Violations, path: &str, raw: &[i32]) -> Needs {
    let mut set = Needs::default();
    for (i, n) in raw.iter().enumerate() {
        let need = enum_required(
            v,
            &format!("{path}[{i}]"),
            *n,
            "CUSTOMER_NEED_UNSPECIFIED is not a need",
        );
        if let Some(need) = need {
            set.insert(need);
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

/// Parses a contact, its phone with `phone`: [`Phone::parse`] on create, and on update
/// [`Phone::parse_or_masked`], as the phone may be the masked form read earlier (the domain keeps
/// the stored number when it is).
fn contact(
    v: &mut Violations,
    path: &str,
    raw: Option<&pb::Contact>,
    phone_parse: fn(&str) -> Result<Phone, InvalidValue>,
) -> Contact {
    let Some(pb::Contact {
        full_name,
        job_title,
        job_rank,
        decision_role,
        email,
        phone,
    }) = raw
    else {
        return Contact::default();
    };
    Contact {
        full_name: v.check_optional(format!("{path}.full_name"), full_name, PersonName::parse),
        job_title: v.check_optional(format!("{path}.job_title"), job_title, JobTitle::parse),
        job_rank: enum_optional(v, &format!("{path}.job_rank"), *job_rank),
        decision_role: enum_optional(v, &format!("{path}.decision_role"), *decision_role),
        email: v.check_optional(format!("{path}.email"), email, Email::parse),
        phone: v.check_optional(format!("{path}.phone"), phone, phone_parse),
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
    let pb::Region {
        country_code: code,
        subdivision,
        city,
    } = raw?;
    let country_code = country_code(v, &format!("{path}.country_code"), code);
    let subdivision = v.check_optional(format!("{path}.subdivision"), subdivision, Subdivision::parse);
    let city = v.check_optional(format!("{path}.city"), city, City::parse);
    Some(Region {
        country_code: country_code?,
        subdivision,
        city,
    })
}

/// Parses a customer's settable fields for a create. Output-only fields are ignored.
fn profile(v: &mut Violations, path: &str, c: &pb::Customer) -> Option<CustomerProfile> {
    let pb::Customer {
        name: _,
        display_name,
        kind: raw_kind,
        contact: raw_contact,
        industry,
        employee_count: raw_employee_count,
        region: raw_region,
        needs: raw_needs,
        key_account,
        churned,
        owner,
        department,
        tags: raw_tags,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
        classification: _,
        activity: _,
    } = c;
    let display_name = v.check(format!("{path}.display_name"), DisplayName::parse(display_name));
    let kind = kind(v, &format!("{path}.kind"), *raw_kind);
    Some(CustomerProfile {
        contact: contact(v, &format!("{path}.contact"), raw_contact.as_ref(), Phone::parse),
        industry: v.check_optional(format!("{path}.industry"), industry, Industry::parse),
        employee_count: employee_count(v, &format!("{path}.employee_count"), *raw_employee_count),
        region: region(v, &format!("{path}.region"), raw_region.as_ref()),
        needs: needs(v, &format!("{path}.needs"), raw_needs),
        key_account: *key_account,
        churned: *churned,
        owner: v.check_optional(format!("{path}.owner"), owner, PrincipalName::parse),
        department: v.check_optional(format!("{path}.department"), department, Department::parse),
        tags: tags(v, &format!("{path}.tags"), raw_tags),
        display_name: display_name?,
        kind: kind?,
    })
}

/// Parses a CreateCustomer request: the id to give (`customer_id`, optional), the request id
/// (optional) and the customer's settable fields (`customer.*`; output-only fields are ignored).
/// `None` when a violation was recorded.
pub fn new_customer(v: &mut Violations, request: &pb::CreateCustomerRequest) -> Option<NewCustomer> {
    let pb::CreateCustomerRequest {
        customer,
        customer_id,
        request_id,
    } = request;
    let id = v.check_optional("customer_id", customer_id, CustomerId::parse);
    let request_id = v.check_optional("request_id", request_id, RequestId::parse);
    let profile = match customer {
        Some(customer) => profile(v, "customer", customer),
        None => {
            v.add("customer", "is required");
            None
        }
    };
    Some(NewCustomer {
        id,
        profile: profile?,
        request_id,
    })
}

/// Parses a customer resource name, recording a violation under `path` if it is malformed.
pub fn customer_name(v: &mut Violations, path: &str, raw: &str) -> Option<CustomerId> {
    if raw.is_empty() {
        v.add(path, "is required: a customer resource name `customers/{id}`");
        return None;
    }
    v.check(path, parse_resource_name(raw))
}

/// Every path an update mask may name, in the order changes are applied: a whole message before
/// its parts, and `region.country_code` before the other region parts (so that a customer
/// without a region can get one in a single update).
pub const UPDATABLE_PATHS: &[&str] = &[
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

/// The paths of [`UPDATABLE_PATHS`] that name a whole message (each of its parts has a path too).
const MESSAGE_PATHS: &[&str] = &["contact", "region"];

/// The paths of [`UPDATABLE_PATHS`] whose field a customer always has (a value, or a flag that
/// is true or false): an update may change them but not clear them.
const ALWAYS_SET_PATHS: &[&str] = &["display_name", "kind", "region.country_code", "key_account", "churned"];

/// The paths of every settable field that holds one value (no whole message), in the order of
/// [`UPDATABLE_PATHS`]: the columns `crmctl` imports and exports.
pub fn field_paths() -> impl Iterator<Item = &'static str> {
    UPDATABLE_PATHS.iter().copied().filter(|p| !MESSAGE_PATHS.contains(p))
}

/// The paths an update may clear (name in its mask with the field left empty), in the order of
/// [`UPDATABLE_PATHS`]: every field a customer may lack, and the two optional messages.
pub fn clearable_paths() -> impl Iterator<Item = &'static str> {
    UPDATABLE_PATHS
        .iter()
        .copied()
        .filter(|p| !ALWAYS_SET_PATHS.contains(p))
}

/// Paths of `Customer` that are output only: naming them in a mask is a mistake worth reporting.
pub const OUTPUT_ONLY_PATHS: &[&str] = &["name", "create_time", "update_time", "delete_time", "etag"];

/// The paths AIP-134 implies when the mask is empty: every field the request populates.
fn implied_paths(c: &pb::Customer) -> Vec<&'static str> {
    let pb::Customer {
        name: _,
        display_name,
        kind,
        contact,
        industry,
        employee_count,
        region,
        needs,
        key_account,
        churned,
        owner,
        department,
        tags,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
        classification: _,
        activity: _,
    } = c;
    let mut paths = Vec::new();
    let mut push = |set: bool, path: &'static str| {
        if set {
            paths.push(path);
        }
    };
    push(!display_name.is_empty(), "display_name");
    push(*kind != 0, "kind");
    if let Some(pb::Contact {
        full_name,
        job_title,
        job_rank,
        decision_role,
        email,
        phone,
    }) = contact
    {
        push(!full_name.is_empty(), "contact.full_name");
        push(!job_title.is_empty(), "contact.job_title");
        push(*job_rank != 0, "contact.job_rank");
        push(*decision_role != 0, "contact.decision_role");
        push(!email.is_empty(), "contact.email");
        push(!phone.is_empty(), "contact.phone");
    }
    push(!industry.is_empty(), "industry");
    push(employee_count.is_some(), "employee_count");
    if let Some(pb::Region {
        country_code,
        subdivision,
        city,
    }) = region
    {
        push(!country_code.is_empty(), "region.country_code");
        push(!subdivision.is_empty(), "region.subdivision");
        push(!city.is_empty(), "region.city");
    }
    push(!needs.is_empty(), "needs");
    push(*key_account, "key_account");
    push(*churned, "churned");
    push(!owner.is_empty(), "owner");
    push(!department.is_empty(), "department");
    push(!tags.is_empty(), "tags");
    paths
}

/// The changes an update asks for: the masked fields of `c`, parsed. `*` names every updatable
/// field; an empty mask names every field the request populates (AIP-134; the function that
/// lists them names every field of the message, so a field added to the proto is a compile error
/// there).
pub fn changes(v: &mut Violations, c: &pb::Customer, mask: Option<&prost_types::FieldMask>) -> Vec<ProfileChange> {
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
            "contact" => Some(ProfileChange::Contact(contact(
                v,
                &at,
                c.contact.as_ref(),
                Phone::parse_or_masked,
            ))),
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
            "contact.job_rank" => Some(ProfileChange::ContactJobRank(enum_optional(
                v,
                &at,
                contact_msg.job_rank,
            ))),
            "contact.decision_role" => Some(ProfileChange::ContactDecisionRole(enum_optional(
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(v: &Violations) -> Vec<&str> {
        v.as_slice().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn a_create_reports_every_bad_field_under_its_request_path() {
        let request = pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                display_name: " ".into(),
                kind: 0,
                contact: Some(pb::Contact {
                    email: "not-an-email".into(),
                    job_rank: 9,
                    ..Default::default()
                }),
                region: Some(pb::Region::default()),
                needs: vec![0, CustomerNeed::QualityFocused.to_number()],
                tags: vec!["ok".into(), "NOT OK".into()],
                ..Default::default()
            }),
            customer_id: "9bad".into(),
            request_id: String::new(),
        };
        let mut v = Violations::new();
        assert_eq!(new_customer(&mut v, &request), None);
        assert_eq!(
            fields(&v),
            [
                "customer_id",
                "customer.display_name",
                "customer.kind",
                "customer.contact.job_rank",
                "customer.contact.email",
                "customer.region.country_code",
                "customer.needs[0]",
                "customer.tags[1]",
            ]
        );
        let mut v = Violations::new();
        assert_eq!(new_customer(&mut v, &pb::CreateCustomerRequest::default()), None);
        assert_eq!(fields(&v), ["customer"]);
    }

    #[test]
    fn a_valid_create_becomes_a_new_customer() {
        let request = pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                display_name: "Acme".into(),
                kind: CustomerKind::Organization.to_number(),
                etag: "ignored, output only".into(),
                ..Default::default()
            }),
            customer_id: "acme".into(),
            request_id: String::new(),
        };
        let mut v = Violations::new();
        let new = new_customer(&mut v, &request).unwrap();
        assert!(v.is_empty(), "{v}");
        assert_eq!(new.id, Some(CustomerId::parse("acme").unwrap()));
        assert_eq!(new.profile.display_name.as_str(), "Acme");
        assert_eq!(new.profile.kind, CustomerKind::Organization);
    }

    #[test]
    fn the_clearable_paths_are_those_an_empty_update_accepts_but_flags() {
        for path in UPDATABLE_PATHS {
            let mut v = Violations::new();
            let mask = prost_types::FieldMask {
                paths: vec![(*path).to_owned()],
            };
            let changes = changes(&mut v, &pb::Customer::default(), Some(&mask));
            let flag = matches!(
                changes.as_slice(),
                [ProfileChange::KeyAccount(_) | ProfileChange::Churned(_)]
            );
            assert_eq!(v.is_empty() && !flag, clearable_paths().any(|p| p == *path), "{path}");
        }
        assert_eq!(field_paths().count() + MESSAGE_PATHS.len(), UPDATABLE_PATHS.len());
        assert!(field_paths().all(|p| !MESSAGE_PATHS.contains(&p)));
    }
}
