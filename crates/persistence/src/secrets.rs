//! Random keys the service creates once and all replicas share through the database, e.g. the
//! key that signs page tokens (so a token from one replica is valid on another).

use base64::Engine;
use rand::Rng;
use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

use crate::{database::Database, entity::service_secret};

/// The name of the key that signs list page tokens.
pub const PAGE_TOKEN_KEY: &str = "page_token_hmac_key";

/// Returns the secret called `name`, creating a random 256-bit one if there is none yet. When
/// several replicas start at once, all end up with the one that was stored first.
///
/// # Errors
/// When the database cannot be read or written, or holds a value that is not base64.
pub async fn load_or_create(db: &Database, name: &str) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let conn = db.connection();
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    let row = service_secret::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(base64::engine::general_purpose::STANDARD.encode(fresh)),
    };
    service_secret::Entity::insert(row)
        .on_conflict(OnConflict::column(service_secret::Column::Name).do_nothing().to_owned())
        .try_insert()
        .exec_without_returning(conn)
        .await?;
    let stored = service_secret::Entity::find_by_id(name)
        .one(conn)
        .await?
        .ok_or_else(|| format!("secret {name} vanished right after it was stored"))?;
    Ok(base64::engine::general_purpose::STANDARD.decode(stored.value)?)
}
