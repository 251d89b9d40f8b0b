//! The customer repository's access-control reads on both backends: a listing's scope is part of
//! its query (with filters, orderings, `show_deleted` and keyset paging applied within it), an
//! empty scope queries nothing, and a customer's facts are read by primary key.

use std::cmp::Ordering;

use crm_domain::{
    access::{CustomerFacts, ListScope},
    customer::{
        Customer, CustomerProfile,
        values::{CustomerId, Department, PrincipalName},
    },
    error::CustomerError,
    filter::Filter,
    listing::{ListQuery, OrderBy, PageSize},
    ports::CustomerRepository,
};
use crm_persistence::SqlCustomerRepository;
use sea_orm::prelude::ChronoDateTimeUtc;

use crate::support::{Backend, migrated, on_both_backends, profile};

on_both_backends!(
    listing_returns_exactly_the_customers_in_scope_across_pages,
    an_empty_scope_lists_nothing_without_querying,
    facts_are_read_by_primary_key,
);

const DEPARTMENTS: [Option<&str>; 3] = [Some("east"), Some("west"), None];
const OWNERS: [Option<&str>; 3] = [Some("alice"), Some("bob"), None];

fn at(offset: i64) -> ChronoDateTimeUtc {
    ChronoDateTimeUtc::from_timestamp(1_750_000_000 + offset, 0).unwrap()
}

fn owner(id: &str) -> PrincipalName {
    PrincipalName::from_id(id).unwrap()
}

fn department(name: &str) -> Department {
    Department::parse(name).unwrap()
}

fn customer(i: i64, display_name: &str, owner_id: Option<&str>, dept: Option<&str>, key_account: bool) -> Customer {
    let profile = CustomerProfile {
        key_account,
        owner: owner_id.map(owner),
        department: dept.map(department),
        ..profile(display_name)
    };
    Customer::create(CustomerId::generate(), profile, at(i))
}

/// Two customers (a key account and another) for every department and owner, assigned or not,
/// and a deleted customer of department east owned by alice; all inserted. Display names do not
/// follow creation order.
async fn seed(repo: &SqlCustomerRepository) -> Vec<Customer> {
    let mut customers = Vec::new();
    for dept in DEPARTMENTS {
        for owner_id in OWNERS {
            for key_account in [true, false] {
                let i = i64::try_from(customers.len()).unwrap();
                let name = format!("c{:02}", (i * 7) % 19);
                customers.push(customer(i, &name, owner_id, dept, key_account));
            }
        }
    }
    let deleted = customer(18, "c99", Some("alice"), Some("east"), true).deleted(at(100));
    customers.push(deleted);
    for c in &customers {
        repo.insert(c, None, &[]).await.unwrap();
    }
    customers
}

fn restricted(departments: &[&str], owners: &[&str]) -> ListScope {
    ListScope::Restricted {
        departments: departments
            .iter()
            .map(|d| (department(d), crm_domain::access::GradeSet::empty()))
            .collect(),
        owners: owners
            .iter()
            .map(|o| (owner(o), crm_domain::access::GradeSet::empty()))
            .collect(),
        all_with_grades: None,
    }
}

fn query(scope: ListScope, filter: &str, order: &str, page_size: i32, show_deleted: bool) -> ListQuery {
    ListQuery {
        filter: Filter::parse(filter).unwrap(),
        order: OrderBy::parse(order).unwrap(),
        show_deleted,
        page_size: PageSize::from_request(page_size).unwrap(),
        after: None,
        scope,
    }
}

/// Every customer `query` lists, page by page as the customer service pages (asking for one
/// more than a page to learn whether another follows).
async fn list_all(repo: &SqlCustomerRepository, mut query: ListQuery) -> Vec<Customer> {
    let size = query.page_size.get();
    let mut all = Vec::new();
    loop {
        let mut page = repo.list(&query, size + 1).await.unwrap();
        let has_more = page.len() > size as usize;
        page.truncate(size as usize);
        assert!(!has_more || !page.is_empty());
        query.after = page
            .last()
            .filter(|_| has_more)
            .map(|last| query.order.cursor_after(last));
        all.extend(page);
        if query.after.is_none() {
            return all;
        }
    }
}

/// `a` before `b` in `order` (of `create_time` or `display_name`), ties broken by id in the
/// direction of the last term.
fn compare(order: &OrderBy, a: &Customer, b: &Customer) -> Ordering {
    for term in order.terms() {
        let ordering = match term.field.path() {
            "create_time" => a.create_time.cmp(&b.create_time),
            "display_name" => a.profile.display_name.as_str().cmp(b.profile.display_name.as_str()),
            other => panic!("the model does not order by {other}"),
        };
        let ordering = if term.descending { ordering.reverse() } else { ordering };
        if ordering.is_ne() {
            return ordering;
        }
    }
    let ordering = a.id.cmp(&b.id);
    if order.id_descending() {
        ordering.reverse()
    } else {
        ordering
    }
}

