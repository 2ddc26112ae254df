//! The plugins: the loaded ones with their kinds and capabilities, and the files refused with the reason.

use askama::Template;
use axum::extract::State as AxState;
use dirconn_views::PluginsView;

use super::{Frame, Page, html};
use crate::{Admin, State};

#[derive(Template)]
#[template(path = "plugins.html")]
struct Plugins {
    frame: Frame,
    view: PluginsView,
}

/// The plugins page.
pub(crate) async fn page(AxState(web): AxState<State>, admin: Admin) -> Page {
    let live = web.service.live();
    let view = PluginsView::new(&live.host.config().plugin_dir, live.host.registry());
    Ok(html(&Plugins { frame: Frame::new(&admin, "Plugins"), view }))
}
