//! The scripted mock API server every API-level test shares (tower-test): a script takes each
//! request in turn, checks its method and URI, and answers like an API server would. Include
//! it with `#[path = "common/mock_api.rs"] mod mock_api;`.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use topo_harness::backend::kube_api::{ClusterApi, RetryPolicy};
use tower_test::mock::{self, Handle, SendResponse};

/// How long the script waits for the client's next request before failing.
pub const REQUEST_WAIT: Duration = Duration::from_secs(5);

/// The handle to answer one request.
pub type Reply = SendResponse<Response<Body>>;

/// The scripted API server side.
pub struct ApiServer(pub Handle<Request<Body>, Response<Body>>);

impl ApiServer {
    /// Answers the `/version` a live backend reads once per cluster, as API server `git`.
    pub async fn version(&mut self, git: &str) {
        let minor = git.split('.').nth(1).unwrap_or("0").to_string();
        let info = json!({
            "major": "1", "minor": minor, "gitVersion": git, "gitCommit": "", "gitTreeState": "",
            "buildDate": "1970-01-01T00:00:00Z", "goVersion": "go1.26", "compiler": "gc",
            "platform": "linux/amd64"
        });
        self.answer("GET", "/version", 200, info).await;
    }

    /// Takes the next request, checks its method and URI, and returns its body as
    /// `{"contentType": …, "body": …}` (`Null` when empty) and the handle to answer it.
    pub async fn expect(&mut self, method: &str, uri: &str) -> (Value, Reply) {
        let next = tokio::time::timeout(REQUEST_WAIT, self.0.next_request()).await;
        let Ok(Some((request, reply))) = next else {
            panic!("expected {method} {uri}, but no request came");
        };
        assert_eq!(
            (
                request.method().as_str(),
                request.uri().to_string().as_str()
            ),
            (method, uri),
            "unexpected request"
        );
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            let body: Value = serde_json::from_slice(&bytes).expect("JSON request body");
            json!({ "contentType": content_type, "body": body })
        };
        (body, reply)
    }

    /// Takes the next request, checks it, answers with `status` and `body` (a JSON string is
    /// sent raw), and returns the request's body with its content type (see [`Self::expect`]).
    pub async fn answer(&mut self, method: &str, uri: &str, status: u16, body: Value) -> Value {
        let (request_body, reply) = self.expect(method, uri).await;
        send(reply, status, &body);
        request_body
    }

    /// [`Self::answer`], returning the request's JSON body alone (`Null` when empty).
    pub async fn answer_body(
        &mut self,
        method: &str,
        uri: &str,
        status: u16,
        body: Value,
    ) -> Value {
        let sent = self.answer(method, uri, status, body).await;
        sent.get("body").cloned().unwrap_or(Value::Null)
    }

    /// Checks that no further request arrives (within 100 ms).
    pub async fn expect_no_more(&mut self) {
        match tokio::time::timeout(Duration::from_millis(100), self.0.next_request()).await {
            Err(_) | Ok(None) => {}
            Ok(Some((request, _))) => {
                panic!("unexpected request {} {}", request.method(), request.uri())
            }
        }
    }
}

/// Sends a response: `body` as JSON, or raw when it is a JSON string.
pub fn send(reply: Reply, status: u16, body: &Value) {
    let text = match body {
        Value::String(raw) => raw.clone().into_bytes(),
        other => serde_json::to_vec(other).expect("JSON"),
    };
    reply.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(text))
            .expect("response"),
    );
}

/// A `Status` failure as the API server sends it.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    })
}

/// A list response.
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
}

/// A client (context `context`, no retry delays) connected to a fresh scripted server.
pub fn mock_api(context: Option<&str>) -> (ClusterApi, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let api = ClusterApi::from_client(client, context.map(str::to_string))
        .with_retry(RetryPolicy::immediate());
    (api, ApiServer(handle))
}

/// Runs the client side against the scripted server side, each within a short timeout, and
/// checks that no unexpected call follows.
pub async fn scenario<C, T, S>(
    server: ApiServer,
    script: impl FnOnce(ApiServer) -> S,
    client: C,
) -> T
where
    C: Future<Output = T>,
    S: Future<Output = ApiServer> + Send + 'static,
{
    let server = tokio::spawn(script(server));
    let result = tokio::time::timeout(Duration::from_secs(2), client)
        .await
        .expect("the client side did not finish within 2 s (a scripted call is missing?)");
    let mut server = tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .expect("the scripted server did not finish (a call was not made?)")
        .expect("the scripted server panicked");
    server.expect_no_more().await;
    result
}

/// Runs `script` against `server` on its own thread (with its own runtime), for clients that
/// block (the backends' synchronous API); join the handle to surface the script's panics.
pub fn spawn_script<S>(
    server: ApiServer,
    script: impl FnOnce(ApiServer) -> S + Send + 'static,
) -> std::thread::JoinHandle<()>
where
    S: Future<Output = ()>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(script(server));
    })
}
