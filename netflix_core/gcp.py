"""The Google Cloud clients of the prod environment, built from ``Settings`` and nothing else.

With ``STORAGE_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` set (read by ``settings.py``), a client
talks to the emulator with anonymous credentials; unset, to Google Cloud with Application Default
Credentials (the metadata server on GCP, ``gcloud auth application-default login`` or
``GOOGLE_APPLICATION_CREDENTIALS`` elsewhere). No key file is ever named here.

The client libraries are imported by the function that needs them, so the local environment
never loads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from netflix_core.settings import Settings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

GS_SCHEME = "gs://"
NO_CREDENTIALS_HINT = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS"


class GcsUriError(ValueError):
    """Not a gs://BUCKET[/PREFIX] URI."""


class GcpError(RuntimeError):
    """A Google Cloud request that failed for a reason the user can act on: no credentials, no
    access, no such bucket."""


@contextmanager
def explained_gcp_errors() -> Iterator[None]:
    """Google's authentication and API errors, as a one-line ``GcpError``."""
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    try:
        yield
    except DefaultCredentialsError as error:
        raise GcpError(f"no Google credentials: {NO_CREDENTIALS_HINT}") from error
    except GoogleAuthError as error:
        raise GcpError(f"Google refused the credentials: {_first_line(str(error))}") from error
    except GoogleAPICallError as error:
        raise GcpError(_first_line(str(error.message))) from error


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["(no message)"])[0]


def is_gcs_uri(uri: str) -> bool:
    return uri.startswith(GS_SCHEME)


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """(bucket, object prefix without a leading slash) of ``gs://bucket/prefix``."""
    if not is_gcs_uri(uri) or not uri[len(GS_SCHEME) :].split("/", 1)[0]:
        raise GcsUriError(f"not a gs://BUCKET/PATH URI: {uri!r}")
    bucket, _, prefix = uri[len(GS_SCHEME) :].partition("/")
    return bucket, prefix.strip("/")


def storage_client(settings: Settings) -> storage.Client:
    from google.cloud import storage

    if not settings.storage_emulator_host:
        return storage.Client(project=settings.gcp_project)
    from google.auth.credentials import AnonymousCredentials

    return storage.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": settings.storage_emulator_host},
    )


def bigquery_client(settings: Settings) -> bigquery.Client:
    return bigquery_client_for(settings.gcp_project, settings.bigquery_location, settings.bigquery_emulator_host)


def bigquery_client_for(project: str | None, location: str | None, emulator_host: str | None) -> bigquery.Client:
    """A client of ``project`` (None: the one Application Default Credentials name), or of the
    emulator at ``emulator_host``."""
    from google.cloud import bigquery

    if not emulator_host:
        return bigquery.Client(project=project, location=location)
    if not project:
        # Without one the client would ask Application Default Credentials for a project, which
        # an emulator has no use for and a machine without credentials cannot answer.
        raise ValueError("GCP_PROJECT must name the project when BIGQUERY_EMULATOR_HOST is set")
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        location=location,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator_host},
    )


def list_folder(client: storage.Client, uri: str) -> list[str]:
    """``gs://`` URIs of the objects directly under ``uri`` (not in deeper "folders"), in name order."""
    bucket, prefix = split_gcs_uri(uri)
    blobs = client.list_blobs(bucket, prefix=f"{prefix}/" if prefix else None, delimiter="/")
    return sorted(f"{GS_SCHEME}{bucket}/{blob.name}" for blob in blobs)
