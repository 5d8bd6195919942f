//! Tokens as identity providers issue them (contracts §2): a key set served by a local test
//! server with RSA, EC and Ed25519 keys generated here, rotation, the classic algorithm
//! confusion attacks, `iss`/`aud`/`exp`/`nbf`/`sub`, roles by JSON Pointer, and readiness
//! while the key set cannot be loaded.

mod common;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, JWT_SECRET, TestApp, eventually};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use order_service::config::Config;
use p256::elliptic_curve::common::getrandom::SysRng;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A private key the test signs with and the public JWK the key set publishes for it.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    alg: Algorithm,
    private: Arc<EncodingKey>,
    jwk: Jwk,
    /// The public key's bytes as an attacker would find them (for the HS256 confusion attack).
    public_bytes: Vec<u8>,
}

impl SigningKey {
    fn new(kid: &str, alg: Algorithm, private: EncodingKey, public_bytes: Vec<u8>) -> Self {
        let mut jwk = Jwk::from_encoding_key(&private, alg).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            alg,
            private: Arc::new(private),
            jwk,
            public_bytes,
        }
    }

    /// The same key material published under another `kid`.
    fn renamed(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = kid.to_owned();
        key.jwk.common.key_id = Some(kid.to_owned());
        key
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.alg, &self.kid, claims)
    }

    /// Signs with this key under the header's `alg` and any `kid`.
    fn sign_as(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &self.private).expect("token")
    }
}

fn rsa_key(kid: &str) -> SigningKey {
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    let private = rsa::PrivateKey::new(&mut SysRng, 2048).expect("RSA key");
    let der = private.to_pkcs1_der().expect("PKCS#1");
    let public = private
        .to_public_key()
        .to_pkcs1_der()
        .expect("public PKCS#1");
    SigningKey::new(
        kid,
        Algorithm::RS256,
        EncodingKey::from_rsa_der(der.as_bytes()),
        public.as_bytes().to_vec(),
    )
}

fn ec_key(kid: &str) -> SigningKey {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::generate();
    let der = secret.to_pkcs8_der().expect("PKCS#8");
    let public = secret.public_key().to_sec1_bytes().to_vec();
    SigningKey::new(
        kid,
        Algorithm::ES256,
        EncodingKey::from_ec_der(der.as_bytes()),
        public,
    )
}

fn ed25519_key(kid: &str) -> SigningKey {
    // PKCS#8 v1 of an Ed25519 seed: a fixed 16-byte prefix, then the 32 random bytes.
    let seed: [u8; 32] = rand::random();
    let mut der = hex_bytes("302e020100300506032b657004220420");
    der.extend_from_slice(&seed);
    SigningKey::new(
        kid,
        Algorithm::EdDSA,
        EncodingKey::from_ed_der(&der),
        vec![],
    )
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Keys are generated once per test binary: RSA generation is the slow part.
struct Keys {
    rsa: SigningKey,
    /// Another RSA key, for rogue signatures and rotation.
    rsa_other: SigningKey,
    ec: SigningKey,
    ed: SigningKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key("rsa-1"),
        rsa_other: rsa_key("rsa-2"),
        ec: ec_key("ec-1"),
        ed: ed25519_key("ed-1"),
    })
}

/// A local identity provider: serves the key set it is told to, or 503 while failing.
#[derive(Clone)]
struct FakeIdp {
    url: String,
    published: Arc<Mutex<Option<Value>>>,
    hits: Arc<AtomicUsize>,
}

