//! The generated tonic clients with an `authorization: Bearer <key>` interceptor.

use crm_api::crm::v1::{
    access_service_client::AccessServiceClient, classification_service_client::ClassificationServiceClient,
    customer_service_client::CustomerServiceClient,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

/// Sends `authorization: Bearer <key>` with every call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// Sends `key`.
    ///
    /// # Errors
    /// When the key is not printable ASCII (crmd's keys always are).
    pub fn new(key: &str) -> anyhow::Result<Self> {
        Ok(Self(
            format!("Bearer {key}")
                .parse()
                .map_err(|_| anyhow::anyhow!("the API key is not printable ASCII"))?,
        ))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A `CustomerService` client that authenticates with a key.
pub type CustomersClient = CustomerServiceClient<InterceptedService<Channel, Bearer>>;
/// An `AccessService` client that authenticates with a key.
pub type AccessClient = AccessServiceClient<InterceptedService<Channel, Bearer>>;
/// A `ClassificationService` client that authenticates with a key.
pub type ClassificationClient = ClassificationServiceClient<InterceptedService<Channel, Bearer>>;

/// A `CustomerService` client on `channel` calling with `bearer`.
pub fn customers(channel: &Channel, bearer: &Bearer) -> CustomersClient {
    CustomerServiceClient::with_interceptor(channel.clone(), bearer.clone())
}

/// An `AccessService` client on `channel` calling with `bearer`.
pub fn access(channel: &Channel, bearer: &Bearer) -> AccessClient {
    AccessServiceClient::with_interceptor(channel.clone(), bearer.clone())
}

/// A `ClassificationService` client on `channel` calling with `bearer`.
pub fn classification(channel: &Channel, bearer: &Bearer) -> ClassificationClient {
    ClassificationServiceClient::with_interceptor(channel.clone(), bearer.clone())
}
