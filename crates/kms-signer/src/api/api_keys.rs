//! The API-key routes: create, list and revoke, each signed by the EOA.

use super::*;

pub(super) fn api_key_json(r: &ApiKeyRecord) -> ApiKeyAnswer {
    ApiKeyAnswer {
        created_at: r.created_at,
        eoa: r.eoa.to_checksum(None),
        expires_at: r.expires_at,
        id: r.id.clone(),
        label: r.label.clone(),
        revoked_at: r.revoked_at,
        scopes: r.scopes.clone(),
        sources: r.sources.clone(),
    }
}

pub(super) async fn create_api_key(
    State(s): State<Shared>,
    Signed { eoa, body: b }: Signed<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    // Printable ASCII only: no control or bidi characters to make a label read as another.
    if b.label.len() > MAX_LABEL_LEN || !b.label.bytes().all(|c| (b' '..=b'~').contains(&c)) {
        return Err(ApiError::bad_request(
            "invalid_label",
            format!("label must be at most {MAX_LABEL_LEN} printable ASCII characters"),
        ));
    }
    Scopes::parse(&b.scopes).map_err(|e| ApiError::bad_request("invalid_scopes", e))?;
    parse_sources(&b.sources).map_err(|e| ApiError::bad_request("invalid_sources", e))?;
    if b.expires_at != 0 && b.expires_at <= crate::ledger::now() {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            "expires_at must be 0 (never) or in the future",
        ));
    }
    let token_hash = parse_hash(&b.token_hash)
        .map_err(|_| ApiError::bad_request("invalid_token_hash", "expected 32 bytes, 0x-hex"))?;
    let req = Request::CreateApiKey {
        operator: eoa,
        label: b.label.clone(),
        scopes: b.scopes.clone(),
        expires_at: b.expires_at,
        sources: b.sources.clone(),
        token_hash,
        fresh: b.fresh(),
    };
    let record = crate::service::create_api_key(&s, eoa, &req, b.signature()).await?;
    Ok((StatusCode::CREATED, Json(api_key_json(&record))).into_response())
}

pub(super) async fn list_api_keys(
    State(s): State<Shared>,
    Signed { eoa, body: b }: Signed<ListApiKeysRequest>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let req = Request::ListApiKeys {
        operator: eoa,
        fresh: b.fresh(),
    };
    let records = crate::service::list_api_keys(&s, eoa, &req, b.signature()).await?;
    Ok(Json(ApiKeyList {
        api_keys: records.iter().map(api_key_json).collect(),
    }))
}

pub(super) async fn revoke_api_key(
    State(s): State<Shared>,
    Signed { eoa, body: b }: Signed<RevokeApiKeyRequest>,
) -> Result<Json<ApiKeyAnswer>, ApiError> {
    if b.key_id.len() != 16
        || !b
            .key_id
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ApiError::bad_request(
            "invalid_api_key_id",
            "key_id must be 16 lowercase hex characters",
        ));
    }
    let req = Request::RevokeApiKey {
        operator: eoa,
        key_id: b.key_id.clone(),
        fresh: b.fresh(),
    };
    let record = crate::service::revoke_api_key(&s, eoa, &req, b.signature()).await?;
    Ok(Json(api_key_json(&record)))
}
