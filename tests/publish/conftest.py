"""The publish tests' S3 servers, credentials, buckets and catalog copies (helpers in s3.py)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from tests.fake_zenodo import default_metadata
from tests.publish.s3 import SETUP_ACTIONS, Bucket, S3Server, moto_server, with_user


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Any key is accepted; anonymous GETs are allowed where the bucket policy says so."""
    with moto_server(tmp_path_factory.mktemp("moto"), {}) as endpoint:
        yield S3Server(endpoint, "publisher-key", "publisher-secret")


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Every request's signature is checked against the keys of moto's IAM."""
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)}
    with moto_server(tmp_path_factory.mktemp("moto-auth"), env) as endpoint:
        yield with_user(endpoint)


@pytest.fixture
def aws_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """The publisher's key in the environment, as a user would set it; no profile, no ~/.aws."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    return s3_server


@pytest.fixture
def bucket(aws_env: S3Server) -> Bucket:
    """A new bucket whose objects anyone may read, as a public catalog's bucket is."""
    name = f"stacgen-{uuid.uuid4().hex[:12]}"
    client = aws_env.client()
    client.create_bucket(Bucket=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return Bucket(aws_env, name)


@pytest.fixture
def catalog_copy(built_catalog: Path, tmp_path: Path) -> Path:
    """A copy of the session catalog that a test may change."""
    target = tmp_path / "catalog"
    shutil.copytree(built_catalog, target)
    return target


@pytest.fixture(scope="session")
def licensed_catalog(
    archive_tgz: Path, tmp_path_factory: pytest.TempPathFactory, schemas: Path, cache_dir: Path
) -> Path:
    """The session archive built with a Zenodo record naming its licence, as `make catalog`
    builds it online: the catalog `publish` takes without --allow-unread-license."""
    out = tmp_path_factory.mktemp("licensed") / "catalog"
    record = {"id": constants.RECORD_ID, "metadata": default_metadata(constants.RECORD_ID)}
    options = BuildOptions(
        archive=archive_tgz, out=out, cache_dir=cache_dir, workers=2, schemas=schemas, record=record
    )
    build(options)
    return out
