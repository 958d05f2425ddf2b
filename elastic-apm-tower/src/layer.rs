//! `ApmLayer`: the configuration, cloned into every service it makes.

use std::sync::Arc;

use elastic_apm_core::Agent;
use tower_layer::Layer;

use crate::naming::{Naming, RouteInfo};
use crate::service::ApmService;

/// Instruments an HTTP server: every request becomes a transaction.
///
/// With axum, add it with [`Router::layer`](https://docs.rs/axum/latest/axum/struct.Router.html#method.layer):
/// it then runs inside the router, where the matched route template names the
/// transaction (`GET /users/{id}`), and also around the fallback, so unmatched requests
/// become `GET unknown route`. With `route_layer` only matched routes are recorded.
/// Layers nested in one another (a layered router nested in another) record one
/// transaction per request, named by the innermost route. Wrapped around a whole router or any
/// other service, there is no route: requests are named `GET unknown route` unless
/// [`use_path_as_transaction_name`](Self::use_path_as_transaction_name) or
/// [`transaction_name`](Self::transaction_name) says otherwise.
#[derive(Clone, Debug)]
pub struct ApmLayer {
    pub(crate) agent: Agent,
    pub(crate) settings: Arc<Settings>,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) naming: Naming,
    pub(crate) catch_panic: bool,
}

impl ApmLayer {
    /// A layer recording into `agent`.
    pub fn new(agent: &Agent) -> Self {
        #[cfg(feature = "axum")]
        agent.set_framework("axum", Some(crate::AXUM_VERSION));
        #[cfg(not(feature = "axum"))]
        agent.set_framework("tower", None);
        ApmLayer {
            agent: agent.clone(),
            settings: Arc::new(Settings {
                naming: Naming::RouteTemplate,
                catch_panic: true,
            }),
        }
    }

    fn settings(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            naming: self.settings.naming.clone(),
            catch_panic: self.settings.catch_panic,
        };
        f(&mut settings);
        self.settings = Arc::new(settings);
        self
    }

    /// Names transactions after the raw path (`GET /users/42`) instead of the route
    /// template. Every distinct URL becomes its own transaction group: use it only
    /// where paths have few values.
    pub fn use_path_as_transaction_name(self, yes: bool) -> Self {
        self.settings(|s| {
            s.naming = if yes {
                Naming::RawPath
            } else {
                Naming::RouteTemplate
            };
        })
    }

    /// Names transactions with a function of the request (method, URI, route template).
    pub fn transaction_name(
        self,
        name: impl Fn(&RouteInfo<'_>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.settings(|s| s.naming = Naming::Custom(Arc::new(name)))
    }

    /// Whether a panicking handler is caught, reported as an error and answered with a
    /// 500 (default true). Turn it off when another layer (tower-http's `CatchPanic`)
    /// catches panics outside this one; a `CatchPanic` inside this layer answers the
    /// 500 itself, so the transaction fails but records no error.
    pub fn catch_panic(self, catch: bool) -> Self {
        self.settings(|s| s.catch_panic = catch)
    }
}

impl<S> Layer<S> for ApmLayer {
    type Service = ApmService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApmService::new(inner, self.clone())
    }
}
