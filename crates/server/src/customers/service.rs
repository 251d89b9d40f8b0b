//! `crm.v1.CustomerService`: each handler takes the authenticated caller, parses the request
//! into domain values (reporting every invalid field at once), calls the domain's
//! `CustomerService` with the caller's [`Authorizer`], records the outcome in the audit log
//! (every mutation, every denial), and maps the result back. No business or access rule lives
//! here.

use std::sync::Arc;

use crm_api::{
    convert::customers::{changes, customer_name, customer_to_proto, new_customer},
    crm::v1::{self as pb, customer_service_server::CustomerService as CustomerApi},
};
use crm_domain::{
    access::Authorizer,
    access::ListScope,
    caller::Caller,
    classification::Classifier,
    customer::{Customer, resource_name, service::CustomerService, values::CustomerId},
    error::{CustomerError, Violations},
    filter::Filter,
    listing::{ListQuery, OrderBy, PageSize},
};
use crm_persistence::SqlCustomerRepository;
use tonic::{Request, Response, Status};

use crate::{
    access::state::{AccessState, AccessView},
    audit::AuditLog,
    classification::state::ClassificationState,
    page_token::{List, PageQuery, PageTokens, customer_cursor_text, parse_customer_cursor},
    status::{invalid_argument, to_status},
    transport::{caller::caller_of, consistency::read_at},
};

/// The most names one BatchGetCustomers may ask for.
pub(crate) const MAX_BATCH_GET: usize = 1000;

/// What a ListCustomers page token is bound to: the filter, the ordering and `show_deleted`
/// (not `page_size`, which may change between pages).
pub(crate) fn page_query(filter: &str, order: &OrderBy, show_deleted: bool) -> PageQuery {
    PageQuery::new(List::Customers)
        .param("filter", filter.trim())
        .param("order_by", order.canonical())
        .param("show_deleted", if show_deleted { "true" } else { "false" })
}

/// The gRPC face of the customer use cases.
#[derive(Debug, Clone)]
pub(crate) struct CustomerGrpc {
    customers: CustomerService<SqlCustomerRepository>,
    page_tokens: PageTokens,
    access: Arc<AccessState>,
    audit: AuditLog,
    classification: Arc<ClassificationState>,
}

impl CustomerGrpc {
    pub(crate) fn new(
        customers: CustomerService<SqlCustomerRepository>,
        page_tokens: PageTokens,
        access: Arc<AccessState>,
        audit: AuditLog,
        classification: Arc<ClassificationState>,
    ) -> Self {
        Self {
            customers,
            page_tokens,
            access,
            audit,
            classification,
        }
    }

    /// `customer` as the contract shows it.
    fn out(&self, customer: &Customer) -> pb::Customer {
        let policy = self.classification.policy();
        customer_to_proto(customer, self.classification.reporting(&policy))
    }

    /// The customer use cases reading where the request's consistency token (if any) and the
    /// lag bound allow: a hot standby or the primary. Only for handlers that write nothing.
    fn reading<T>(&self, request: &Request<T>) -> Result<CustomerService<SqlCustomerRepository>, Status> {
        let token = read_at(request)?;
        Ok(CustomerService::new(self.customers.repository().reading(token)))
    }

    /// The caller and the access view its request is decided against.
    fn begin<T>(&self, request: &Request<T>) -> Result<(Caller, Arc<AccessView>), Status> {
        Ok((caller_of(request)?, self.access.view()))
    }
}

/// `result` as a response, after auditing it.
pub(crate) async fn finish<T>(
    audit: &AuditLog,
    caller: &Caller,
    action: &str,
    resource: &str,
    mutation: bool,
    result: Result<T, CustomerError>,
) -> Result<T, Status> {
    audit
        .customer_outcome(caller, action, resource, mutation, &result)
        .await;
    result.map_err(to_status)
}

/// Fails with every violation if there is any.
pub(crate) fn ensure_valid(violations: Violations) -> Result<(), Status> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(invalid_argument(&violations))
    }
}

fn required_name(path: &str, raw: &str) -> Result<CustomerId, Status> {
    let mut v = Violations::new();
    let id = customer_name(&mut v, path, raw);
    ensure_valid(v)?;
    id.ok_or_else(|| {
        to_status(CustomerError::unexpected(
            "name parsed without violation but is missing",
        ))
    })
}

