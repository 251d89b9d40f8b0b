//! The `ClassificationService` handlers: each parses its request (collecting every field
//! violation), builds the caller's [`Authorizer`] and the [`Classifier`] of the active policy,
//! calls the classification use case, audits mutations, and maps the result back.
//!
//! The lists page with signed tokens bound to the list and the request's `parent` and filters
//! (see [`crate::page_token`]); a token of another list or other filters is INVALID_ARGUMENT.

use std::{pin::Pin, sync::Arc, time::Instant};

use chrono::{DateTime, SubsecRound, Utc};
use crm_api::{
    convert::{
        classification::{
            MoneyCheck, PolicyName, channel_from_proto, class_value_from_proto, dimension_from_proto,
            history_entry_to_proto, interaction_to_proto, money_from_proto, policy_from_proto, policy_version_name,
            policy_version_to_proto, preview_to_proto, progress_to_proto, purchase_to_proto, segment_count_to_proto,
            summary_to_proto,
        },
        customers::{customer_name, customer_to_proto},
        time_from_proto,
    },
    crm::v1::{self as pb, classification_service_server::ClassificationService as ClassificationApi},
};
use crm_domain::{
    access::Authorizer,
    caller::Caller,
    classification::{
        Classifier, HistoryId, HistorySource, Interaction, InteractionId, NewPurchase, OrderRef, PolicyVersion,
        PolicyVersionId, Purchase, activity::MAX_NOTE_CHARS, record::ClassOverride,
    },
    customer::{resource_name, values::CustomerId},
    error::{CustomerError, Violations},
    listing::PageSize,
    ports::HistoryQuery,
    text::TextRule,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::{
    access::state::{AccessState, AccessView},
    audit::AuditLog,
    classification::state::ClassificationState,
    customers::service::{ensure_valid, finish},
    page_token::{List, PageQuery, PageTokens},
    status::{currency_mismatch, to_status, with_info},
    transport::caller::caller_of,
};

/// How far in the future an activity may be dated (clock skew between services).
const FUTURE_SLACK_SECS: i64 = 300;
/// The longest policy version description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Default and largest preview sample.
const DEFAULT_SAMPLE: usize = 20;
const MAX_SAMPLE: usize = 100;

/// The gRPC face of the classification use cases.
#[derive(Debug, Clone)]
pub(crate) struct ClassificationGrpc {
    state: Arc<ClassificationState>,
    access: Arc<AccessState>,
    audit: AuditLog,
    page_tokens: PageTokens,
}

/// What a list of one customer's records (purchases, interactions) is asked for.
struct CustomerPage<'a> {
    /// Which list, for the page token.
    list: List,
    /// The RPC's name, for the audit log.
    action: &'static str,
    parent: &'a str,
    page_size: i32,
    page_token: &'a str,
}

