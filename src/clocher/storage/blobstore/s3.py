"""Sealed chunks in an S3 bucket (Ceph RGW, Garage, MinIO, SeaweedFS… hosted locally):
for installations whose content outgrows one disk. Only ciphertext crosses the network,
under the same keys as the local backend (`<commune id>/<digest>`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class S3Store:
    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "default",
        prefix: str = "",
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None:
        """Durable once acknowledged (the server syncs)."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def sync_directories(self, keys: Iterable[str]) -> None:
        """Nothing to do: an acknowledged object is durable."""

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from exc
            raise
        return bytes(answer["Body"].read())

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def etag(self, key: str) -> str | None:
        """The object's ETag without quotes (the MD5 of what a single PUT sent), None if
        absent."""
        head = self._head(key)
        return None if head is None else str(head.get("ETag", "")).strip('"')

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def names(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def modified(self, key: str) -> float:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        return float(head["LastModified"].timestamp())
