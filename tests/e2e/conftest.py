"""Fixtures of the end-to-end tests. Tests that need the rkt binary are skipped, with the reason,
when it is not built; image fixtures are built once per session without rkt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import harness
from harness import images


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """$RKT_BUILD_DIR, else <repo>/build."""
    return harness.find_build_dir()


@pytest.fixture(scope="session")
def rkt_binary(build_dir) -> Path:
    path = build_dir / "bin" / "rkt"
    harness.require(os.access(path, os.X_OK),
                    f"rkt not built: {path} is missing (cmake --build build --target rkt)")
    return path


@pytest.fixture(scope="session")
def inspect_binary(build_dir) -> Path:
    path = build_dir / "tests" / "fixtures" / "inspect"
    harness.require(os.access(path, os.X_OK),
                    f"inspect not built: {path} is missing (cmake --build build --target inspect)")
    return path


@pytest.fixture(scope="session")
def images_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def inspect_image(inspect_binary, images_dir) -> harness.ImageFixture:
    """An OCI layout (tag "latest") holding only /inspect, its entrypoint, with the env
    VAR_FROM_MANIFEST=manifest and PATH."""
    return harness.pack(images.inspect_image(inspect_binary), images_dir / "inspect")


@pytest.fixture(scope="session")
def busybox_image(inspect_binary, images_dir) -> harness.ImageFixture:
    """An OCI layout (tag "latest") of busybox-static with its applets, /etc/passwd (root, user
    1000, nobody), /etc/group and /inspect; runs /bin/sh by default."""
    harness.require(images.find_busybox(), "busybox not found (Debian package busybox-static)")
    rootfs = images.make_busybox_rootfs(images_dir / "busybox-rootfs", inspect_binary)
    return harness.pack(images.busybox_image(rootfs), images_dir / "busybox")


@pytest.fixture
def rkt(rkt_binary, tmp_path) -> harness.Rkt:
    """A runner with its own --dir and config dirs under the test's tmp_path; afterwards it
    stops what is left, runs gc and unmounts anything under tmp_path."""
    runner = harness.Rkt(rkt_binary, tmp_path / "rkt")
    try:
        yield runner
    finally:
        runner.cleanup()

