//! The Fetch API entry point, for `wasm32-unknown-unknown`.

use fluxbase_webhooks::SIGNATURE_HEADER;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response, ResponseInit};

use crate::{Receiver, Reply};

/// Answers one request: `POST` a Fluxbase delivery, get 200 with the event's
/// name or the refusal as `application/problem+json`.
///
/// `secret` is the webhook's secret (in a Cloudflare Worker,
/// `env.FLUXBASE_WEBHOOK_SECRET`).
///
/// # Errors
///
/// A JavaScript exception when the host fails to hand over the body or to
/// build the response.
#[wasm_bindgen]
pub async fn fetch(request: Request, secret: Option<String>) -> Result<Response, JsValue> {
    let receiver = match Receiver::from_secret(secret) {
        Ok(receiver) => receiver,
        Err(reply) => return respond(reply),
    };
    if request.method() != "POST" {
        return respond(Reply {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: b"deliveries are POSTed".to_vec(),
        });
    }
    let headers = request.headers();
    if let Err(reply) = receiver.admit(headers.get("content-length")?.as_deref()) {
        return respond(reply);
    }
    let signature = headers.get(SIGNATURE_HEADER)?;
    let buffer = JsFuture::from(request.array_buffer()?).await?;
    let body = js_sys::Uint8Array::new(&buffer).to_vec();
    respond(receiver.handle(signature.as_deref(), &body))
}

fn respond(mut reply: Reply) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", reply.content_type)?;
    let init = ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    Response::new_with_opt_u8_array_and_init(Some(&mut reply.body), &init)
}
