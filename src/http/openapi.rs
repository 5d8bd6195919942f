//! The OpenAPI 3 document, generated from the handlers' annotations. The paths come from
//! the routes themselves (`super::api_routes`, `utoipa-axum`), so a route cannot be served
//! without being documented or documented without being served.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Order Service", description = "Turns completed checkout sessions into orders and confirms them to the customer."),
    components(schemas(super::error::Problem)),
    tags((name = "orders"), (name = "admin"), (name = "operations"))
)]
struct ApiDoc;

/// What the document says besides its paths: title, tags, the problem schema.
pub(super) fn base_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds what depends on the paths: the bearer scheme and the 400/401 every
/// authenticated operation can answer.
pub(super) fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    BearerAuth.modify(&mut document);
    document
}

/// The whole document, as served at `/api-docs/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    finish(super::api_routes().into_openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // Every authenticated operation can answer 400 (bad input), 401 (bad token) and 503
        // (the key set that checks tokens is not loaded yet).
        let problem = |description: &str| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                if operation.security.is_none() {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses
                    .entry("400".into())
                    .or_insert_with(|| problem("VALIDATION_ERROR: malformed input").into());
                responses.entry("401".into()).or_insert_with(|| {
                    problem("UNAUTHORIZED: missing, malformed, badly signed or expired token")
                        .into()
                });
                responses.entry("503".into()).or_insert_with(|| {
                    problem("AUTH_UNAVAILABLE: the identity provider's key set is not loaded yet")
                        .into()
                });
            }
        }
    }
}

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn openapi_json() -> String {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}
