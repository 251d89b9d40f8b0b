//! The ports the domain needs from the outside world, as traits. Persistence implements them;
//! the domain's services use them. Each method's error contract is part of the port: an adapter
//! must turn its driver's errors into exactly these [`CustomerError`] cases.

use std::future::Future;

use crate::{
    customer::{Customer, RequestId, Version, values::CustomerId},
    error::CustomerError,
    listing::ListQuery,
};

/// Where customers are stored.
///
/// Every method may fail with [`CustomerError::Unexpected`] (e.g. the database is unreachable);
/// other cases are listed per method. Writes are atomic: after an error nothing was written.
pub trait CustomerRepository: Send + Sync + 'static {
    /// Stores a new customer, remembering `request_id` (if any) as the request that created it.
    ///
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when a customer with this id, or a customer created by
    /// the same `request_id`, exists (deleted or not).
    fn insert(
        &self,
        customer: &Customer,
        request_id: Option<RequestId>,
    ) -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// The customer with this id, deleted or not; `None` if there is none.
    fn find(&self, id: &CustomerId) -> impl Future<Output = Result<Option<Customer>, CustomerError>> + Send;

    /// The customers with these ids that exist (deleted or not), in any order, each once.
    fn find_many(&self, ids: &[CustomerId]) -> impl Future<Output = Result<Vec<Customer>, CustomerError>> + Send;

    /// The customer that the create with this request id made, if any.
    fn find_by_request_id(
        &self,
        request_id: RequestId,
    ) -> impl Future<Output = Result<Option<Customer>, CustomerError>> + Send;

    /// Replaces the stored customer with `customer` if, and only if, its stored version is still
    /// `expected`. This compare-and-set is what keeps concurrent writers from losing updates.
    ///
    /// # Errors
    /// [`CustomerError::EtagMismatch`] when the stored version is not `expected` (someone else
    /// wrote in between); [`CustomerError::NotFound`] when there is no such customer.
    fn replace(&self, customer: &Customer, expected: Version)
    -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// Up to `limit` customers matching `query`, in its order, starting after its cursor.
    fn list(&self, query: &ListQuery, limit: u32) -> impl Future<Output = Result<Vec<Customer>, CustomerError>> + Send;
}
