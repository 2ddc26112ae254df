//! The administration routes (role admin): everything the CLI does, over the same views.

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api
}
