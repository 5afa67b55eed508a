"""A real S3-compatible server on loopback for tests and benchmarks: moto's ``ThreadedMotoServer`` (in this
process, a free 127.0.0.1 port) with IAM authentication switched on, so a wrong secret is refused as on AWS.

``running_s3()`` yields an :class:`S3Server`: one IAM user allowed ``s3:*``, its key pair, a boto3 client for
checking what the code under test wrote, and Airflow ``aws`` connections (``endpoint_url`` in extras).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

REGION = "us-east-1"


@dataclass
class S3Server:
    url: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def connection_json(self, secret: str | None = None) -> str:
        """An Airflow ``aws`` connection (JSON, for ``AIRFLOW_CONN_...``) to this server."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key if secret is None else secret,
                "extra": {"endpoint_url": self.url, "region_name": REGION},
            }
        )

    def new_bucket(self) -> str:
        name = f"leads-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def open_uploads(self, bucket: str) -> list[dict[str, Any]]:
        return list(self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    def exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client().head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _moto(own_process: bool) -> Iterator[str]:
    """moto's server on 127.0.0.1: a thread of this process, or its own process (so that a benchmark tracing
    this process's memory does not count the server's)."""
    if not own_process:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
        return
    port = _free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start ({cmd})") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def running_s3(own_process: bool = False) -> Iterator[S3Server]:
    """Start moto's S3 on 127.0.0.1 (free port), create a user with a key allowed ``s3:*``, then switch IAM
    authentication on. Stopped on exit."""
    import boto3

    with _moto(own_process) as url:
        setup = {"endpoint_url": url, "region_name": REGION, "aws_access_key_id": "setup"}
        iam = boto3.client("iam", aws_secret_access_key="setup", **setup)
        iam.create_user(UserName="msgflash-tests")
        key = iam.create_access_key(UserName="msgflash-tests")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="msgflash-tests", PolicyName="s3-all", PolicyDocument=json.dumps(policy))
        # From now on every request must be signed with a known key pair (moto's switch for IAM auth).
        requests.post(f"{url}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
        yield S3Server(url, key["AccessKeyId"], key["SecretAccessKey"])
