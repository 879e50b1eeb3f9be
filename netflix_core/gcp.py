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
from typing import TYPE_CHECKING

from netflix_core.settings import Settings

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

GS_SCHEME = "gs://"


class GcsUriError(ValueError):
    """Not a gs://BUCKET[/PREFIX] URI."""


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
    from google.cloud import bigquery

    if not settings.bigquery_emulator_host:
        return bigquery.Client(project=settings.gcp_project, location=settings.bigquery_location)
    if not settings.gcp_project:
        # Without one the client would ask Application Default Credentials for a project, which
        # an emulator has no use for and a machine without credentials cannot answer.
        raise ValueError("GCP_PROJECT must name the project when BIGQUERY_EMULATOR_HOST is set")
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=settings.gcp_project,
        location=settings.bigquery_location,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": settings.bigquery_emulator_host},
    )


def object_names(client: storage.Client, uri: str) -> Iterator[str]:
    """Names (full ``gs://`` URIs) of the objects under ``uri``, in name order."""
    bucket, prefix = split_gcs_uri(uri)
    for blob in client.list_blobs(bucket, prefix=f"{prefix}/" if prefix else None):
        yield f"{GS_SCHEME}{bucket}/{blob.name}"
