//! Talking to the stack as a REST client would: requests with a bearer
//! token, logins, and answers read back as JSON.

use serde_json::{Value, json};

use crate::stack::{ADMIN_PASSWORD, Stack};

impl Stack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(token)
    }

    pub fn patch(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.patch(self.url(path)).bearer_auth(token)
    }

    pub fn put(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.put(self.url(path)).bearer_auth(token)
    }

    pub fn delete(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(token)
    }

    /// Sends and reads back JSON: (status, body).
    pub async fn json(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Logs in; answers the status and the body.
    pub async fn try_login(&self, username: &str, password: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self.try_login(username, password).await;
        assert_eq!(status, 200, "login of {username} failed: {body}");
        body["access_token"].as_str().expect("a token").to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates an account as the admin and answers its token.
    pub async fn user(&self, username: &str, role: &str, unit: &str) -> String {
        let admin = self.admin().await;
        let password = "Village-pass1";
        let response = self
            .post("/api/v1/users", &admin)
            .json(
                &json!({ "username": username, "password": password, "role": role, "unit": unit }),
            )
            .send()
            .await
            .expect("create user");
        assert_eq!(
            response.status().as_u16(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
        self.login(username, password).await
    }

    /// Imports a division table (CSV) into the directory: (status, body).
    pub async fn import(&self, token: &str, csv: impl Into<reqwest::Body>) -> (u16, Value) {
        self.json(
            self.post("/api/v1/units/import", token)
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await
    }
}