impl FakeIdp {
    async fn start(keys: &[&SigningKey]) -> Self {
        let idp = Self {
            url: String::new(),
            published: Arc::new(Mutex::new(None)),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        idp.publish(keys);
        let app = axum::Router::new()
            .route(
                "/realms/shop/protocol/openid-connect/certs",
                axum::routing::get(serve_jwks),
            )
            .with_state(idp.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/realms/shop/protocol/openid-connect/certs"),
            ..idp
        }
    }

    /// Publishes exactly these keys; an empty list makes the endpoint fail with 503.
    fn publish(&self, keys: &[&SigningKey]) {
        let set = (!keys.is_empty())
            .then(|| json!({"keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>()}));
        *self.published.lock().unwrap() = set;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(idp): State<FakeIdp>) -> Response {
    idp.hits.fetch_add(1, Ordering::SeqCst);
    match idp.published.lock().unwrap().clone() {
        Some(set) => Json(set).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims as Keycloak puts them in an access token.
fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "exp": now() + 300, "iat": now(), "nbf": now() - 5,
        "iss": "https://idp.example/realms/shop", "aud": "account",
        "azp": "storefront", "realm_access": {"roles": ["offline_access"]}
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret).unwrap();
    encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// Status and problem code of an authenticated read of the caller's own orders.
async fn list_as(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/api/v1/orders", token).await
}

async fn spawn_with_idp(
    backend: Backend,
    idp: &FakeIdp,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let url = idp.url.clone();
    TestApp::spawn_with(backend, move |c| {
        c.jwt_secret = None;
        c.jwt_jwks_url = Some(url);
        adjust(c);
    })
    .await
}

async fn wait_ready(app: &TestApp) {
    eventually(15, "readiness", || async {
        let response = app.http.get(app.url("/health/ready")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
}

async fn rs256_es256_and_eddsa_tokens_are_accepted(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa, &k.ec, &k.ed]).await;
    // Both ways configured: provider tokens and HS256 tokens side by side.
    let app = spawn_with_idp(backend, &idp, |c| c.jwt_secret = Some(JWT_SECRET.into())).await;
    wait_ready(&app).await;

    for key in [&k.rsa, &k.ec, &k.ed] {
        let (s, b) = list_as(&app, &key.sign(&claims("alice"))).await;
        assert_eq!(s, 200, "{:?}: {b}", key.alg);
    }
    let (s, _) = list_as(&app, &common::token("alice", &[])).await;
    assert_eq!(s, 200, "JWT_SECRET keeps working beside the key set");

    // The token's `sub` owns the order it creates.
    let session = app.completed_session("alice");
    let (s, order) = app
        .post(
            "/api/v1/orders/checkout",
            &k.ec.sign(&claims("alice")),
            json!({"checkoutSessionId": session}),
        )
        .await;
    assert_eq!(
        (s, order["userId"].as_str()),
        (201, Some("alice")),
        "{order}"
    );
    let (s, _) = app
        .post(
            "/api/v1/orders/checkout",
            &k.rsa.sign(&claims("mallory")),
            json!({"checkoutSessionId": session}),
        )
        .await;
    assert_eq!(s, 403);

    // HS256 signed with the RSA public key: the secret is not the public key.
    let confused = hs256(&claims("alice"), &k.rsa.public_bytes);
    assert_eq!(list_as(&app, &confused).await.0, 401);
}

async fn forged_and_confused_tokens_are_401(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa, &k.ec]).await;
    let app = spawn_with_idp(backend, &idp, |_| {}).await;
    wait_ready(&app).await;
    assert_eq!(list_as(&app, &k.rsa.sign(&claims("alice"))).await.0, 200);

    let body = URL_SAFE_NO_PAD.encode(claims("alice").to_string());
    let alg_none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#)
    );
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".into());
    let hs256_with_public_key = encode(
        &hs_header,
        &claims("alice"),
        &EncodingKey::from_secret(&k.rsa.public_bytes).unwrap(),
    )
    .unwrap();
    let hs256_with_ec_public_key = encode(
        &hs_header,
        &claims("alice"),
        &EncodingKey::from_secret(&k.ec.public_bytes).unwrap(),
    )
    .unwrap();
    let mut no_kid = Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let cases = [
        ("alg none", alg_none),
        (
            "HS256 signed with the RSA public key",
            hs256_with_public_key,
        ),
        (
            "HS256 signed with the EC public key",
            hs256_with_ec_public_key,
        ),
        (
            "rogue key under a known kid",
            k.rsa_other
                .sign_as(Algorithm::RS256, "rsa-1", &claims("alice")),
        ),
        (
            "RS256 header on the EC key",
            k.rsa.sign_as(Algorithm::RS256, "ec-1", &claims("alice")),
        ),
        (
            "ES256 header on the RSA key",
            k.ec.sign_as(Algorithm::ES256, "rsa-1", &claims("alice")),
        ),
        (
            "unknown kid",
            k.rsa_other
                .sign_as(Algorithm::RS256, "who-knows", &claims("alice")),
        ),
        (
            "no kid",
            encode(&no_kid, &claims("alice"), &k.rsa.private).unwrap(),
        ),
        ("a valid token with its payload swapped", {
            let good = k.rsa.sign(&claims("alice"));
            let parts: Vec<&str> = good.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(claims("admin").to_string());
            format!("{}.{forged}.{}", parts[0], parts[2])
        }),
    ];
    for (name, token) in cases {
        let (s, b) = list_as(&app, &token).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{name}: {b}"
        );
    }
}

async fn claims_are_checked_as_configured(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa]).await;
    let app = spawn_with_idp(backend, &idp, |c| {
        c.jwt_issuer = Some("https://idp.example/realms/shop".into());
        c.jwt_audience = Some("order-service".into());
    })
    .await;
    wait_ready(&app).await;
    let ours = || with(claims("alice"), "aud", json!("order-service"));
    let cases: Vec<(&str, Value, u16)> = vec![
        ("aud as a string", ours(), 200),
        (
            "aud as an array holding ours",
            with(claims("alice"), "aud", json!(["account", "order-service"])),
            200,
        ),
        ("aud of another service", claims("alice"), 401),
        (
            "aud array without ours",
            with(claims("alice"), "aud", json!(["account", "billing"])),
            401,
        ),
        ("no aud", without(ours(), "aud"), 401),
        (
            "another issuer",
            with(ours(), "iss", json!("https://evil.example/realms/shop")),
            401,
        ),
        ("no iss", without(ours(), "iss"), 401),
        ("expired", with(ours(), "exp", json!(now() - 120)), 401),
        (
            "expired within the 30 s leeway",
            with(ours(), "exp", json!(now() - 10)),
            200,
        ),
        ("no exp", without(ours(), "exp"), 401),
        (
            "not valid yet",
            with(ours(), "nbf", json!(now() + 300)),
            401,
        ),
        (
            "nbf within the leeway",
            with(ours(), "nbf", json!(now() + 10)),
            200,
        ),
        ("no sub", without(ours(), "sub"), 401),
        ("empty sub", with(ours(), "sub", json!("")), 401),
        ("blank sub", with(ours(), "sub", json!("   ")), 401),
        ("sub not a string", with(ours(), "sub", json!(42)), 401),
    ];
    for (name, claims, want) in cases {
        let (s, b) = list_as(&app, &k.rsa.sign(&claims)).await;
        assert_eq!(s, want, "{name}: {b}");
    }
}

async fn aud_is_not_checked_when_no_audience_is_configured(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa]).await;
    let app = spawn_with_idp(backend, &idp, |c| c.jwt_secret = Some(JWT_SECRET.into())).await;
    wait_ready(&app).await;
    for aud in [json!("account"), json!(["account", "broker"])] {
        let token = k.rsa.sign(&with(claims("alice"), "aud", aud.clone()));
        assert_eq!(list_as(&app, &token).await.0, 200, "RS256 with aud {aud}");
        let token = hs256(
            &with(claims("alice"), "aud", aud.clone()),
            JWT_SECRET.as_bytes(),
        );
        assert_eq!(list_as(&app, &token).await.0, 200, "HS256 with aud {aud}");
    }
}