impl ClassificationGrpc {
    pub(crate) fn new(
        state: Arc<ClassificationState>,
        access: Arc<AccessState>,
        audit: AuditLog,
        page_tokens: PageTokens,
    ) -> Self {
        Self {
            state,
            access,
            audit,
            page_tokens,
        }
    }
    /// One page of a customer's records, newest first (ListPurchases, ListInteractions): the
    /// parent, page size and page token checked (every violation at once), `fetch` called as the
    /// caller with the cursor and one row more than the page, the outcome audited, and the next
    /// page's token bound to the parent and made from the last row's `(time, id)` key.
    async fn customer_page<R, T, K>(
        &self,
        request: &Request<R>,
        page: CustomerPage<'_>,
        parse_id: impl Fn(&str) -> Option<K>,
        key_of: impl Fn(&T) -> String,
        fetch: impl AsyncFnOnce(
            &Authorizer<'_>,
            &CustomerId,
            Option<(DateTime<Utc>, K)>,
            u32,
        ) -> Result<Vec<T>, CustomerError>,
    ) -> Result<(Vec<T>, String), Status> {
        let (caller, view) = self.begin(request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let mut v = Violations::new();
        let customer = customer_name(&mut v, "parent", page.parent);
        let size = page_size(&mut v, page.page_size);
        let paged = PageQuery::new(page.list).param("parent", page.parent);
        let after = self.page_tokens.after(&mut v, &paged, page.page_token, |key| {
            let (time, id) = parse_time_key(key)?;
            Some((time, parse_id(&id)?))
        });
        ensure_valid(v)?;
        let customer = customer.ok_or_else(|| Status::internal("validated fields missing"))?;
        let result = fetch(&auth, &customer, after, size + 1).await;
        let resource = resource_name(&customer);
        let mut rows = finish(&self.audit, &caller, page.action, &resource, false, result).await?;
        let next_page_token = next_page(&self.page_tokens, &paged, &mut rows, size, key_of);
        Ok((rows, next_page_token))
    }

    fn begin<T>(&self, request: &Request<T>) -> Result<(Caller, Arc<AccessView>), Status> {
        Ok((caller_of(request)?, self.access.view()))
    }

    fn customer_out(&self, customer: &crm_domain::customer::Customer) -> pb::Customer {
        let policy = self.state.policy();
        customer_to_proto(customer, self.state.reporting(&policy))
    }
}

/// The page size of a list request (the domain's [`PageSize`] rule, shared by every list); a
/// negative one is a violation at `page_size` (and the default meanwhile).
fn page_size(v: &mut Violations, raw: i32) -> u32 {
    v.check("page_size", PageSize::from_request(raw))
        .map_or(PageSize::DEFAULT, PageSize::get)
}

/// Parses the timestamp at `path` (see `crm_api::convert::time_from_proto` for what is valid),
/// truncated to whole microseconds as stored; a violation when it is `required` and absent.
fn time_of(
    v: &mut Violations,
    path: &str,
    raw: Option<&prost_types::Timestamp>,
    required: bool,
) -> Option<DateTime<Utc>> {
    match raw {
        None => {
            if required {
                v.add(path, "is required");
            }
            None
        }
        Some(ts) => time_from_proto(v, path, ts).map(|t| t.trunc_subsecs(6)),
    }
}

/// Cuts `rows` (fetched with one row more than `size`) to the page and returns the token of the
/// next page of `query`, after the last row's `cursor`; empty when this is the last page.
fn next_page<T>(
    tokens: &PageTokens,
    query: &PageQuery,
    rows: &mut Vec<T>,
    size: u32,
    cursor: impl Fn(&T) -> String,
) -> String {
    let size = size as usize;
    if rows.len() <= size {
        return String::new();
    }
    rows.truncate(size);
    tokens.next(query, rows.last().map(cursor))
}

/// A timestamp of a request as query parameter text (empty when absent).
fn time_param(raw: Option<&prost_types::Timestamp>) -> String {
    raw.map(|t| format!("{}.{:09}", t.seconds, t.nanos)).unwrap_or_default()
}

fn time_key(time: DateTime<Utc>, id: &str) -> String {
    format!("{}|{id}", time.timestamp_micros())
}

fn parse_time_key(key: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = key.split_once('|')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.to_owned()))
}

fn policy_not_found(name: &str) -> Status {
    with_info(
        tonic::Code::NotFound,
        crm_api::crm::v1::ErrorReason::PolicyVersionNotFound,
        &[("policy", name)],
        format!("{name} does not exist"),
    )
}

