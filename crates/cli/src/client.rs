//! [`Clients`]: the generated tonic clients of the three services on one lazily connected
//! channel, sending the API key as `authorization: Bearer …` and a deadline with every call.

use std::{fmt, time::Duration};

use crm_api::crm::v1::{
    access_service_client::AccessServiceClient, classification_service_client::ClassificationServiceClient,
    customer_service_client::CustomerServiceClient,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{cli::GlobalArgs, error::CliError};

/// The channel every client uses: authenticated by [`Bearer`].
pub type AuthChannel = InterceptedService<Channel, Bearer>;
/// A `crm.v1.CustomerService` client.
pub type CustomersClient = CustomerServiceClient<AuthChannel>;
/// A `crm.v1.AccessService` client.
pub type AccessClient = AccessServiceClient<AuthChannel>;
/// A `crm.v1.ClassificationService` client.
pub type ClassificationClient = ClassificationServiceClient<AuthChannel>;

/// Adds `authorization: Bearer <key>` (when there is a key) and `grpc-timeout` to every call.
/// Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Bearer {
    header: Option<MetadataValue<Ascii>>,
    timeout: Duration,
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("header", &self.header.as_ref().map(|_| "Bearer ***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        request.set_timeout(self.timeout);
        Ok(request)
    }
}

/// The clients of the three services, sharing one channel. Cheap to clone; each method returns a
/// fresh client handle on the same channel.
#[derive(Debug, Clone)]
pub struct Clients {
    channel: AuthChannel,
}

impl Clients {
    /// Builds the clients from the global flags: reads the key (`--token`, `CRM_TOKEN` or
    /// `--token-file`), checks the server URI and prepares a channel that connects on first use,
    /// so commands that never call the server (completions) never fail on it.
    pub fn from_args(args: &GlobalArgs) -> Result<Self, CliError> {
        let key = read_key(args)?;
        let header = key
            .map(|key| {
                MetadataValue::try_from(format!("Bearer {key}"))
                    .map_err(|_| CliError::Invalid("the API key contains characters that cannot be sent (it must be ASCII without control characters)".to_owned()))
            })
            .transpose()?;
        let timeout = Duration::from_secs(args.timeout.max(1));
        let endpoint = Endpoint::from_shared(args.server.clone()).map_err(|_| {
            CliError::Usage(format!(
                "--server {:?} is not a valid URI, e.g. http://127.0.0.1:50051",
                args.server
            ))
        })?;
        if endpoint.uri().scheme_str() != Some("http") {
            return Err(CliError::Usage(format!(
                "--server {:?}: only http:// is supported (put TLS in front of crmd with a proxy)",
                args.server
            )));
        }
        // The channel's own timeout backs up the deadline sent to the server, a little later, so
        // a server that ignores `grpc-timeout` cannot hang the command.
        let channel = endpoint
            .connect_timeout(timeout)
            .timeout(timeout + Duration::from_secs(1))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            channel: InterceptedService::new(channel, Bearer { header, timeout }),
        })
    }

    /// A `CustomerService` client.
    pub fn customers(&self) -> CustomersClient {
        CustomerServiceClient::new(self.channel.clone())
    }

    /// An `AccessService` client.
    pub fn access(&self) -> AccessClient {
        AccessServiceClient::new(self.channel.clone())
    }

    /// A `ClassificationService` client.
    pub fn classification(&self) -> ClassificationClient {
        ClassificationServiceClient::new(self.channel.clone())
    }
}

/// The API key from `--token`/`CRM_TOKEN` or `--token-file` (trailing white space trimmed);
/// `None` when neither is given.
fn read_key(args: &GlobalArgs) -> Result<Option<String>, CliError> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("reading the key file {}", path.display()), e))?;
        let key = text.trim_end().to_owned();
        if key.is_empty() {
            return Err(CliError::Invalid(format!("the key file {} is empty", path.display())));
        }
        return Ok(Some(key));
    }
    Ok(args
        .token
        .as_ref()
        .map(|t| t.expose().trim().to_owned())
        .filter(|t| !t.is_empty()))
}