async fn roles_come_from_the_configured_pointer(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.jwt_roles_claim = "/realm_access/roles".into();
        c.jwt_admin_role = "order-admin".into();
    })
    .await;
    let secret = JWT_SECRET.as_bytes();
    let session = app.completed_session("alice");
    let (s, order) = app
        .post(
            "/api/v1/orders/checkout",
            &hs256(&claims("alice"), secret),
            json!({"checkoutSessionId": session}),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let cases = [
        (
            "realm role order-admin",
            json!({"realm_access": {"roles": ["offline_access", "order-admin"]}}),
            200,
        ),
        (
            "top-level roles ignored",
            json!({"roles": ["order-admin", "admin"], "realm_access": {"roles": ["user"]}}),
            404,
        ),
        (
            "exact match only",
            json!({"realm_access": {"roles": ["Order-Admin", "order-admin-2", "admin"]}}),
            404,
        ),
        ("no roles at all", json!({"realm_access": {}}), 404),
        (
            "roles not an array",
            json!({"realm_access": {"roles": "order-admin"}}),
            404,
        ),
    ];
    for (name, extra, want) in cases {
        let mut claims = without(claims("bob"), "realm_access");
        for (key, value) in extra.as_object().unwrap() {
            claims[key] = value.clone();
        }
        let (s, b) = app.get(&path, &hs256(&claims, secret)).await;
        assert_eq!(s, want, "{name}: {b}");
    }
}

