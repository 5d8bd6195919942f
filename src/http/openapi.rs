//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Order Service", description = "Turns completed checkout sessions into orders and confirms them to the customer."),
    paths(
        super::orders::create_order_from_checkout,
        super::orders::list_orders,
        super::orders::get_order,
        super::orders::cancel_order,
        super::orders::change_order_status,
        super::orders::order_events,
        super::checkout_events::receive_checkout_event,
        super::admin::list_outbox,
        super::admin::retry_outbox_event,
        super::health::health,
        super::health::ready,
        super::metrics::metrics,
    ),
    components(schemas(super::error::Problem)),
    modifiers(&BearerAuth),
    tags((name = "orders"), (name = "checkout"), (name = "admin"), (name = "operations"))
)]
pub struct ApiDoc;

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
        // Every authenticated operation can answer 400 (bad input) and 401 (bad token).
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
            }
        }
    }
}

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}