type ReclassifyStream = Pin<Box<dyn Stream<Item = Result<pb::ReclassifyCustomersResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ClassificationApi for ClassificationGrpc {
    async fn record_purchase(
        &self,
        request: Request<pb::RecordPurchaseRequest>,
    ) -> Result<Response<pb::RecordPurchaseResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let customer = customer_name(&mut v, "customer", &req.customer);
        let order_ref = v.check("order_ref", OrderRef::parse(&req.order_ref));
        let mut money = MoneyCheck::new(self.state.currency());
        let amount = money_from_proto(&mut v, "amount", req.amount.as_ref(), &mut money, true)
            .and_then(|amount| v.check("amount", Purchase::check_amount(amount)));
        let occurred_at = time_of(&mut v, "occur_time", req.occur_time.as_ref(), true);
        if let Some(t) = occurred_at
            && t > auth.now() + chrono::TimeDelta::seconds(FUTURE_SLACK_SECS)
        {
            v.add("occur_time", "must not be more than 5 minutes in the future");
        }
        if money.mismatch && !v.is_empty() {
            return Err(currency_mismatch(&money, &v));
        }
        ensure_valid(v)?;
        let (Some(customer), Some(order_ref), Some(amount), Some(occurred_at)) =
            (customer, order_ref, amount, occurred_at)
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let policy = self.state.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let resource = resource_name(&customer);
        let result = self
            .state
            .service()
            .record_purchase(
                &auth,
                &classifier,
                NewPurchase {
                    customer,
                    order_ref,
                    amount,
                    occurred_at,
                },
            )
            .await;
        let recorded = finish(&self.audit, &caller, "RecordPurchase", &resource, true, result).await?;
        Ok(Response::new(pb::RecordPurchaseResponse {
            purchase: Some(purchase_to_proto(&recorded.purchase, self.state.currency())),
            customer: Some(self.customer_out(&recorded.customer)),
            already_recorded: recorded.already_recorded,
        }))
    }

    async fn record_interaction(
        &self,
        request: Request<pb::RecordInteractionRequest>,
    ) -> Result<Response<pb::Interaction>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let customer = customer_name(&mut v, "customer", &req.customer);
        let channel = channel_from_proto(&mut v, "channel", req.channel);
        let occurred_at = time_of(&mut v, "occur_time", req.occur_time.as_ref(), true);
        if let Some(t) = occurred_at
            && t > auth.now() + chrono::TimeDelta::seconds(FUTURE_SLACK_SECS)
        {
            v.add("occur_time", "must not be more than 5 minutes in the future");
        }
        let note = v.check("note", TextRule::prose(MAX_NOTE_CHARS).parse(&req.note));
        ensure_valid(v)?;
        let (Some(customer), Some(channel), Some(occurred_at), Some(note)) = (customer, channel, occurred_at, note)
        else {
            return Err(Status::internal("validated fields missing"));
        };
        let resource = resource_name(&customer);
        let result = self
            .state
            .service()
            .record_interaction(&auth, &customer, channel, occurred_at, note)
            .await;
        let interaction = finish(&self.audit, &caller, "RecordInteraction", &resource, true, result).await?;
        Ok(Response::new(interaction_to_proto(&interaction)))
    }

    async fn list_purchases(
        &self,
        request: Request<pb::ListPurchasesRequest>,
    ) -> Result<Response<pb::ListPurchasesResponse>, Status> {
        let req = request.get_ref();
        let page = CustomerPage {
            list: List::Purchases,
            action: "ListPurchases",
            parent: &req.parent,
            page_size: req.page_size,
            page_token: &req.page_token,
        };
        let (purchases, next_page_token) = self
            .customer_page(
                &request,
                page,
                |order_ref| OrderRef::parse(order_ref).ok(),
                |p: &Purchase| time_key(p.occurred_at, p.order_ref.as_str()),
                async |auth, customer, after, limit| {
                    self.state.service().list_purchases(auth, customer, after, limit).await
                },
            )
            .await?;
        Ok(Response::new(pb::ListPurchasesResponse {
            purchases: purchases
                .iter()
                .map(|p| purchase_to_proto(p, self.state.currency()))
                .collect(),
            next_page_token,
        }))
    }

    async fn list_interactions(
        &self,
        request: Request<pb::ListInteractionsRequest>,
    ) -> Result<Response<pb::ListInteractionsResponse>, Status> {
        let req = request.get_ref();
        let page = CustomerPage {
            list: List::Interactions,
            action: "ListInteractions",
            parent: &req.parent,
            page_size: req.page_size,
            page_token: &req.page_token,
        };
        let (interactions, next_page_token) = self
            .customer_page(
                &request,
                page,
                |id| InteractionId::parse(id).ok(),
                |i: &Interaction| time_key(i.occurred_at, &i.id.to_string()),
                async |auth, customer, after, limit| {
                    self.state
                        .service()
                        .list_interactions(auth, customer, after, limit)
                        .await
                },
            )
            .await?;
        Ok(Response::new(pb::ListInteractionsResponse {
            interactions: interactions.iter().map(interaction_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_policy(&self, request: Request<pb::GetPolicyRequest>) -> Result<Response<pb::PolicyVersion>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let name = policy_version_name(&mut v, "name", &req.name);
        ensure_valid(v)?;
        let result = match name {
            Some(PolicyName::Version(version)) => self.state.service().get_policy(&auth, version).await,
            _ => match self.state.service().active_policy(&auth).await {
                Ok(Some(policy)) => Ok(policy),
                Ok(None) => return Err(policy_not_found("policies/active")),
                Err(error) => Err(error),
            },
        };
        let policy = finish(&self.audit, &caller, "GetPolicy", &req.name, false, result).await?;
        Ok(Response::new(policy_version_to_proto(&policy, self.state.currency())))
    }

    async fn list_policy_versions(
        &self,
        request: Request<pb::ListPolicyVersionsRequest>,
    ) -> Result<Response<pb::ListPolicyVersionsResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let size = page_size(&mut v, req.page_size);
        let paged = PageQuery::new(List::PolicyVersions);
        let before = self.page_tokens.after(&mut v, &paged, &req.page_token, |key| {
            key.parse().ok().map(PolicyVersionId::new)
        });
        ensure_valid(v)?;
        let result = self.state.service().list_policies(&auth, before, size + 1).await;
        let mut versions = finish(&self.audit, &caller, "ListPolicyVersions", "policies", false, result).await?;
        let next_page_token = next_page(&self.page_tokens, &paged, &mut versions, size, |p| {
            p.version.get().to_string()
        });
        Ok(Response::new(pb::ListPolicyVersionsResponse {
            policy_versions: versions
                .iter()
                .map(|p| policy_version_to_proto(p, self.state.currency()))
                .collect(),
            next_page_token,
        }))
    }

    async fn create_policy_version(
        &self,
        request: Request<pb::CreatePolicyVersionRequest>,
    ) -> Result<Response<pb::PolicyVersion>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let mut money = MoneyCheck::new(self.state.currency());
        let policy = policy_from_proto(&mut v, "policy", req.policy.as_ref(), &mut money);
        // The policy's own rules too, so that every problem is reported at once (the use case
        // checks them again).
        if let Some(policy) = &policy {
            for violation in policy.violations().as_slice() {
                v.add(violation.field.clone(), violation.description.clone());
            }
        }
        let description = v.check(
            "description",
            TextRule::prose(MAX_DESCRIPTION_CHARS).parse(&req.description),
        );
        if money.mismatch {
            return Err(currency_mismatch(&money, &v));
        }
        ensure_valid(v)?;
        let (Some(policy), Some(description)) = (policy, description) else {
            return Err(Status::internal("validated fields missing"));
        };
        let result = self
            .state
            .service()
            .create_policy(&auth, policy, description, req.validate_only)
            .await;
        let resource = result
            .as_ref()
            .map_or_else(|_| "policies".to_owned(), |p| p.version.resource_name());
        let created = finish(
            &self.audit,
            &caller,
            "CreatePolicyVersion",
            &resource,
            !req.validate_only,
            result,
        )
        .await?;
        let mut version = policy_version_to_proto(&created, self.state.currency());
        if req.validate_only {
            // As the contract says: nothing was stored, so the version has no name.
            version.name.clear();
        }
        Ok(Response::new(version))
    }

    async fn activate_policy_version(
        &self,
        request: Request<pb::ActivatePolicyVersionRequest>,
    ) -> Result<Response<pb::PolicyVersion>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let name = policy_version_name(&mut v, "name", &req.name);
        if matches!(name, Some(PolicyName::Active)) {
            v.add("name", "must name a version, `policies/{version}`");
        }
        ensure_valid(v)?;
        let Some(PolicyName::Version(version)) = name else {
            return Err(Status::internal("validated fields missing"));
        };
        let result = self.state.service().activate_policy(&auth, version).await;
        let activated = finish(&self.audit, &caller, "ActivatePolicyVersion", &req.name, true, result).await?;
        self.state.activated().await.map_err(to_status)?;
        self.state.spawn_batch(Some(caller.principal.clone()));
        Ok(Response::new(policy_version_to_proto(
            &activated,
            self.state.currency(),
        )))
    }

    async fn preview_policy(
        &self,
        request: Request<pb::PreviewPolicyRequest>,
    ) -> Result<Response<pb::PreviewPolicyResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let sample = match req.sample_size {
            0 => DEFAULT_SAMPLE,
            n if n < 0 => {
                v.add("sample_size", "must not be negative");
                DEFAULT_SAMPLE
            }
            n => usize::try_from(n).unwrap_or(MAX_SAMPLE).min(MAX_SAMPLE),
        };
        let mut money = MoneyCheck::new(self.state.currency());
        let candidate: Option<PolicyVersion> = match &req.candidate {
            Some(pb::preview_policy_request::Candidate::Policy(policy)) => {
                policy_from_proto(&mut v, "policy", Some(policy), &mut money).and_then(|policy| {
                    let violations = policy.violations();
                    for violation in violations.as_slice() {
                        v.add(violation.field.clone(), violation.description.clone());
                    }
                    violations.is_empty().then(|| PolicyVersion {
                        version: PolicyVersionId::new(0),
                        policy,
                        description: String::new(),
                        active: false,
                        create_time: auth.now(),
                        creator: Some(caller.principal.clone()),
                        activate_time: None,
                    })
                })
            }
            Some(pb::preview_policy_request::Candidate::Version(name)) => {
                match policy_version_name(&mut v, "version", name) {
                    Some(PolicyName::Version(version)) => {
                        ensure_valid(std::mem::take(&mut v))?;
                        let result = self.state.service().get_policy(&auth, version).await;
                        Some(finish(&self.audit, &caller, "PreviewPolicy", name, false, result).await?)
                    }
                    Some(PolicyName::Active) => Some((*self.state.policy()).clone()),
                    None => None,
                }
            }
            None => {
                v.add("policy", "is required: a policy, or the `version` of a stored one");
                None
            }
        };
        if money.mismatch {
            return Err(currency_mismatch(&money, &v));
        }
        ensure_valid(v)?;
        let candidate = candidate.ok_or_else(|| Status::internal("validated fields missing"))?;
        let result = self.state.service().preview(&auth, &candidate, sample).await;
        let preview = finish(&self.audit, &caller, "PreviewPolicy", "policies", false, result).await?;
        Ok(Response::new(preview_to_proto(&preview, candidate.version.get())))
    }

    type ReclassifyCustomersStream = ReclassifyStream;

    async fn reclassify_customers(
        &self,
        request: Request<pb::ReclassifyCustomersRequest>,
    ) -> Result<Response<Self::ReclassifyCustomersStream>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let allowed = self.state.service().authorize_batch(&auth);
        finish(&self.audit, &caller, "ReclassifyCustomers", "customers", true, allowed).await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::ReclassifyCustomersResponse, Status>>(16);
        let state = Arc::clone(&self.state);
        let actor = caller.principal.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let progress_tx = tx.clone();
            let result = state
                .run_batch(HistorySource::Schedule, Some(&actor), move |progress| {
                    // Progress is advisory: a slow reader misses some, never the summary.
                    let _ = progress_tx.try_send(Ok(pb::ReclassifyCustomersResponse {
                        event: Some(pb::reclassify_customers_response::Event::Progress(progress_to_proto(
                            &progress,
                        ))),
                    }));
                })
                .await;
            let last = match result {
                Ok((done, policy)) => Ok(pb::ReclassifyCustomersResponse {
                    event: Some(pb::reclassify_customers_response::Event::Summary(summary_to_proto(
                        &done,
                        policy.version.get(),
                        started.elapsed(),
                    ))),
                }),
                Err(error) => Err(to_status(error)),
            };
            let _ = tx.send(last).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn classify_customer(
        &self,
        request: Request<pb::ClassifyCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let mut v = Violations::new();
        let id = customer_name(&mut v, "name", &request.get_ref().name);
        ensure_valid(v)?;
        let id: CustomerId = id.ok_or_else(|| Status::internal("validated fields missing"))?;
        let policy = self.state.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self.state.service().classify_customer(&auth, &classifier, &id).await;
        let customer = finish(
            &self.audit,
            &caller,
            "ClassifyCustomer",
            &resource_name(&id),
            true,
            result,
        )
        .await?;
        Ok(Response::new(self.customer_out(&customer)))
    }

    async fn override_classification(
        &self,
        request: Request<pb::OverrideClassificationRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = customer_name(&mut v, "customer", &req.customer);
        let value = class_value_from_proto(&mut v, "value", req.value.as_ref(), true);
        let reason = if req.reason.trim().is_empty() {
            v.add("reason", "is required: say why the rules' value is overridden");
            None
        } else {
            v.check(
                "reason",
                TextRule::line(ClassOverride::MAX_REASON_CHARS).parse(&req.reason),
            )
        };
        let expire_time = time_of(&mut v, "expire_time", req.expire_time.as_ref(), false);
        if let Some(expiry) = expire_time
            && expiry <= auth.now()
        {
            v.add("expire_time", "must be in the future");
        }
        ensure_valid(v)?;
        let (Some(id), Some(value), Some(reason)) = (id, value, reason) else {
            return Err(Status::internal("validated fields missing"));
        };
        let policy = self.state.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self
            .state
            .service()
            .override_class(&auth, &classifier, &id, value, reason, expire_time)
            .await;
        let customer = finish(
            &self.audit,
            &caller,
            "OverrideClassification",
            &resource_name(&id),
            true,
            result,
        )
        .await?;
        Ok(Response::new(self.customer_out(&customer)))
    }

    async fn clear_override(
        &self,
        request: Request<pb::ClearOverrideRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let id = customer_name(&mut v, "customer", &req.customer);
        let dimension = dimension_from_proto(&mut v, "dimension", req.dimension, true);
        ensure_valid(v)?;
        let (Some(id), Some(dimension)) = (id, dimension) else {
            return Err(Status::internal("validated fields missing"));
        };
        let policy = self.state.policy();
        let classifier = Classifier {
            policy: &policy,
            now: auth.now(),
        };
        let result = self
            .state
            .service()
            .clear_override(&auth, &classifier, &id, dimension)
            .await;
        if let Err(CustomerError::OverrideNotFound(_, d)) = &result {
            let message = format!("{} has no override on {}", resource_name(&id), d.field());
            self.audit
                .customer_outcome(&caller, "ClearOverride", &resource_name(&id), true, &result)
                .await;
            return Err(with_info(
                tonic::Code::NotFound,
                crm_api::crm::v1::ErrorReason::OverrideNotFound,
                &[("customer", &resource_name(&id)), ("dimension", d.name())],
                message,
            ));
        }
        let customer = finish(&self.audit, &caller, "ClearOverride", &resource_name(&id), true, result).await?;
        Ok(Response::new(self.customer_out(&customer)))
    }

    async fn list_classification_history(
        &self,
        request: Request<pb::ListClassificationHistoryRequest>,
    ) -> Result<Response<pb::ListClassificationHistoryResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let customer = if req.parent == "customers/-" {
            None
        } else {
            customer_name(&mut v, "parent", &req.parent)
        };
        let dimension = dimension_from_proto(&mut v, "dimension", req.dimension, false);
        let value = class_value_from_proto(&mut v, "value", req.value.as_ref(), false);
        if let (Some(dimension), Some(value)) = (dimension, value)
            && value.dimension() != dimension
        {
            v.add(
                "value",
                format!(
                    "is a value of {} but `dimension` is {}; they must agree (or leave `dimension` unset, as \
                     `value` implies it)",
                    value.dimension().field(),
                    dimension.field()
                ),
            );
        }
        let start = time_of(&mut v, "start_time", req.start_time.as_ref(), false);
        let end = time_of(&mut v, "end_time", req.end_time.as_ref(), false);
        let size = page_size(&mut v, req.page_size);
        let paged = PageQuery::new(List::ClassificationHistory)
            .param("parent", req.parent.as_str())
            .param("dimension", req.dimension.to_string())
            .param(
                "value",
                format!("{:?}", req.value.as_ref().and_then(|value| value.value.as_ref())),
            )
            .param("start_time", time_param(req.start_time.as_ref()))
            .param("end_time", time_param(req.end_time.as_ref()));
        let before = self
            .page_tokens
            .after(&mut v, &paged, &req.page_token, |key| HistoryId::parse(key).ok());
        ensure_valid(v)?;
        let query = HistoryQuery {
            customer,
            scope: None,
            dimension,
            to_value: value,
            start,
            end,
            before,
        };
        let result = self.state.service().list_history(&auth, query, size + 1).await;
        let mut entries = finish(
            &self.audit,
            &caller,
            "ListClassificationHistory",
            &req.parent,
            false,
            result,
        )
        .await?;
        let next_page_token = next_page(&self.page_tokens, &paged, &mut entries, size, |e| e.id.to_string());
        Ok(Response::new(pb::ListClassificationHistoryResponse {
            entries: entries.iter().map(history_entry_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_segment_stats(
        &self,
        request: Request<pb::GetSegmentStatsRequest>,
    ) -> Result<Response<pb::GetSegmentStatsResponse>, Status> {
        let (caller, view) = self.begin(&request)?;
        let auth = Authorizer::new(&view.snapshot, &caller.principal, self.state.now());
        let by_department = request.get_ref().group_by_department;
        let result = self.state.service().segment_counts(&auth, by_department).await;
        let counts = finish(&self.audit, &caller, "GetSegmentStats", "customers", false, result).await?;
        let total = counts
            .iter()
            .filter(|c| c.dimension == crm_domain::classification::Dimension::Grade)
            .map(|c| c.count)
            .sum::<u64>();
        Ok(Response::new(pb::GetSegmentStatsResponse {
            counts: counts.iter().map(segment_count_to_proto).collect(),
            total_customers: i64::try_from(total).unwrap_or(i64::MAX),
        }))
    }
}
