"""Access tokens for providers that take no static key: Google's Application Default Credentials.

Claude and Gemini on Vertex AI take an OAuth access token, which OpenCode gets from
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user
credentials, or the metadata server). :class:`GoogleToken` does the same with google-auth
(the optional extra ``combined-models[gcp]``): the token is fetched on first use and again
shortly before it expires, in a worker thread (google-auth is blocking), one refresh at a time.

A token is a secret like a key: it never shows in a ``repr`` or a message, and
:class:`toolkit.upstream.Redactor` removes the current one from every error text.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Mapping
from typing import Any

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
            return self.current
