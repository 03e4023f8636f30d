//! Users, as an administrator makes and removes them.

use uuid::Uuid;

use super::{App, AppError};
use crate::obs::audit::{self, Event};
use crate::passwords;
use crate::store::UserWrite;
use crate::tokens::{AccessToken, TokenNonce, new_user_id};
use crate::users::{NewUser, User};

impl App {
    /// Creates a user with a fresh id and access token. The email is unique
    /// (case-insensitive): DynamoDB enforces it in the same transaction that writes the user.
    pub async fn create_user(&self, new: NewUser) -> Result<(User, AccessToken), AppError> {
        self.insert_user(new, new_user_id()?, TokenNonce::generate()?, None)
            .await
    }

    /// [`create_user`](Self::create_user) with a chosen id and nonce (the local demo user)
    /// and, if given, a password hash, written in the same transaction.
    pub async fn insert_user(
        &self,
        new: NewUser,
        id: Uuid,
        nonce: TokenNonce,
        password_hash: Option<String>,
    ) -> Result<(User, AccessToken), AppError> {
        let keys = self.keys.ring();
        let token = self.fresh_token(&keys, nonce);
        let user = new.into_user(id, token.issued_at, token)?;
        match self.store.create_user(&user, password_hash.as_deref()).await? {
            UserWrite::Created => {}
            UserWrite::EmailTaken => return Err(AppError::EmailTaken),
        }
        audit::record(Event::UserCreated, Some(user.id), "admin");
        let access_token = keys.access_token(user.id, nonce);
        Ok((user, access_token))
    }

    /// Sets the user's password (Argon2id; [`passwords::hash`] says what is accepted) and
    /// clears the account's failed sign-ins. `Ok(false)` when the user is gone.
    pub async fn set_password(&self, user: &User, password: &str) -> Result<bool, AppError> {
        let hash = passwords::hash(password)?;
        Ok(self.store.set_password_hash(&user.email, user.id, &hash).await?)
    }

    /// Deletes the user, its email claim and its sessions (the administrator's); `false`
    /// when it was gone already.
    pub async fn delete_user(&self, user: &User) -> Result<bool, AppError> {
        let deleted = self.store.delete_user(user).await?;
        if deleted {
            audit::record(Event::UserDeleted, Some(user.id), "admin");
        }
        Ok(deleted)
    }
}