#[tonic::async_trait]
impl CustomerApi for CustomerGrpc {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let new = new_customer(&mut v, &req);
        let new = v.finish(|| new).map_err(to_status)?;
        let resource = new.id.as_ref().map_or_else(|| "customers".to_owned(), resource_name);
        let policy = self.classification.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self.customers.create(&auth, &classifier, new).await;
        let resource = result.as_ref().map_or(resource, |c| resource_name(&c.id));
        let created = finish(&self.audit, &caller, "CreateCustomer", &resource, true, result).await?;
        Ok(Response::new(self.out(&created)))
    }

    async fn get_customer(&self, request: Request<pb::GetCustomerRequest>) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let id = required_name("name", &request.get_ref().name)?;
        let result = self.reading(&request)?.get(&auth, &id).await;
        let customer = finish(&self.audit, &caller, "GetCustomer", &resource_name(&id), false, result).await?;
        Ok(Response::new(self.out(&customer)))
    }

    async fn batch_get_customers(
        &self,
        request: Request<pb::BatchGetCustomersRequest>,
    ) -> Result<Response<pb::BatchGetCustomersResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let names = &request.get_ref().names;
        let mut v = Violations::new();
        if names.is_empty() {
            v.add("names", "is required: 1 to 1000 customer resource names");
        } else if names.len() > MAX_BATCH_GET {
            v.add(
                "names",
                format!(
                    "has {} names; at most {MAX_BATCH_GET} are allowed per call",
                    names.len()
                ),
            );
        }
        let ids: Vec<Option<CustomerId>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| customer_name(&mut v, &format!("names[{i}]"), name))
            .collect();
        let ids = v
            .finish(|| ids.into_iter().collect::<Option<Vec<_>>>())
            .map_err(to_status)?;
        let result = self.reading(&request)?.batch_get(&auth, &ids).await;
        let customers = finish(&self.audit, &caller, "BatchGetCustomers", "customers", false, result).await?;
        Ok(Response::new(pb::BatchGetCustomersResponse {
            customers: customers.iter().map(|c| self.out(c)).collect(),
        }))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let customers = self.reading(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let page_size = v.check("page_size", PageSize::from_request(req.page_size));
        let filter = match Filter::parse(&req.filter) {
            Ok(filter) => filter,
            Err(error) => {
                v.add("filter", error.to_string());
                None
            }
        };
        let order = v.check("order_by", OrderBy::parse(&req.order_by));
        let after = order.as_ref().and_then(|order| {
            let paged = page_query(&req.filter, order, req.show_deleted);
            self.page_tokens.after(&mut v, &paged, &req.page_token, |text| {
                parse_customer_cursor(text, order)
            })
        });
        let query = v
            .finish(|| {
                Some(ListQuery {
                    filter,
                    order: order?,
                    show_deleted: req.show_deleted,
                    page_size: page_size?,
                    after,
                    scope: ListScope::Everything,
                })
            })
            .map_err(to_status)?;
        // The domain narrows the scope to the caller's before querying.
        let result = customers.list(&auth, &query).await;
        let page = finish(&self.audit, &caller, "ListCustomers", "customers", false, result).await?;
        let next_page_token = self.page_tokens.next(
            &page_query(&req.filter, &query.order, query.show_deleted),
            page.next.as_ref().map(customer_cursor_text),
        );
        Ok(Response::new(pb::ListCustomersResponse {
            customers: page.customers.iter().map(|c| self.out(c)).collect(),
            next_page_token,
        }))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let Some(customer) = req.customer else {
            v.add("customer", "is required: the customer with its name and the new values");
            return Err(invalid_argument(&v));
        };
        let id = customer_name(&mut v, "customer.name", &customer.name);
        let changes = changes(&mut v, &customer, req.update_mask.as_ref());
        let id = v.finish(|| id).map_err(to_status)?;
        let etag = (!customer.etag.is_empty()).then_some(customer.etag.as_str());
        let policy = self.classification.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self.customers.update(&auth, &classifier, &id, etag, &changes).await;
        let updated = finish(
            &self.audit,
            &caller,
            "UpdateCustomer",
            &resource_name(&id),
            true,
            result,
        )
        .await?;
        Ok(Response::new(self.out(&updated)))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let req = request.into_inner();
        let id = required_name("name", &req.name)?;
        let etag = (!req.etag.is_empty()).then_some(req.etag.as_str());
        let result = self.customers.delete(&auth, &id, etag).await;
        let deleted = finish(
            &self.audit,
            &caller,
            "DeleteCustomer",
            &resource_name(&id),
            true,
            result,
        )
        .await?;
        Ok(Response::new(self.out(&deleted)))
    }

    async fn undelete_customer(
        &self,
        request: Request<pb::UndeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.classification.now());
        let id = required_name("name", &request.get_ref().name)?;
        let policy = self.classification.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self.customers.undelete(&auth, &classifier, &id).await;
        let restored = finish(
            &self.audit,
            &caller,
            "UndeleteCustomer",
            &resource_name(&id),
            true,
            result,
        )
        .await?;
        Ok(Response::new(self.out(&restored)))
    }
}
