"""What the mock providers do differently when a request comes the way a cloud hosts a model.

:mod:`toolkit.mock_providers` serves OpenAI chat completions and Anthropic Messages; the
clouds below host those same protocols at their own URLs, with their own auth and, where the
cloud answers instead of the model's API, their own error bodies (the classifier must read
them):

- **Azure OpenAI** (``azure``): ``POST /openai/v1/chat/completions?api-version=...`` with an
  ``api-key`` header; a missing ``api-version`` is a 404, a wrong key Azure's 401
  ``{"error": {"code": "401", "message": "Access denied due to invalid subscription key..."}}``,
  a rate limit Azure's 429 text ("... Please retry after N seconds") with ``retry-after``.
- **Claude on Vertex AI** (``vertex``): ``POST .../publishers/anthropic/models/M:streamRawPredict``
  (or ``:rawPredict``), the Anthropic body without ``model`` and with ``anthropic_version:
  "vertex-2023-10-16"``, a Google access token as bearer. Quota and auth failures come in
  Google's shape (``{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", ...}}``, 401
  ``UNAUTHENTICATED``, 503 ``UNAVAILABLE``); the model's own errors (overload, context length)
  in Anthropic's.
- **Google OAuth** (``POST /token``): the token endpoint a service account's ``token_uri`` points
  at. It checks the JWT assertion (grant type, audience, scope and, with the owner's
  ``google_public_key``, the RS256 signature) and answers an access token, as Google does.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from toolkit.mock_providers import MockProviders

AZURE, VERTEX = "azure", "vertex"
VERTEX_ANTHROPIC_ROUTE = "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{target}"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth signs as ``aud``, whatever the token_uri
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

_AZURE_AUTH = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
               "key for an active subscription and use a correct regional API endpoint for your resource.")  # fmt: skip
_AZURE_RATE = ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version v1 have exceeded "
               "token rate limit of your current OpenAI S0 pricing tier. Please retry after {s} seconds.")  # fmt: skip
_VERTEX_QUOTA = ("Quota exceeded for aiplatform.googleapis.com/online_prediction_input_tokens_per_minute_per_base_model "
                 "with base model: anthropic-claude. Please submit a quota increase request.")  # fmt: skip
_VERTEX_AUTH = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.")  # fmt: skip


def google_error(code: int, status: str, message: str) -> JSONResponse:
    """A Google API error answer (``google.rpc.Status`` as JSON)."""
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)


def azure_refusal(request: Request) -> JSONResponse | None:
    """Azure's answer to a request without ``api-version`` (None when it has one)."""
    if request.query_params.get("api-version"):
        return None
    return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, status_code=404)


def vertex_target(request: Request) -> tuple[str | None, bool]:
    """(model, streamed) of a Vertex ``models/{model}:{method}`` path; model None for another method."""
    model, _, method = request.path_params["target"].rpartition(":")
    if not model or method not in ("rawPredict", "streamRawPredict"):
        return None, False
    return model, method == "streamRawPredict"


def body_refusal(cloud: str, body: dict[str, Any]) -> JSONResponse | None:
    """What Vertex answers to an Anthropic body it does not take (None when the body is fine)."""
    if cloud != VERTEX:
        return None
    if "model" in body:
        message = "model: Extra inputs are not permitted"
    elif body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        message = f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION!r} on Vertex AI"
    else:
        return None
    return JSONResponse({"type": "error", "error": {"type": "invalid_request_error", "message": message}},
                        status_code=400)  # fmt: skip


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value.startswith("Bearer ") else None


def authorized(request: Request, cloud: str, owner: MockProviders) -> bool:
    """Whether the request carries the credentials the cloud takes (nothing required when the
    mock was given neither a key nor a Google public key)."""
    if cloud == AZURE:
        return owner.api_key is None or request.headers.get("api-key") == owner.api_key
    if owner.api_key is None and owner.google_public_key is None:
        return True
    token = _bearer(request)
    return token is not None and (token in owner.google_tokens or token == owner.api_key)


def error(cloud: str, kind: str, status: int, payload: dict[str, Any],
          headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
    """(status, body, headers) of a fault as the cloud answers it; the model API's own otherwise."""
    if cloud == AZURE:
        if kind == "auth":
            return 401, {"error": {"code": "401", "message": _AZURE_AUTH}}, {}
        if kind == "rate_limit":
            seconds = headers.get("retry-after", "1")
            return 429, {"error": {"code": "429", "message": _AZURE_RATE.format(s=seconds)}}, headers
        return status, payload, headers
    if kind in ("rate_limit", "quota"):  # Vertex's own quota: Google shape, no Retry-After header
        return 429, {"error": {"code": 429, "message": _VERTEX_QUOTA, "status": "RESOURCE_EXHAUSTED"}}, {}
    if kind == "auth":
        return 401, {"error": {"code": 401, "message": _VERTEX_AUTH, "status": "UNAUTHENTICATED"}}, {}
    if kind == "unavailable":
        return 503, {"error": {"code": 503, "message": "The service is currently unavailable.",
                               "status": "UNAVAILABLE"}}, {}  # fmt: skip
    return status, payload, headers


def _claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a JWT (not yet verified), or None if it is not one."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def _signed(assertion: str, public_key_pem: str) -> bool:
    """True when the JWT's RS256 signature verifies against the public key (google-auth's verifier)."""
    from google.auth import crypt

    head, payload, signature = assertion.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return crypt.RSAVerifier.from_string(public_key_pem).verify(f"{head}.{payload}".encode(), raw)


async def token_endpoint(request: Request, owner: MockProviders) -> JSONResponse:
    """Google's OAuth token endpoint for the JWT-bearer grant: an access token, or Google's error."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    assertion = form.get("assertion", "")
    claims = _claims(assertion)
    if form.get("grant_type") != JWT_GRANT or claims is None:
        return JSONResponse({"error": "invalid_request", "error_description": "Invalid grant or assertion"}, 400)
    if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, str(request.url)) or CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
        return JSONResponse({"error": "invalid_scope", "error_description": "Invalid audience or scope"}, 400)
    if owner.google_public_key is not None and not _signed(assertion, owner.google_public_key):
        return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
    token = "ya29.mock-" + secrets.token_urlsafe(24)
    owner.google_tokens.add(token)
    return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
