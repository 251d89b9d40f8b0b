//! [`CustomerService`]: the customer use cases (create, get, batch get, list, update, delete,
//! undelete) over any [`CustomerRepository`]. Transport-independent: the gRPC server parses
//! requests into domain values, calls these, and maps the results back.
//!
//! Every use case takes the request's [`Authorizer`] and enforces access control itself, so no
//! transport can forget it: permission is decided before existence (a customer the caller may
//! not see is [`CustomerError::PermissionDenied`] whether or not it exists), a list is limited to
//! the caller's scope in the query itself, contact details come back masked without
//! `customers.read_contact`, and changing `owner` or `department` needs `customers.reassign`.

use std::collections::HashMap;

use crate::{
    access::{Authorizer, CustomerFacts, Permission},
    classification::{Classifier, HistoryEntry, HistorySource},
    customer::{Contact, Customer, NewCustomer, ProfileChange, resource_name, values::CustomerId},
    error::CustomerError,
    listing::{ListQuery, Page},
    ports::CustomerRepository,
};

/// The customer use cases.
#[derive(Debug, Clone)]
pub struct CustomerService<R> {
    repository: R,
}

impl<R: CustomerRepository> CustomerService<R> {
    /// A service storing through `repository`.
    pub fn new(repository: R) -> Self {
        Self { repository }
    }

