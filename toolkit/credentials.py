"""Access tokens for providers that take no static key: Google's Application Default Credentials.

Claude and Gemini on Vertex AI take an OAuth access token, which OpenCode gets from
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user
credentials, or the metadata server). :class:`GoogleToken` does the same with google-auth
(the optional extra ``combined-models[gcp]``): the token is fetched on first use and again
shortly before it expires, in a worker thread (google-auth is blocking), one refresh at a time.

A token is a secret like a key: it never shows in a ``repr`` or a message, and
every token issued is remembered for redaction (:mod:`toolkit.redaction`), so no output shows it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Mapping
from typing import Any

from toolkit.redaction import remember

GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GCP_EXTRA = "install combined-models[gcp] (google-auth) for Google credentials: pip install 'combined-models[gcp]'"


class CredentialError(Exception):
    """No token could be had (credentials missing, refused or unreadable); the message holds no secret."""


def google_auth_installed() -> bool:
    """True when google-auth and its requests transport can be imported (the ``[gcp]`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("google.auth", "requests"))


class GoogleToken:
    """An access token from Application Default Credentials, refreshed before it expires.

    ``info``, when given, is a parsed service-account (or authorized-user) JSON to use instead of
    looking up the defaults; ``where`` says where the credentials come from, for messages.
    """

    def __init__(self, info: Mapping[str, Any] | None = None, where: str = "google-adc") -> None:
        self.info, self.where = info, where
        self.current: str | None = None  # the token last issued (for redaction), never printed
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GoogleToken({self.where!r})"

    def _load(self) -> Any:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            if self.info is None:
                credentials, _ = google.auth.default(scopes=[GOOGLE_SCOPE])
                return credentials
            from google.oauth2 import credentials as user
            from google.oauth2 import service_account

            if self.info.get("type") == "service_account":
                return service_account.Credentials.from_service_account_info(dict(self.info), scopes=[GOOGLE_SCOPE])
            return user.Credentials.from_authorized_user_info(dict(self.info), scopes=[GOOGLE_SCOPE])
        except (DefaultCredentialsError, ValueError, KeyError) as exc:
            raise CredentialError(f"no usable Google credentials ({type(exc).__name__}: {exc})") from None

    def _refresh(self) -> str:
        import google.auth.transport.requests
        from google.auth.exceptions import GoogleAuthError

        if self._credentials is None:
            self._credentials = self._load()
        try:
            self._credentials.refresh(google.auth.transport.requests.Request())
        except GoogleAuthError as exc:
            # the text may quote the token endpoint's answer, never the assertion or a token
            raise CredentialError(f"Google token refresh failed: {str(exc)[:300]}") from None
        return str(self._credentials.token)

    async def token(self) -> str:
        """A valid access token (fetched in a worker thread when missing or about to expire)."""
        async with self._lock:
            credentials = self._credentials
            if self.current is None or credentials is None or not credentials.valid:
                self.current = await asyncio.to_thread(self._refresh)
                remember(self.current)
            return self.current


AWS_EXTRA = "install combined-models[aws] (botocore) to sign Bedrock requests: pip install 'combined-models[aws]'"


def botocore_installed() -> bool:
    """True when botocore can be imported (the ``[aws]`` extra)."""
    return importlib.util.find_spec("botocore") is not None


class AwsSigner:
    """SigV4 signatures for Bedrock requests, with credentials from the standard AWS chain.

    botocore finds the credentials as the AWS SDK OpenCode uses does: environment variables,
    the shared credentials and config files (``profile``, else ``AWS_PROFILE``), and the
    container or instance role. Each request is signed by botocore's ``SigV4Auth`` (service
    ``bedrock``); the secret key and session token go into no header except as the signature
    and ``x-amz-security-token``, and :meth:`secrets` lets the redactor remove both.
    """

    def __init__(self, region: str, profile: str | None = None) -> None:
        import botocore.session

        # botocore.auth logs each canonical request at DEBUG, x-amz-security-token included: never let it
        logging.getLogger("botocore.auth").setLevel(logging.INFO)
        self.region = region
        session = botocore.session.Session(profile=profile)
        try:
            credentials = session.get_credentials()
        except Exception as exc:  # botocore raises its own errors for a broken profile or config file
            raise CredentialError(f"cannot read AWS credentials ({type(exc).__name__})") from None
        if credentials is None:
            raise CredentialError("no AWS credentials found (environment, shared files or instance role)")
        self._credentials = credentials
        self.where = f"aws:{credentials.method}"

    def __repr__(self) -> str:
        return f"AwsSigner({self.region!r}, {self.where!r})"

    def secrets(self) -> set[str]:
        """The secret key and session token in use (for redaction), never printed."""
        frozen = self._credentials.get_frozen_credentials()
        return {s for s in (frozen.secret_key, frozen.token) if s}

    def _sign(self, url: str, content: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=url, data=content, headers=dict(headers))
        SigV4Auth(self._credentials.get_frozen_credentials(), "bedrock", self.region).add_auth(request)
        return dict(request.headers.items())

    async def sign(self, url: str, content: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` plus the SigV4 ones for a POST of ``content`` to ``url`` (refreshing
        credentials may touch the network: done in a worker thread)."""
        return await asyncio.to_thread(self._sign, url, content, headers)
