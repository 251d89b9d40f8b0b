//! [`CustomerService`]: the customer use cases (create, get, batch get, list, update, delete,
//! undelete) over any [`CustomerRepository`]. Transport-independent: the gRPC server parses
//! requests into domain values, calls these, and maps the results back.

use std::collections::HashMap;

use crate::{
    customer::{Customer, NewCustomer, ProfileChange, now, values::CustomerId},
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
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when the chosen id is taken.
    pub async fn create(&self, new: NewCustomer) -> Result<Customer, CustomerError> {
        if let Some(request_id) = new.request_id
            && let Some(existing) = self.repository.find_by_request_id(request_id).await?
        {
            return Ok(existing);
        }
        let id = new.id.unwrap_or_else(CustomerId::generate);
        let customer = Customer::create(id, new.profile, now());
        match self.repository.insert(&customer, new.request_id).await {
            Ok(()) => Ok(customer),
            // A concurrent retry of the same request may have won the race.
            Err(CustomerError::AlreadyExists(id)) => match new.request_id {
                Some(request_id) => match self.repository.find_by_request_id(request_id).await? {
                    Some(existing) => Ok(existing),
                    None => Err(CustomerError::AlreadyExists(id)),
                },
                None => Err(CustomerError::AlreadyExists(id)),
            },
            Err(other) => Err(other),
        }
    }

    /// The customer with this id.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`], or [`CustomerError::Deleted`] when it is soft-deleted.
    pub async fn get(&self, id: &CustomerId) -> Result<Customer, CustomerError> {
        let customer = self.find_any(id).await?;
        if customer.is_deleted() {
            return Err(CustomerError::Deleted(customer.id));
        }
        Ok(customer)
    }

    /// The customers with these ids, in the same order (an id asked twice appears twice).
    /// All or nothing.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`] or [`CustomerError::Deleted`] for the first id that cannot be
    /// returned.
    pub async fn batch_get(&self, ids: &[CustomerId]) -> Result<Vec<Customer>, CustomerError> {
        let found: HashMap<CustomerId, Customer> = self
            .repository
            .find_many(ids)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        ids.iter()
            .map(|id| match found.get(id) {
                None => Err(CustomerError::NotFound(id.clone())),
                Some(c) if c.is_deleted() => Err(CustomerError::Deleted(id.clone())),
                Some(c) => Ok(c.clone()),
            })
            .collect()
    }

    /// One page of customers.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, CustomerError> {
        let size = query.page_size.get();
        let mut customers = self.repository.list(query, size.saturating_add(1)).await?;
        let has_more = customers.len() > size as usize;
        customers.truncate(size as usize);
        let next = match customers.last() {
            Some(last) if has_more => Some(query.order.cursor_after(last)),
            _ => None,
        };
        Ok(Page { customers, next })
    }

    /// Applies `changes` to the customer. With an etag, the write happens only if it still
    /// matches; without one, the change is applied to the latest state (retrying if another
    /// writer wins a race), so no concurrent update is lost either way.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`], [`CustomerError::Deleted`], [`CustomerError::EtagMismatch`]
    /// (only when `etag` is given and stale), or [`CustomerError::Invalid`] when the changes do
    /// not fit the stored customer.
    pub async fn update(
        &self,
        id: &CustomerId,
        etag: Option<&str>,
        changes: &[ProfileChange],
    ) -> Result<Customer, CustomerError> {
        self.write(id, etag, |current| {
            if current.is_deleted() {
                return Err(CustomerError::Deleted(current.id.clone()));
            }
            current.updated(changes, now())
        })
        .await
    }

    /// Soft-deletes the customer.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`], [`CustomerError::Deleted`] (deleted already),
    /// [`CustomerError::EtagMismatch`] (only when `etag` is given and stale).
    pub async fn delete(&self, id: &CustomerId, etag: Option<&str>) -> Result<Customer, CustomerError> {
        self.write(id, etag, |current| {
            if current.is_deleted() {
                return Err(CustomerError::Deleted(current.id.clone()));
            }
            Ok(current.deleted(now()))
        })
        .await
    }

    /// Restores a soft-deleted customer.
    ///
    /// # Errors
    /// [`CustomerError::NotFound`], [`CustomerError::NotDeleted`].
    pub async fn undelete(&self, id: &CustomerId) -> Result<Customer, CustomerError> {
        self.write(id, None, |current| {
            if !current.is_deleted() {
                return Err(CustomerError::NotDeleted(current.id.clone()));
            }
            Ok(current.undeleted(now()))
        })
        .await
    }

    async fn find_any(&self, id: &CustomerId) -> Result<Customer, CustomerError> {
        self.repository
            .find(id)
            .await?
            .ok_or_else(|| CustomerError::NotFound(id.clone()))
    }

    /// Read, transition, compare-and-set. A lost race means another write committed in between:
    /// with an etag the caller pinned the version it saw, so that is ABORTED; without one the
    /// write is retried on the new state until it wins. It is never ABORTED (the contract keeps
    /// ETAG_MISMATCH for a stale etag), and it cannot spin idly: every lost race is another
    /// writer's progress, and the server's request timeout bounds the wait.
    async fn write(
        &self,
        id: &CustomerId,
        etag: Option<&str>,
        transition: impl Fn(&Customer) -> Result<Customer, CustomerError>,
    ) -> Result<Customer, CustomerError> {
        let etag = etag.map(str::trim).filter(|e| !e.is_empty());
        loop {
            let current = self.find_any(id).await?;
            if let Some(etag) = etag
                && !current.version.matches_etag(etag)
            {
                return Err(CustomerError::EtagMismatch(current.id));
            }
            let next = transition(&current)?;
            match self.repository.replace(&next, current.version).await {
                Ok(()) => return Ok(next),
                Err(CustomerError::EtagMismatch(_)) if etag.is_none() => {}
                Err(other) => return Err(other),
            }
        }
    }
}
