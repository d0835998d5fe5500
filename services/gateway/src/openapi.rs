//! The OpenAPI document (`/api/v1/openapi.json`) and its page (`/docs`),
//! served from the binary: nothing is fetched from a CDN.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{accounts, catalogue, forms, ledger, notify, schedule};

#[derive(OpenApi)]
#[openapi(
    info(title = "zhenggai 整改台账 API", version = "1", description = "Rectification ledgers (整改台账) of local governments. Errors are RFC 9457 problem documents with a stable `code`."),
    paths(
        accounts::login, accounts::logout, accounts::me,
        accounts::create_user, accounts::list_users, accounts::change_password,
        catalogue::list_documents, catalogue::get_document, catalogue::list_problems, catalogue::get_problem,
        catalogue::publish_document, catalogue::list_units, catalogue::get_unit, catalogue::import_units,
        accounts::set_clearance,
        ledger::create_campaign, ledger::list_campaigns, ledger::get_campaign, ledger::dashboard,
        ledger::list_ledgers, ledger::get_ledger, ledger::ledger_history, ledger::verify_ledger,
        ledger::create_finding, ledger::declare_no_findings, ledger::withdraw_no_findings,
        ledger::get_finding, ledger::update_finding, ledger::transition_finding, ledger::finding_history,
        ledger::upload_evidence, ledger::list_evidence, ledger::download_evidence,
        schedule::get_calendar, schedule::put_calendar, schedule::add_workdays,
        schedule::list_milestones, schedule::update_milestone, schedule::list_deadlines,
        schedule::get_reminder_rules, schedule::put_reminder_rules,
        schedule::list_rechecks, schedule::record_recheck, schedule::get_clock, schedule::set_clock,
        notify::inbox, notify::mark_read, notify::get_channels, notify::put_channels, notify::deliveries,
        forms::export_ledger, forms::export_campaign, forms::import_ledger, forms::hand_in, forms::list_hand_ins,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "catalogue"), (name = "directory"),
         (name = "campaigns"), (name = "ledgers"), (name = "findings"), (name = "evidence"),
         (name = "calendar"), (name = "schedule"), (name = "notifications"), (name = "forms"), (name = "admin"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The page at `/docs` and the document at `/api/v1/openapi.json`.
pub fn swagger_ui<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    utoipa_swagger_ui::SwaggerUi::new("/docs")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into()
}
