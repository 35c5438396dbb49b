"""S3-compatible servers (moto's server mode) on 127.0.0.1 for the publish tests.

Two of them: moto either lets anonymous readers in (bucket policies decide, as on S3) or checks
every request's signature, not both. The second one checks signatures once
INITIAL_NO_AUTH_ACTION_COUNT unchecked actions have run: those few create an IAM user whose key
is the good one, so bad credentials are refused as S3 refuses them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from stacgen.publish.pipeline import PublishOptions, PublishReport, publish
from stacgen.publish.state import STATE_KEY
from stacgen.testing.pgcluster import free_port

SETUP_ACTIONS = 4  # the readiness probe, create_user, create_access_key, put_user_policy


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key_id: str
    secret: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"moto_server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        # A loaded machine may accept the connection before moto answers: a slow first answer
        # is still "not up yet", within the 30 s bound.
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    pytest.fail(f"moto_server did not answer at {url} within 30 s")


@contextmanager
def moto_server(log_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """moto_server is in the dev extras: a missing one is a failure, never a skip."""
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.fail(f"{exe} missing: `make install` installs moto[server]")
    port = free_port()
    with (log_dir / "moto.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=log,
            env={**os.environ, **env},
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(endpoint, proc)
            yield endpoint
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def with_user(endpoint: str) -> S3Server:
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="publisher")
    key = iam.create_access_key(UserName="publisher")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="publisher", PolicyName="all", PolicyDocument=json.dumps(policy))
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])


@dataclass(frozen=True)
class Bucket:
    server: S3Server
    name: str

    @property
    def root_href(self) -> str:
        """moto serves objects path-style: http://HOST:PORT/BUCKET/KEY."""
        return f"{self.server.endpoint}/{self.name}/alcd"

    def objects(self, *, with_state: bool = False) -> dict[str, int]:
        """Key -> size of every object, the published state (.stacgen-published.json) aside
        unless asked: it is the publish's record, not a file of the catalog."""
        client = self.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        found = {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}
        return {k: v for k, v in found.items() if with_state or k.rsplit("/", 1)[-1] != STATE_KEY}

    def state(self, prefix: str = "alcd") -> dict[str, Any]:
        """The published state under `prefix`, as JSON (read with boto3)."""
        key = f"{prefix}/{STATE_KEY}" if prefix else STATE_KEY
        body = self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()
        return dict(json.loads(body))


def run_publish(source: Path, bucket: Bucket, schemas: Path, **kw: Any) -> PublishReport:
    # The session catalog is built without a Zenodo record: its licence says `other`.
    kw.setdefault("allow_unread_license", True)
    options = PublishOptions(
        source=source,
        to=f"s3://{bucket.name}/alcd",
        root_href=bucket.root_href,
        schemas=schemas,
        endpoint_url=bucket.server.endpoint,
        **kw,
    )
    return publish(options)
