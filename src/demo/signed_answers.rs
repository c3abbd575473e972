//! TSIG-signed answers to TSIG-signed queries, which hickory-server 0.26 does not give.
//!
//! RFC 8945 §5.3: a server that accepts a signed request MUST sign its response. daneroll's
//! RFC 2136 backend reads the RRset it is about to change from the primary with a signed query
//! and refuses an unsigned success (an attacker on the path could otherwise make it believe a
//! record is published); BIND and Knot sign these answers. hickory-server 0.26 signs only the
//! answers to UPDATE (and AXFR): for an ordinary query the TSIG record is ignored. So the demo
//! puts this thin [`RequestHandler`] in front of the catalog. For a signed query it verifies the
//! signature with the zone's key (a wrong key or a bad MAC gets NOTAUTH with an unsigned TSIG
//! error, RFC 8945 §5.2), lets the catalog answer, and signs the answer it produced. Everything
//! else goes to the catalog untouched.

use std::sync::{Arc, Mutex};

use hickory_proto::op::Message;
use hickory_proto::rr::{Record, TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{Catalog, MessageResponse, MessageResponseBuilder};

/// The catalog, answering signed queries with signed answers.
pub struct SignedAnswers {
    catalog: Catalog,
    key: TSigner,
}

impl SignedAnswers {
    pub fn new(catalog: Catalog, key: TSigner) -> Self {
        Self { catalog, key }
    }

    /// The response context for a signed query: `None` if the query carries no TSIG.
    fn context(&self, request: &Request, now: u64) -> Option<TSigResponseContext> {
        use hickory_server::zone_handler::UpdateRequest;
        let tsig = request.signature()?;
        let id = request.metadata.id;
        if tsig.name != *self.key.signer_name() {
            return Some(TSigResponseContext::unknown_key(id, now, tsig.name.clone()));
        }
        match self.key.verify_message_byte(request.as_slice(), None, true) {
            Ok((_, _, range)) if range.contains(&now) => Some(TSigResponseContext::new(
                id,
                now,
                self.key.clone(),
                tsig.data.mac.clone(),
                None,
            )),
            Ok(_) => Some(TSigResponseContext::new(
                id,
                now,
                self.key.clone(),
                tsig.data.mac.clone(),
                Some(hickory_proto::rr::rdata::tsig::TsigError::BadTime),
            )),
            Err(_) => Some(TSigResponseContext::bad_signature(
                id,
                now,
                self.key.clone(),
            )),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for SignedAnswers {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let is_query = request.metadata.op_code == hickory_proto::op::OpCode::Query;
        let context = if is_query {
            self.context(request, T::current_time())
        } else {
            None
        };
        match context {
            None => {
                self.catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
            Some(context) => {
                let signing = Signing {
                    inner: response_handle,
                    context: Arc::new(Mutex::new(Some(context))),
                };
                self.catalog.handle_request::<_, T>(request, signing).await
            }
        }
    }
}

/// Passes the catalog's answer on with a TSIG record over it.
#[derive(Clone)]
struct Signing<R: ResponseHandler> {
    inner: R,
    context: Arc<Mutex<Option<TSigResponseContext>>>,
}

#[async_trait::async_trait]
impl<R: ResponseHandler> ResponseHandler for Signing<R> {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        // The answer's iterators can be walked once: encode it, decode it into owned records,
        // then encode those twice, once to be signed and once (with the MAC) to be sent.
        let mut bytes = Vec::with_capacity(512);
        response
            .destructive_emit(&mut BinEncoder::new(&mut bytes))
            .map_err(|e| NetError::from(e.to_string()))?;
        let message = Message::from_vec(&bytes).map_err(|e| NetError::from(e.to_string()))?;
        let queries = queries_of(&message, &bytes)?;
        let rebuild = || {
            MessageResponseBuilder::new(&queries, message.edns.as_ref()).build(
                message.metadata,
                message.answers.iter(),
                message.authorities.iter(),
                std::iter::empty(),
                message.additionals.iter(),
            )
        };
        let mut to_be_signed = Vec::with_capacity(bytes.len());
        rebuild()
            .destructive_emit(&mut BinEncoder::new(&mut to_be_signed))
            .map_err(|e| NetError::from(e.to_string()))?;
        // invariant: the lock is only taken here and in handle_request, never across an await.
        let context = self.context.lock().expect("signing context").take();
        let mut signed = rebuild();
        if let Some(context) = context {
            let signature = context
                .sign(&to_be_signed)
                .map_err(|e| NetError::from(e.to_string()))?;
            signed.set_signature(signature);
        }
        self.inner.send_response(signed).await
    }
}

/// The question section in the server's own form, read back from the encoded answer.
fn queries_of(
    message: &Message,
    bytes: &[u8],
) -> Result<hickory_server::zone_handler::Queries, NetError> {
    use hickory_proto::serialize::binary::BinDecoder;
    const HEADER_LEN: usize = 12;
    let mut decoder = BinDecoder::new(bytes.get(HEADER_LEN..).unwrap_or_default());
    hickory_server::zone_handler::Queries::read(&mut decoder, message.queries.len())
        .map_err(|e| NetError::from(e.to_string()))
}