async fn key_rotation_needs_no_restart(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa]).await;
    let app = spawn_with_idp(backend, &idp, |_| {}).await;
    wait_ready(&app).await;
    assert_eq!(list_as(&app, &k.rsa.sign(&claims("alice"))).await.0, 200);

    // The provider rotates: a new kid appears, the old one is withdrawn. The first token of
    // the new key refreshes the set at once, long before the 300 s schedule.
    idp.publish(&[&k.rsa_other]);
    let (s, b) = list_as(&app, &k.rsa_other.sign(&claims("alice"))).await;
    assert_eq!(s, 200, "new key accepted without restart: {b}");
    assert_eq!(
        list_as(&app, &k.rsa.sign(&claims("alice"))).await.0,
        401,
        "the withdrawn key no longer verifies"
    );

    // Unknown kids refresh at most every 10 s: a burst of them does not reach the provider.
    let hits = idp.hits();
    for i in 0..5 {
        let token = k
            .rsa_other
            .sign_as(Algorithm::RS256, &format!("random-{i}"), &claims("x"));
        assert_eq!(list_as(&app, &token).await.0, 401);
    }
    assert_eq!(idp.hits(), hits, "unknown kids within 10 s fetch nothing");
}

async fn scheduled_refresh_drops_withdrawn_keys(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[&k.rsa, &k.ec]).await;
    let app = spawn_with_idp(backend, &idp, |c| c.jwt_jwks_refresh_secs = 1).await;
    wait_ready(&app).await;
    let token = k.rsa.sign(&claims("alice"));
    assert_eq!(list_as(&app, &token).await.0, 200);
    idp.publish(&[&k.ec, &k.rsa.renamed("rsa-1-next")]);
    eventually(10, "the withdrawn key to be dropped", || async {
        (list_as(&app, &token).await.0 == 401).then_some(())
    })
    .await;
    let renamed = k.rsa.renamed("rsa-1-next").sign(&claims("alice"));
    assert_eq!(list_as(&app, &renamed).await.0, 200);
}

async fn not_ready_until_the_key_set_is_loaded(backend: Backend) {
    let k = keys();
    let idp = FakeIdp::start(&[]).await;
    let app = spawn_with_idp(backend, &idp, |_| {}).await;

    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let (s, b) = list_as(&app, &k.rsa.sign(&claims("alice"))).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (503, Some("AUTH_UNAVAILABLE")),
        "{b}"
    );
    assert_eq!(b["status"], 503);
    let (s, _) = app.get("/api/v1/orders", "not.a.jwt").await;
    assert_eq!(s, 401, "a malformed token is still malformed");
    let hits = idp.hits();
    assert!(hits >= 1, "the service tried to load the key set");

    idp.publish(&[&k.rsa]);
    wait_ready(&app).await;
    assert_eq!(list_as(&app, &k.rsa.sign(&claims("alice"))).await.0, 200);
}

both_backends!(
    rs256_es256_and_eddsa_tokens_are_accepted,
    forged_and_confused_tokens_are_401,
    claims_are_checked_as_configured,
    aud_is_not_checked_when_no_audience_is_configured,
    roles_come_from_the_configured_pointer,
    key_rotation_needs_no_restart,
    scheduled_refresh_drops_withdrawn_keys,
    not_ready_until_the_key_set_is_loaded,
);