    /// The repository, for callers that need direct access (tests, tooling).
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// Creates a customer. With a request id that created a customer before, returns that
    /// customer and creates nothing (AIP-155).
    ///
    /// A taken id is reported as AIP-211 asks: permission before existence, and nothing about a
    /// customer the caller may not see. A caller who may get the customer holding the id
    /// (live or deleted) learns that it exists; any other caller gets the same
    /// [`CustomerError::PermissionDenied`] as [`CustomerService::get`] gives it for that id,
    /// which it also gets for ids no one holds. (That the id cannot be created is the one bit a
    /// client-chosen id always reveals.)
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.create` for a customer with this
    /// owner and department (an OWN-scoped principal may only create customers it owns), or
    /// when the chosen id is taken by a customer the caller may not get;
    /// [`CustomerError::AlreadyExists`] when the chosen id is taken by one it may get.
    pub async fn create(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        new: NewCustomer,
    ) -> Result<Customer, CustomerError> {
        let resource = new.id.as_ref().map_or_else(|| "customers".to_owned(), resource_name);
        let id = new.id.clone().unwrap_or_else(CustomerId::generate);
        let mut customer = Customer::create(id, new.profile, classifier.now);
        let history = classifier.apply(&mut customer, HistorySource::Rule, Some(auth.principal()));
        auth.require_new(Permission::CustomersCreate, resource, &CustomerFacts::from(&customer))?;
        if let Some(request_id) = new.request_id
            && let Some(existing) = self.repository.find_by_request_id(request_id).await?
        {
            auth.require(
                Permission::CustomersCreate,
                &existing.id,
                Some(&CustomerFacts::from(&existing)),
            )?;
            return Ok(auth.visible(existing));
        }
        match self.repository.insert(&customer, new.request_id, &history).await {
            Ok(()) => Ok(auth.visible(customer)),
            Err(CustomerError::AlreadyExists(id)) => {
                // A concurrent retry of the same request may have won the race.
                if let Some(request_id) = new.request_id
                    && let Some(existing) = self.repository.find_by_request_id(request_id).await?
                {
                    auth.require(
                        Permission::CustomersCreate,
                        &existing.id,
                        Some(&CustomerFacts::from(&existing)),
                    )?;
                    return Ok(auth.visible(existing));
                }
                Err(self.taken(auth, id).await)
            }
            Err(other) => Err(other),
        }
    }

    /// The error for creating customer `id` when the id is taken: ALREADY_EXISTS for a caller
    /// that may get the customer holding it, else the denial a GetCustomer of it would give.
    async fn taken(&self, auth: &Authorizer<'_>, id: CustomerId) -> CustomerError {
        let holder = match self.repository.find(&id).await {
            Ok(holder) => holder,
            Err(error) => return error,
        };
        match auth.require(
            Permission::CustomersGet,
            &id,
            holder.as_ref().map(CustomerFacts::from).as_ref(),
        ) {
            Ok(()) | Err(CustomerError::NotFound(_)) => CustomerError::AlreadyExists(id),
            Err(denied) => denied,
        }
    }

    /// The customer with this id, as the caller may see it.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.get` for it (whether or not it
    /// exists); [`CustomerError::NotFound`], or [`CustomerError::Deleted`] when it is
    /// soft-deleted.
    pub async fn get(&self, auth: &Authorizer<'_>, id: &CustomerId) -> Result<Customer, CustomerError> {
        let customer = self.repository.find(id).await?;
        auth.require(
            Permission::CustomersGet,
            id,
            customer.as_ref().map(CustomerFacts::from).as_ref(),
        )?;
        let customer = customer.ok_or_else(|| CustomerError::NotFound(id.clone()))?;
        if customer.is_deleted() {
            return Err(CustomerError::Deleted(customer.id));
        }
        Ok(auth.visible(customer))
    }

    /// The customers with these ids, in the same order (an id asked twice appears twice), as the
    /// caller may see them. All or nothing.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`], [`CustomerError::NotFound`] or
    /// [`CustomerError::Deleted`] for the first id that cannot be returned.
    pub async fn batch_get(&self, auth: &Authorizer<'_>, ids: &[CustomerId]) -> Result<Vec<Customer>, CustomerError> {
        let found: HashMap<CustomerId, Customer> = self
            .repository
            .find_many(ids)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        ids.iter()
            .map(|id| {
                let customer = found.get(id);
                auth.require(Permission::CustomersGet, id, customer.map(CustomerFacts::from).as_ref())?;
                match customer {
                    None => Err(CustomerError::NotFound(id.clone())),
                    Some(c) if c.is_deleted() => Err(CustomerError::Deleted(id.clone())),
                    Some(c) => Ok(auth.visible(c.clone())),
                }
            })
            .collect()
    }

    /// One page of the customers the caller may list, as it may see them. The caller's scope is
    /// part of the query, so filters, order and paging apply within it.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.list`;
    /// [`CustomerError::ContactFieldHidden`] for a filter on a contact field the caller sees
    /// masked.
    pub async fn list(&self, auth: &Authorizer<'_>, query: &ListQuery) -> Result<Page, CustomerError> {
        let scope = auth.list_scope(query.filter.as_ref())?;
        let query = ListQuery { scope, ..query.clone() };
        let size = query.page_size.get();
        let mut customers = self.repository.list(&query, size.saturating_add(1)).await?;
        let has_more = customers.len() > size as usize;
        customers.truncate(size as usize);
        let next = match customers.last() {
            Some(last) if has_more => Some(query.order.cursor_after(last)),
            _ => None,
        };
        let customers = customers.into_iter().map(|c| auth.visible(c)).collect();
        Ok(Page { customers, next })
    }

    /// Applies `changes` to the customer. With an etag, the write happens only if it still
    /// matches; without one, the change is applied to the latest state (retrying if another
    /// writer wins a race), so no concurrent update is lost either way.
    ///
    /// Changing `owner` or `department` (to a different value) also needs `customers.reassign`
    /// on the customer. A
    /// caller who sees contact details masked may send them back unchanged: a change to the
    /// masked form of the stored value is ignored, so a read-modify-write never overwrites an
    /// address with stars.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] (decided before existence),
    /// [`CustomerError::NotFound`], [`CustomerError::Deleted`], [`CustomerError::EtagMismatch`]
    /// (only when `etag` is given and stale), or [`CustomerError::Invalid`] when the changes do
    /// not fit the stored customer.
    pub async fn update(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        id: &CustomerId,
        etag: Option<&str>,
        changes: &[ProfileChange],
    ) -> Result<Customer, CustomerError> {
        self.write(auth, Permission::CustomersUpdate, id, etag, |current| {
            if current.is_deleted() {
                return Err(CustomerError::Deleted(current.id.clone()));
            }
            let facts = CustomerFacts::from(current);
            let changes = without_masked_echoes(&current.profile.contact, changes);
            reject_masked_phones(&changes)?;
            let mut next = current.updated(&changes, classifier.now)?;
            let history = classifier.apply(&mut next, HistorySource::Rule, Some(auth.principal()));
            let reassigned =
                next.profile.owner != current.profile.owner || next.profile.department != current.profile.department;
            if reassigned {
                auth.require(Permission::CustomersReassign, &current.id, Some(&facts))?;
            }
            Ok((next, history))
        })
        .await
    }

    /// Soft-deletes the customer.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.delete` for it,
    /// [`CustomerError::NotFound`], [`CustomerError::Deleted`] (deleted already),
    /// [`CustomerError::EtagMismatch`] (only when `etag` is given and stale).
    pub async fn delete(
        &self,
        auth: &Authorizer<'_>,
        id: &CustomerId,
        etag: Option<&str>,
    ) -> Result<Customer, CustomerError> {
        self.write(auth, Permission::CustomersDelete, id, etag, |current| {
            if current.is_deleted() {
                return Err(CustomerError::Deleted(current.id.clone()));
            }
            Ok((current.deleted(auth.now()), Vec::new()))
        })
        .await
    }

    /// Restores a soft-deleted customer.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.delete` for it,
    /// [`CustomerError::NotFound`], [`CustomerError::NotDeleted`].
    pub async fn undelete(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        id: &CustomerId,
    ) -> Result<Customer, CustomerError> {
        self.write(auth, Permission::CustomersDelete, id, None, |current| {
            if !current.is_deleted() {
                return Err(CustomerError::NotDeleted(current.id.clone()));
            }
            let mut next = current.undeleted(classifier.now);
            let history = classifier.apply(&mut next, HistorySource::Rule, Some(auth.principal()));
            Ok((next, history))
        })
        .await
    }

    /// Read, check `permission` on what was read, transition, compare-and-set; the result is
    /// what the caller may see of the written customer. A lost race means another write committed in between:
    /// with an etag the caller pinned the version it saw, so that is ABORTED; without one the
    /// write is retried on the new state until it wins. It is never ABORTED (the contract keeps
    /// ETAG_MISMATCH for a stale etag), and it cannot spin idly: every lost race is another
    /// writer's progress, and the server's request timeout bounds the wait.
    async fn write(
        &self,
        auth: &Authorizer<'_>,
        permission: Permission,
        id: &CustomerId,
        etag: Option<&str>,
        transition: impl Fn(&Customer) -> Result<(Customer, Vec<HistoryEntry>), CustomerError>,
    ) -> Result<Customer, CustomerError> {
        let etag = etag.map(str::trim).filter(|e| !e.is_empty());
        loop {
            let current = self.repository.find(id).await?;
            auth.require(permission, id, current.as_ref().map(CustomerFacts::from).as_ref())?;
            let current = current.ok_or_else(|| CustomerError::NotFound(id.clone()))?;
            if let Some(etag) = etag
                && !current.version.matches_etag(etag)
            {
                return Err(CustomerError::EtagMismatch(current.id));
            }
            let (next, history) = transition(&current)?;
            match self.repository.replace(&current, &next, &history).await {
                Ok(()) => return Ok(auth.visible(next)),
                Err(CustomerError::EtagMismatch(_)) if etag.is_none() => {}
                Err(other) => return Err(other),
            }
        }
    }
}

/// Fails when a change would store a masked phone number (one that is not the echo of the
/// stored number, which [`without_masked_echoes`] has removed already).
fn reject_masked_phones(changes: &[ProfileChange]) -> Result<(), CustomerError> {
    let mut violations = crate::error::Violations::new();
    for change in changes {
        let (field, phone) = match change {
            ProfileChange::ContactPhone(Some(phone)) => ("customer.contact.phone", phone),
            ProfileChange::Contact(contact) => match &contact.phone {
                Some(phone) => ("customer.contact.phone", phone),
                None => continue,
            },
            _ => continue,
        };
        if phone.is_masked() {
            violations.add(
                field,
                "is a masked number that does not match the stored one; send the full number in E.164 form, \
                 or leave the field out of the update mask to keep it",
            );
        }
    }
    violations.finish(|| Some(()))
}

/// `changes` without those that set the contact's e-mail or phone to the masked form of its
/// stored value: what a caller who sees contacts masked sends back when it did not mean to change
/// them. Whoever sends it, such a value means "unchanged", never a new value.
fn without_masked_echoes(stored: &Contact, changes: &[ProfileChange]) -> Vec<ProfileChange> {
    let masked = stored.masked();
    changes
        .iter()
        .filter_map(|change| match change {
            ProfileChange::ContactEmail(Some(email)) if masked.email.as_ref() == Some(email) => None,
            ProfileChange::ContactPhone(Some(phone)) if masked.phone.as_ref() == Some(phone) => None,
            ProfileChange::Contact(contact) => {
                let mut contact = contact.clone();
                if contact.email.is_some() && contact.email == masked.email {
                    contact.email.clone_from(&stored.email);
                }
                if contact.phone.is_some() && contact.phone == masked.phone {
                    contact.phone.clone_from(&stored.phone);
                }
                Some(ProfileChange::Contact(contact))
            }
            other => Some(other.clone()),
        })
        .collect()
}
