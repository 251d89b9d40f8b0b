//! Who is calling. This is the seam where authentication plugs in: a transport layer in front of
//! every service turns the request's credentials into a [`Caller`] and attaches it to the
//! request; handlers read it and (once access control exists) ask the domain's authorizer about
//! it. Today every call is allowed and every caller is [`Caller::Anonymous`].

/// The authenticated identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were checked. Until access control lands, every request is anonymous and
    /// allowed.
    Anonymous,
}

impl Caller {
    /// A short, loggable description of the caller (never a secret).
    pub fn describe(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
        }
    }
}
