"""A real S3 API for the tests: ``moto_server`` on loopback, started and stopped by the tests.

The pipeline reaches it the way maintainers reach AWS: through the standard variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...), which botocore and s3fs read themselves.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-2",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _moto_server() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else shutil.which("moto_server") or "moto_server"


@contextmanager
def moto_server():
    """Yield the endpoint URL of a fresh moto S3 server bound to 127.0.0.1."""
    port = _free_port()
    process = subprocess.Popen([_moto_server(), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_environment(endpoint: str) -> dict:
    """The variables a maintainer would set for a non-AWS endpoint."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})