async fn listing_returns_exactly_the_customers_in_scope_across_pages(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db);
    let customers = seed(&repo).await;

    let scopes = [
        ListScope::Everything,
        restricted(&["east"], &[]),
        restricted(&[], &["alice"]),
        restricted(&["east"], &["alice"]),
        restricted(&["west"], &["alice"]),
        restricted(&["east", "west"], &["alice", "bob"]),
        restricted(&["north"], &["nobody"]),
    ];
    type Predicate = fn(&Customer) -> bool;
    let filters: [(&str, Predicate); 3] = [
        ("", |_| true),
        ("key_account = true", |c| c.profile.key_account),
        // A filter on a scope column: the scope still applies on top of it.
        ("department = \"west\" OR owner = \"\"", |c| {
            c.profile.department.as_ref().is_some_and(|d| d.as_str() == "west") || c.profile.owner.is_none()
        }),
    ];
    for scope in &scopes {
        for (filter, matches) in &filters {
            for order in ["create_time", "display_name desc"] {
                for show_deleted in [false, true] {
                    let order_by = OrderBy::parse(order).unwrap();
                    let mut expected: Vec<Customer> = customers
                        .iter()
                        .filter(|c| show_deleted || !c.is_deleted())
                        .filter(|c| scope.covers(&CustomerFacts::from(*c)))
                        .filter(|c| matches(c))
                        .cloned()
                        .collect();
                    expected.sort_by(|a, b| compare(&order_by, a, b));
                    let listed = list_all(&repo, query(scope.clone(), filter, order, 2, show_deleted)).await;
                    let context =
                        format!("scope {scope:?}, filter {filter:?}, order {order}, show_deleted {show_deleted}");
                    assert_eq!(listed, expected, "{context}");
                    if *scope != ListScope::Everything {
                        assert!(listed.len() < customers.len(), "{context}");
                    }
                }
            }
        }
    }

    // Spot checks of the model itself, so the comparison above cannot pass vacuously.
    let count = |scope: ListScope| {
        let query = query(scope, "", "create_time", 100, false);
        let repo = repo.clone();
        async move { repo.list(&query, 100).await.unwrap().len() }
    };
    assert_eq!(count(ListScope::Everything).await, 18);
    assert_eq!(count(restricted(&["east"], &[])).await, 6);
    assert_eq!(count(restricted(&[], &["alice"])).await, 6);
    assert_eq!(count(restricted(&["east"], &["alice"])).await, 10);
    assert_eq!(count(restricted(&["east", "west"], &["alice", "bob"])).await, 16);
    assert_eq!(count(restricted(&["north"], &["nobody"])).await, 0);
}

async fn an_empty_scope_lists_nothing_without_querying(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db.clone());
    seed(&repo).await;
    let nothing = query(ListScope::Nothing, "", "create_time", 10, true);
    let no_lists = query(restricted(&[], &[]), "", "create_time", 10, true);
    assert_eq!(repo.list(&nothing, 10).await.unwrap(), vec![]);
    assert_eq!(repo.list(&no_lists, 10).await.unwrap(), vec![]);

    // With the pool closed, any query fails; these still answer.
    db.close().await;
    assert_eq!(repo.list(&nothing, 10).await.unwrap(), vec![]);
    assert_eq!(repo.list(&no_lists, 10).await.unwrap(), vec![]);
    assert_eq!(repo.find_facts_many(&[]).await.unwrap(), vec![]);
    let everything = query(ListScope::Everything, "", "create_time", 10, true);
    let error = repo.list(&everything, 10).await.unwrap_err();
    assert!(matches!(error, CustomerError::Unavailable(_)), "{error:?}");
}

async fn facts_are_read_by_primary_key(backend: Backend) {
    let Some((_database, db)) = migrated(backend).await else {
        return;
    };
    let repo = SqlCustomerRepository::new(db);
    let customers = seed(&repo).await;

    for c in &customers {
        assert_eq!(
            repo.find_facts(&c.id).await.unwrap(),
            Some(CustomerFacts::from(c)),
            "{} (deleted customers too)",
            c.id
        );
    }
    let missing = CustomerId::generate();
    assert_eq!(repo.find_facts(&missing).await.unwrap(), None);

    // Each existing customer once, whatever the duplicates and missing ids.
    let wanted = [
        customers[0].id.clone(),
        missing,
        customers[5].id.clone(),
        customers[0].id.clone(),
        customers[18].id.clone(),
    ];
    let mut found = repo.find_facts_many(&wanted).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(CustomerId, CustomerFacts)> = [0, 5, 18]
        .into_iter()
        .map(|i| (customers[i].id.clone(), CustomerFacts::from(&customers[i])))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, expected);
    assert_eq!(repo.find_facts_many(&[]).await.unwrap(), vec![]);
}
